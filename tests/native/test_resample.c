/* Streaming resampler: chunked output equals one-shot output bit for bit,
 * output length is ceil(N * out / in), unit DC gain, and the delay is
 * compensated (a sine comes out at the right phase). */
#include "resample.h"

#include "check.h"

#include <stdlib.h>

#define PI 3.14159265358979323846

static const int RATES_TO_16K[] = {48000, 44100, 8000, 22050, 96000, 44056, 8001};

static uint64_t expected_length(size_t n, int in_rate, int out_rate)
{
    return ((uint64_t)n * (uint64_t)out_rate + (uint64_t)in_rate - 1) / (uint64_t)in_rate;
}

/* Runs `in` through r in chunks of `chunk` samples (0: random sizes), each
 * output buffer sized exactly by max_output so ASan catches an overrun.
 * Returns a malloc'd array and its length in *n_out. */
static float *run(lumen_resampler *r, const float *in, size_t n, size_t chunk, uint64_t seed, size_t *n_out)
{
    size_t cap = (size_t)expected_length(n, 1, 1) * 16 + 64, len = 0;
    float *all = malloc(sizeof(float) * cap);
    size_t pos = 0;
    lumen_resampler_reset(r);
    while (pos < n) {
        size_t piece = chunk ? chunk : check_rand_range(&seed, 1, 3000);
        if (piece > n - pos)
            piece = n - pos;
        size_t room = lumen_resampler_max_output(r, piece), made = 0;
        float *out = malloc(sizeof(float) * room);
        CHECK_EQ(lumen_resampler_process(r, in + pos, piece, out, &made), LUMEN_RESAMPLE_OK);
        CHECK(made <= room);
        CHECK(len + made <= cap);
        memcpy(all + len, out, sizeof(float) * made);
        len += made;
        free(out);
        pos += piece;
    }
    size_t room = lumen_resampler_max_output(r, 0), made = 0;
    float *out = malloc(sizeof(float) * room);
    CHECK_EQ(lumen_resampler_flush(r, out, &made), LUMEN_RESAMPLE_OK);
    CHECK(made <= room);
    memcpy(all + len, out, sizeof(float) * made);
    free(out);
    *n_out = len + made;
    return all;
}

static float *test_signal(size_t n, int rate, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        double noise = (double)(check_rand(&seed) >> 11) / 9007199254740992.0 - 0.5;
        x[i] = (float)(0.5 * sin(2 * PI * 440.0 * (double)i / rate) + 0.3 * noise);
    }
    return x;
}

static void check_chunking_is_exact(int in_rate, int out_rate)
{
    const size_t n = 12000;
    lumen_resampler *r;
    CHECK_EQ(lumen_resampler_new(in_rate, out_rate, &r), LUMEN_RESAMPLE_OK);
    float *x = test_signal(n, in_rate, (uint64_t)in_rate * 31 + (uint64_t)out_rate);
    size_t ref_len;
    float *ref = run(r, x, n, n, 0, &ref_len);
    CHECK_EQ(ref_len, expected_length(n, in_rate, out_rate));
    static const size_t chunks[] = {1, 2, 17, 160, 509, 4099, 0, 0};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        size_t len;
        float *y = run(r, x, n, chunks[c], 1000 + c, &len);
        if (!CHECK(len == ref_len && memcmp(y, ref, sizeof(float) * len) == 0))
            fprintf(stderr, "    %d -> %d Hz, chunk %zu: %zu vs %zu samples\n", in_rate, out_rate,
                    chunks[c], len, ref_len);
        free(y);
    }
    free(ref);
    free(x);
    lumen_resampler_free(r);
}

static void check_lengths(int in_rate, int out_rate)
{
    lumen_resampler *r;
    CHECK_EQ(lumen_resampler_new(in_rate, out_rate, &r), LUMEN_RESAMPLE_OK);
    float *x = test_signal(5000, in_rate, 5);
    int bad = 0;
    for (size_t n = 0; n <= 5000; n += n < 300 ? 1 : 997) {
        size_t len;
        float *y = run(r, x, n, n ? n : 1, 0, &len);
        bad += len != expected_length(n, in_rate, out_rate);
        free(y);
    }
    if (!CHECK(bad == 0))
        fprintf(stderr, "    %d -> %d Hz: %d wrong lengths\n", in_rate, out_rate, bad);
    free(x);
    lumen_resampler_free(r);
}

/* Constant input comes out constant (each polyphase row sums to one), and a
 * 1 kHz sine comes out as the same sine sampled at n / out_rate: no delay. */
static void check_gain_and_phase(int in_rate, int out_rate)
{
    const size_t n = (size_t)in_rate / 2;
    lumen_resampler *r;
    CHECK_EQ(lumen_resampler_new(in_rate, out_rate, &r), LUMEN_RESAMPLE_OK);
    /* Outputs this close to either end see the stream's edges. */
    size_t edge = (size_t)expected_length((size_t)lumen_resampler_taps(r), in_rate, out_rate) + 2;
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.25f;
    size_t len;
    float *y = run(r, x, n, 4096, 0, &len);
    double dc_error = 0.0, phase_error = 0.0;
    for (size_t i = edge; i + edge < len; i++)
        dc_error = fmax(dc_error, fabs(y[i] - 0.25));
    free(y);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * PI * 1000.0 * (double)i / in_rate));
    y = run(r, x, n, 4096, 0, &len);
    for (size_t i = edge; i + edge < len; i++)
        phase_error = fmax(phase_error, fabs(y[i] - 0.5 * sin(2 * PI * 1000.0 * (double)i / out_rate)));
    free(y);
    if (!CHECK(dc_error < 2e-6 && phase_error < 2e-4))
        fprintf(stderr, "    %d -> %d Hz: DC error %.3g, sine error %.3g\n", in_rate, out_rate, dc_error,
                phase_error);
    free(x);
    lumen_resampler_free(r);
}

static void test_invalid_arguments(void)
{
    lumen_resampler *r = (lumen_resampler *)&r;
    CHECK_EQ(lumen_resampler_new(0, 16000, &r), LUMEN_RESAMPLE_EINVAL);
    CHECK(r == NULL);
    CHECK_EQ(lumen_resampler_new(16000, -1, &r), LUMEN_RESAMPLE_EINVAL);
    CHECK_EQ(lumen_resampler_new(1000001, 16000, &r), LUMEN_RESAMPLE_EINVAL);
    CHECK_EQ(lumen_resampler_new(16000, 8000, NULL), LUMEN_RESAMPLE_EINVAL);
    CHECK_EQ(lumen_resampler_new(48000, 16000, &r), LUMEN_RESAMPLE_OK);
    size_t made = 99;
    float out[4];
    CHECK_EQ(lumen_resampler_process(r, NULL, 4, out, &made), LUMEN_RESAMPLE_EINVAL);
    CHECK_EQ(lumen_resampler_process(r, NULL, 0, NULL, &made), LUMEN_RESAMPLE_OK);
    CHECK_EQ(made, 0);
    CHECK_EQ(lumen_resampler_flush(NULL, out, &made), LUMEN_RESAMPLE_EINVAL);
    lumen_resampler_free(r);
    lumen_resampler_free(NULL);
}

int main(void)
{
    test_invalid_arguments();
    for (size_t i = 0; i < sizeof RATES_TO_16K / sizeof RATES_TO_16K[0]; i++) {
        check_chunking_is_exact(RATES_TO_16K[i], 16000);
        check_lengths(RATES_TO_16K[i], 16000);
        check_gain_and_phase(RATES_TO_16K[i], 16000);
    }
    /* Upsampling, and a same-family pair with a tiny L/M. */
    check_chunking_is_exact(16000, 48000);
    check_chunking_is_exact(16000, 44100);
    check_chunking_is_exact(8000, 8001);
    check_lengths(16000, 44100);
    check_gain_and_phase(16000, 48000);
    check_gain_and_phase(8000, 44100);
    return check_report("resample");
}
