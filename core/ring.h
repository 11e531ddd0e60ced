/* Ring buffer of float32 audio samples.
 *
 * Fixed capacity.  Thread-safety: one producer thread may call
 * lumen_ring_write while one consumer thread calls lumen_ring_peek /
 * lumen_ring_advance; positions are C11 atomics.  With the DROP_OLDEST policy
 * the producer may also move the read position forward; a peek that raced
 * with such a drop is detected and retried, so it never returns overwritten
 * samples.  Counters are absolute (samples since creation), which callers
 * use as timestamps.
 */
#ifndef LUMEN_RING_H
#define LUMEN_RING_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LUMEN_RING_ERROR = 0,       /* a write that does not fit fails whole */
    LUMEN_RING_DROP_OLDEST = 1  /* a write that does not fit discards the oldest samples */
};

enum {
    LUMEN_RING_OK = 0,
    LUMEN_RING_EOVERFLOW = -1,  /* ERROR policy: not enough free space, nothing written */
    LUMEN_RING_EINVAL = -2,
    LUMEN_RING_ENOMEM = -3
};

typedef struct {
    float *data;
    size_t capacity;
    int policy;
    _Atomic uint64_t written;   /* samples ever written (write position) */
    _Atomic uint64_t consumed;  /* samples ever consumed or dropped (read position) */
    _Atomic uint64_t dropped;   /* samples discarded by DROP_OLDEST */
} lumen_ring;

int lumen_ring_init(lumen_ring *ring, size_t capacity, int policy);
void lumen_ring_free(lumen_ring *ring);

/* Samples available to read. */
size_t lumen_ring_available(lumen_ring *ring);

/* Appends n samples.  ERROR policy: LUMEN_RING_EOVERFLOW if they do not fit.
 * DROP_OLDEST: n larger than the capacity keeps only the newest samples. */
int lumen_ring_write(lumen_ring *ring, const float *samples, size_t n);

/* Copies up to n of the oldest available samples into out without consuming
 * them; returns how many were copied. */
size_t lumen_ring_peek(lumen_ring *ring, float *out, size_t n);

/* Consumes up to n samples; returns how many were consumed. */
size_t lumen_ring_advance(lumen_ring *ring, size_t n);

/* Absolute counters: samples ever written, consumed (or dropped), dropped. */
static inline uint64_t lumen_ring_written_count(lumen_ring *ring)
{
    return atomic_load_explicit(&ring->written, memory_order_acquire);
}

static inline uint64_t lumen_ring_consumed_count(lumen_ring *ring)
{
    return atomic_load_explicit(&ring->consumed, memory_order_acquire);
}

static inline uint64_t lumen_ring_dropped_count(lumen_ring *ring)
{
    return atomic_load_explicit(&ring->dropped, memory_order_relaxed);
}

#ifdef __cplusplus
}
#endif

#endif
