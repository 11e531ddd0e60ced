#include "ring.h"

#include <stdlib.h>
#include <string.h>

int lumen_ring_init(lumen_ring *ring, size_t capacity, int policy)
{
    if (ring == NULL || capacity == 0 || capacity > ((size_t)1 << 40) ||
        (policy != LUMEN_RING_ERROR && policy != LUMEN_RING_DROP_OLDEST))
        return LUMEN_RING_EINVAL;
    ring->data = malloc(capacity * sizeof(float));
    if (ring->data == NULL)
        return LUMEN_RING_ENOMEM;
    ring->capacity = capacity;
    ring->policy = policy;
    atomic_init(&ring->written, 0);
    atomic_init(&ring->consumed, 0);
    atomic_init(&ring->dropped, 0);
    return LUMEN_RING_OK;
}

void lumen_ring_free(lumen_ring *ring)
{
    if (ring != NULL) {
        free(ring->data);
        ring->data = NULL;
        ring->capacity = 0;
    }
}

size_t lumen_ring_available(lumen_ring *ring)
{
    uint64_t w = atomic_load_explicit(&ring->written, memory_order_acquire);
    uint64_t c = atomic_load_explicit(&ring->consumed, memory_order_acquire);
    return (size_t)(w - c);
}

/* Copies n samples starting at absolute position pos into the ring. */
static void copy_in(lumen_ring *ring, uint64_t pos, const float *src, size_t n)
{
    size_t at = (size_t)(pos % ring->capacity);
    size_t first = ring->capacity - at < n ? ring->capacity - at : n;
    memcpy(ring->data + at, src, first * sizeof(float));
    memcpy(ring->data, src + first, (n - first) * sizeof(float));
}

static void copy_out(const lumen_ring *ring, uint64_t pos, float *dst, size_t n)
{
    size_t at = (size_t)(pos % ring->capacity);
    size_t first = ring->capacity - at < n ? ring->capacity - at : n;
    memcpy(dst, ring->data + at, first * sizeof(float));
    memcpy(dst + first, ring->data, (n - first) * sizeof(float));
}

/* Writes n <= capacity samples. */
static int write_some(lumen_ring *ring, const float *samples, size_t n)
{
    uint64_t w = atomic_load_explicit(&ring->written, memory_order_relaxed);
    uint64_t c = atomic_load_explicit(&ring->consumed, memory_order_acquire);
    if (n > ring->capacity - (size_t)(w - c)) {
        if (ring->policy == LUMEN_RING_ERROR)
            return LUMEN_RING_EOVERFLOW;
        /* Drop the oldest samples: the slots about to be overwritten all lie
         * before the new read position, so a concurrent peek never sees them. */
        uint64_t target = w + n - ring->capacity;
        while (c < target) {
            if (atomic_compare_exchange_weak_explicit(&ring->consumed, &c, target,
                                                      memory_order_acq_rel, memory_order_acquire)) {
                atomic_fetch_add_explicit(&ring->dropped, target - c, memory_order_relaxed);
                /* Publish the new read position before overwriting the slots
                 * (pairs with the fence in lumen_ring_peek). */
                atomic_thread_fence(memory_order_release);
                break;
            }
        }
    }
    copy_in(ring, w, samples, n);
    atomic_store_explicit(&ring->written, w + n, memory_order_release);
    return LUMEN_RING_OK;
}

int lumen_ring_write(lumen_ring *ring, const float *samples, size_t n)
{
    if (n == 0)
        return LUMEN_RING_OK;
    if (samples == NULL)
        return LUMEN_RING_EINVAL;
    if (n > ring->capacity && ring->policy == LUMEN_RING_ERROR)
        return LUMEN_RING_EOVERFLOW;
    /* DROP_OLDEST with more than the capacity: write in slices, each of which
     * drops what came before it, so counters stay exact. */
    while (n > 0) {
        size_t piece = n < ring->capacity ? n : ring->capacity;
        int rc = write_some(ring, samples, piece);
        if (rc != LUMEN_RING_OK)
            return rc;
        samples += piece;
        n -= piece;
    }
    return LUMEN_RING_OK;
}

size_t lumen_ring_peek(lumen_ring *ring, float *out, size_t n)
{
    for (;;) {
        uint64_t c = atomic_load_explicit(&ring->consumed, memory_order_acquire);
        uint64_t w = atomic_load_explicit(&ring->written, memory_order_acquire);
        size_t count = (size_t)(w - c) < n ? (size_t)(w - c) : n;
        copy_out(ring, c, out, count);
        /* A DROP_OLDEST writer may have overwritten what we copied: retry.
         * The fence keeps the copy's loads before the re-check (seqlock
         * reader); an acquire load alone would let them sink below it. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&ring->consumed, memory_order_relaxed) == c)
            return count;
    }
}

size_t lumen_ring_advance(lumen_ring *ring, size_t n)
{
    uint64_t c = atomic_load_explicit(&ring->consumed, memory_order_acquire);
    for (;;) {
        uint64_t w = atomic_load_explicit(&ring->written, memory_order_acquire);
        size_t count = (size_t)(w - c) < n ? (size_t)(w - c) : n;
        if (atomic_compare_exchange_weak_explicit(&ring->consumed, &c, c + count,
                                                  memory_order_acq_rel, memory_order_acquire))
            return count;
    }
}
