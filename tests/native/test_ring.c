/* Ring buffer: both overflow policies, exact counters, wraparound, and one
 * producer thread against one consumer thread. */
#include "ring.h"

#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* Fills dst with the absolute indices start, start + 1, ... as floats. */
static void ramp(float *dst, size_t n, uint64_t start)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(start + i);
}

/* True when src holds the absolute indices start, start + 1, ... */
static int is_ramp(const float *src, size_t n, uint64_t start)
{
    for (size_t i = 0; i < n; i++)
        if (src[i] != (float)(start + i))
            return 0;
    return 1;
}

static void test_init_rejects_bad_arguments(void)
{
    lumen_ring ring;
    CHECK_EQ(lumen_ring_init(&ring, 0, LUMEN_RING_ERROR), LUMEN_RING_EINVAL);
    CHECK_EQ(lumen_ring_init(&ring, 8, 7), LUMEN_RING_EINVAL);
    CHECK_EQ(lumen_ring_init(NULL, 8, LUMEN_RING_ERROR), LUMEN_RING_EINVAL);
    CHECK_EQ(lumen_ring_init(&ring, (size_t)1 << 41, LUMEN_RING_ERROR), LUMEN_RING_EINVAL);
}

static void test_error_policy(void)
{
    lumen_ring ring;
    float in[16], out[16];
    CHECK_EQ(lumen_ring_init(&ring, 8, LUMEN_RING_ERROR), LUMEN_RING_OK);
    ramp(in, 16, 0);
    CHECK_EQ(lumen_ring_write(&ring, in, 5), LUMEN_RING_OK);
    /* 4 more do not fit in the 3 free slots: refused whole, nothing written. */
    CHECK_EQ(lumen_ring_write(&ring, in + 5, 4), LUMEN_RING_EOVERFLOW);
    CHECK_EQ(lumen_ring_available(&ring), 5);
    CHECK_EQ(lumen_ring_written_count(&ring), 5);
    CHECK_EQ(lumen_ring_write(&ring, in + 5, 3), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_available(&ring), 8);
    /* More than the capacity is refused even when the ring is empty. */
    lumen_ring_advance(&ring, 8);
    CHECK_EQ(lumen_ring_write(&ring, in, 9), LUMEN_RING_EOVERFLOW);
    CHECK_EQ(lumen_ring_write(&ring, in, 0), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_write(&ring, NULL, 3), LUMEN_RING_EINVAL);
    CHECK_EQ(lumen_ring_dropped_count(&ring), 0);
    CHECK_EQ(lumen_ring_consumed_count(&ring), 8);
    CHECK_EQ(lumen_ring_peek(&ring, out, 16), 0);
    lumen_ring_free(&ring);
}

static void test_peek_and_advance(void)
{
    lumen_ring ring;
    float in[10], out[10];
    CHECK_EQ(lumen_ring_init(&ring, 10, LUMEN_RING_ERROR), LUMEN_RING_OK);
    ramp(in, 10, 0);
    lumen_ring_write(&ring, in, 6);
    /* peek does not consume; asking for more than available returns what is there. */
    CHECK_EQ(lumen_ring_peek(&ring, out, 4), 4);
    CHECK(is_ramp(out, 4, 0));
    CHECK_EQ(lumen_ring_peek(&ring, out, 10), 6);
    CHECK(is_ramp(out, 6, 0));
    CHECK_EQ(lumen_ring_available(&ring), 6);
    /* Overlapping windows: read 4, advance 2. */
    CHECK_EQ(lumen_ring_advance(&ring, 2), 2);
    CHECK_EQ(lumen_ring_peek(&ring, out, 4), 4);
    CHECK(is_ramp(out, 4, 2));
    CHECK_EQ(lumen_ring_consumed_count(&ring), 2);
    /* Advancing past the end consumes only what is available. */
    CHECK_EQ(lumen_ring_advance(&ring, 100), 4);
    CHECK_EQ(lumen_ring_available(&ring), 0);
    CHECK_EQ(lumen_ring_consumed_count(&ring), 6);
    CHECK_EQ(lumen_ring_advance(&ring, 1), 0);
    lumen_ring_free(&ring);
}

static void test_wraparound(void)
{
    /* A prime capacity and varying sizes put the wrap point everywhere. */
    lumen_ring ring;
    float in[13], out[13];
    uint64_t rng = 42, next_in = 0, next_out = 0;
    CHECK_EQ(lumen_ring_init(&ring, 13, LUMEN_RING_ERROR), LUMEN_RING_OK);
    int bad = 0;
    for (int round = 0; round < 20000; round++) {
        size_t room = 13 - lumen_ring_available(&ring);
        size_t n = check_rand_range(&rng, 0, room);
        ramp(in, n, next_in);
        bad += lumen_ring_write(&ring, in, n) != LUMEN_RING_OK;
        next_in += n;
        size_t want = check_rand_range(&rng, 0, 13);
        size_t got = lumen_ring_peek(&ring, out, want);
        bad += !is_ramp(out, got, next_out);
        size_t step = check_rand_range(&rng, 0, got);
        bad += lumen_ring_advance(&ring, step) != step;
        next_out += step;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(lumen_ring_written_count(&ring), next_in);
    CHECK_EQ(lumen_ring_consumed_count(&ring), next_out);
    CHECK_EQ(lumen_ring_available(&ring), next_in - next_out);
    lumen_ring_free(&ring);
}

static void test_drop_oldest(void)
{
    lumen_ring ring;
    float in[32], out[32];
    CHECK_EQ(lumen_ring_init(&ring, 8, LUMEN_RING_DROP_OLDEST), LUMEN_RING_OK);
    ramp(in, 32, 0);
    CHECK_EQ(lumen_ring_write(&ring, in, 6), LUMEN_RING_OK);
    /* 5 more into 2 free slots: the 3 oldest go. */
    CHECK_EQ(lumen_ring_write(&ring, in + 6, 5), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_dropped_count(&ring), 3);
    CHECK_EQ(lumen_ring_consumed_count(&ring), 3);
    CHECK_EQ(lumen_ring_available(&ring), 8);
    CHECK_EQ(lumen_ring_peek(&ring, out, 8), 8);
    CHECK(is_ramp(out, 8, 3));
    /* A write larger than the capacity keeps only its newest samples, and
     * the counters say exactly how many were lost: 8 queued + 13 of the 21. */
    CHECK_EQ(lumen_ring_write(&ring, in + 11, 21), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_written_count(&ring), 32);
    CHECK_EQ(lumen_ring_consumed_count(&ring), 24);
    CHECK_EQ(lumen_ring_dropped_count(&ring), 24);
    CHECK_EQ(lumen_ring_peek(&ring, out, 8), 8);
    CHECK(is_ramp(out, 8, 24));
    /* Consumed samples are not dropped ones. */
    CHECK_EQ(lumen_ring_advance(&ring, 5), 5);
    CHECK_EQ(lumen_ring_write(&ring, in, 5), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_dropped_count(&ring), 24);
    CHECK_EQ(lumen_ring_write(&ring, in, 1), LUMEN_RING_OK);
    CHECK_EQ(lumen_ring_dropped_count(&ring), 25);
    CHECK_EQ(lumen_ring_written_count(&ring) - lumen_ring_consumed_count(&ring), 8);
    lumen_ring_free(&ring);
}

/* Two threads: the producer writes the ramp 0, 1, 2, ... in random slices;
 * the consumer peeks random windows, checks every one is an unbroken ramp
 * (never a torn or overwritten slot), and advances. */
enum { TOTAL = 4000000, CAPACITY = 4093 };

struct shared {
    lumen_ring ring;
    int policy;
    int producer_failures;
};

static void *producer(void *arg)
{
    struct shared *s = arg;
    float chunk[700];
    uint64_t rng = 7, next = 0;
    while (next < TOTAL) {
        size_t n = check_rand_range(&rng, 1, 700);
        if (n > TOTAL - next)
            n = (size_t)(TOTAL - next);
        ramp(chunk, n, next);
        int rc;
        while ((rc = lumen_ring_write(&s->ring, chunk, n)) == LUMEN_RING_EOVERFLOW)
            sched_yield();
        s->producer_failures += rc != LUMEN_RING_OK;
        next += n;
    }
    return NULL;
}

static void run_threads(int policy)
{
    struct shared s = {.policy = policy};
    CHECK_EQ(lumen_ring_init(&s.ring, CAPACITY, policy), LUMEN_RING_OK);
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, producer, &s), 0);
    float *window = malloc(sizeof(float) * CAPACITY);
    uint64_t rng = 11, last = 0;
    size_t torn = 0, backwards = 0, seen = 0;
    int first = 1;
    for (;;) {
        size_t want = check_rand_range(&rng, 1, CAPACITY);
        size_t got = lumen_ring_peek(&s.ring, window, want);
        if (got == 0) {
            if (lumen_ring_written_count(&s.ring) == TOTAL && lumen_ring_available(&s.ring) == 0)
                break;
            sched_yield();
            continue;
        }
        uint64_t start = (uint64_t)window[0];
        torn += !is_ramp(window, got, start);
        /* Windows never go back in time; with the error policy nothing is skipped. */
        backwards += !first && start < last;
        if (policy == LUMEN_RING_ERROR && !first && start != last)
            torn++;
        first = 0;
        size_t step = check_rand_range(&rng, 1, got);
        seen += lumen_ring_advance(&s.ring, step);
        last = start + step;
    }
    pthread_join(thread, NULL);
    free(window);
    CHECK_EQ(s.producer_failures, 0);
    CHECK_EQ(torn, 0);
    CHECK_EQ(backwards, 0);
    CHECK_EQ(lumen_ring_written_count(&s.ring), TOTAL);
    CHECK_EQ(lumen_ring_consumed_count(&s.ring), TOTAL);
    /* Every sample was either consumed by the reader or counted as dropped. */
    CHECK_EQ(seen + lumen_ring_dropped_count(&s.ring), TOTAL);
    if (policy == LUMEN_RING_ERROR)
        CHECK_EQ(lumen_ring_dropped_count(&s.ring), 0);
    lumen_ring_free(&s.ring);
}

int main(void)
{
    test_init_rejects_bad_arguments();
    test_error_policy();
    test_peek_and_advance();
    test_wraparound();
    test_drop_oldest();
    run_threads(LUMEN_RING_ERROR);
    run_threads(LUMEN_RING_DROP_OLDEST);
    return check_report("ring");
}
