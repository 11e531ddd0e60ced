/* A tiny assertion helper for the native unit tests.
 *
 * CHECK* macros record a failure with its location and go on, so one run
 * reports every broken expectation; a test program ends with
 * `return check_report("name");`, which prints "name: N checks, M failed"
 * and makes the exit status non-zero when anything failed (ctest's verdict).
 * Header-only: each test is one translation unit.
 */
#ifndef LUMEN_CHECK_H
#define LUMEN_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_count;
static int check_failures;

static inline int check_record(int ok, const char *file, int line, const char *what)
{
    check_count++;
    if (!ok) {
        check_failures++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    }
    return ok;
}

#define CHECK(cond) check_record((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b)                                                                      \
    do {                                                                                    \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                     \
        if (!check_record(check_a_ == check_b_, __FILE__, __LINE__, #a " == " #b))          \
            fprintf(stderr, "    %lld != %lld\n", check_a_, check_b_);                      \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double check_a_ = (double)(a), check_b_ = (double)(b);                              \
        if (!check_record(fabs(check_a_ - check_b_) <= (tol), __FILE__, __LINE__,           \
                          "|" #a " - " #b "| <= " #tol))                                    \
            fprintf(stderr, "    %.9g vs %.9g\n", check_a_, check_b_);                      \
    } while (0)

#define CHECK_STR(a, b)                                                                     \
    do {                                                                                    \
        const char *check_a_ = (a), *check_b_ = (b);                                        \
        if (!check_record(strcmp(check_a_, check_b_) == 0, __FILE__, __LINE__, #a " == " #b)) \
            fprintf(stderr, "    \"%s\"\n != \"%s\"\n", check_a_, check_b_);                \
    } while (0)

static inline int check_report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

/* Deterministic xorshift64* generator, so failures reproduce. */
static inline uint64_t check_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform integer in [lo, hi]. */
static inline size_t check_rand_range(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(check_rand(state) % (uint64_t)(hi - lo + 1));
}

#endif
