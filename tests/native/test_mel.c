/* Mel spectrogram: argument checks, frame count, the mixed-radix FFT against a
 * direct DFT (for sizes with factors 2, 3, 5 and a large prime), centred zero
 * padding, the filterbank's shape, and two threads sharing one transform.
 * (tests/diarization/test_mel.py compares the whole front end with librosa.) */
#include "mel.h"

#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* resemblyzer's front end: 16 kHz, 25 ms frames, 10 ms hop, 40 mels. */
static const lumen_mel_config ENCODER = {16000, 400, 160, 40, 0.0, 0.0};

/* A transform and a copy of its filterbank (the caller frees both). */
static lumen_mel *new_with_filters(const lumen_mel_config *c, float **filters)
{
    lumen_mel *mel = NULL;
    CHECK_EQ(lumen_mel_new(c, &mel), LUMEN_MEL_OK);
    *filters = malloc((size_t)c->n_mels * lumen_mel_bins(mel) * sizeof **filters);
    lumen_mel_filters(mel, *filters);
    return mel;
}

static void fill_noise(float *x, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((double)(check_rand(&state) >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

/* Power mel of frame t by the definition: zero-padded centred frame, periodic
 * Hann window, direct DFT, the transform's own filterbank. */
static void reference_frame(const lumen_mel_config *c, const float *filters, const float *x, size_t n,
                            size_t t, double *out)
{
    const size_t bins = (size_t)c->n_fft / 2 + 1;
    double *power = malloc(bins * sizeof *power);
    for (size_t k = 0; k < bins; k++) {
        double re = 0.0, im = 0.0;
        for (int i = 0; i < c->n_fft; i++) {
            const long s = (long)(t * (size_t)c->hop) - c->n_fft / 2 + i;
            const double v = (s >= 0 && (size_t)s < n) ? x[s] * (0.5 - 0.5 * cos(2.0 * M_PI * i / c->n_fft)) : 0.0;
            re += v * cos(2.0 * M_PI * (double)k * i / c->n_fft);
            im -= v * sin(2.0 * M_PI * (double)k * i / c->n_fft);
        }
        power[k] = re * re + im * im;
    }
    for (int m = 0; m < c->n_mels; m++) {
        out[m] = 0.0;
        for (size_t k = 0; k < bins; k++)
            out[m] += filters[(size_t)m * bins + k] * power[k];
    }
    free(power);
}

static void test_rejects_bad_configs(void)
{
    const lumen_mel_config bad[] = {
        {16000, 401, 160, 40, 0.0, 0.0},    /* odd n_fft */
        {16000, 0, 160, 40, 0.0, 0.0},      /* no frame */
        {16000, 400, 0, 40, 0.0, 0.0},      /* no hop */
        {16000, 400, 160, 0, 0.0, 0.0},     /* no band */
        {16000, 400, 160, 40, 0.0, 8001.0}, /* above Nyquist */
        {16000, 400, 160, 40, 8000.0, 0.0}, /* fmin at fmax */
        {0, 400, 160, 40, 0.0, 0.0},        /* no sample rate */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lumen_mel *mel = (lumen_mel *)1;
        CHECK_EQ(lumen_mel_new(&bad[i], &mel), LUMEN_MEL_EINVAL);
        CHECK(mel == NULL);
    }
    lumen_mel *mel;
    CHECK_EQ(lumen_mel_new(NULL, &mel), LUMEN_MEL_EINVAL);
    CHECK_EQ(lumen_mel_new(&ENCODER, NULL), LUMEN_MEL_EINVAL);
    CHECK_EQ(lumen_mel_compute(NULL, NULL, 0, NULL), LUMEN_MEL_EINVAL);
    lumen_mel_free(NULL);
}

static void test_frame_count(void)
{
    lumen_mel *mel;
    CHECK_EQ(lumen_mel_new(&ENCODER, &mel), LUMEN_MEL_OK);
    CHECK_EQ(lumen_mel_frames(mel, 0), 0);
    CHECK_EQ(lumen_mel_frames(mel, 1), 1);
    CHECK_EQ(lumen_mel_frames(mel, 159), 1);
    CHECK_EQ(lumen_mel_frames(mel, 160), 2);
    CHECK_EQ(lumen_mel_frames(mel, 16000), 101);
    CHECK_EQ(lumen_mel_bins(mel), 201);
    CHECK_EQ(lumen_mel_compute(mel, NULL, 0, NULL), LUMEN_MEL_OK);
    lumen_mel_free(mel);
}

/* 400 = 2^4 5^2 (the encoder's), 398 = 2 * 199 (prime half), 96 = 2^5 3,
 * 2 (one-point half), 30 = 2 * 3 * 5; short and long inputs. */
static void test_matches_direct_dft(void)
{
    const lumen_mel_config configs[] = {
        {16000, 400, 160, 40, 0.0, 0.0},
        {16000, 398, 100, 30, 50.0, 7000.0},
        {8000, 96, 48, 12, 0.0, 0.0},
        {16000, 2, 1, 1, 0.0, 0.0},
        {16000, 30, 7, 5, 100.0, 0.0},
    };
    const size_t lengths[] = {1, 77, 401, 3000};
    for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
        const lumen_mel_config *c = &configs[ci];
        float *filters;
        lumen_mel *mel = new_with_filters(c, &filters);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const size_t n = lengths[li], frames = lumen_mel_frames(mel, n);
            float *x = malloc(n * sizeof *x);
            float *out = malloc(frames * (size_t)c->n_mels * sizeof *out);
            double *ref = malloc((size_t)c->n_mels * sizeof *ref);
            fill_noise(x, n, 1 + ci * 10 + li);
            CHECK_EQ(lumen_mel_compute(mel, x, n, out), LUMEN_MEL_OK);
            double worst = 0.0;
            for (size_t t = 0; t < frames; t += frames > 40 ? 7 : 1) {
                reference_frame(c, filters, x, n, t, ref);
                for (int m = 0; m < c->n_mels; m++) {
                    const double err = fabs(out[t * (size_t)c->n_mels + (size_t)m] - ref[m]) / (fabs(ref[m]) + 1e-6);
                    worst = err > worst ? err : worst;
                }
            }
            CHECK(worst < 1e-5);
            if (worst >= 1e-5)
                fprintf(stderr, "    n_fft %d, %zu samples: relative error %g\n", c->n_fft, n, worst);
            free(x);
            free(out);
            free(ref);
        }
        free(filters);
        lumen_mel_free(mel);
    }
}

/* Slaney bands: non-negative triangles with rising centres, each peaking at
 * 2 / (upper edge - lower edge) in 1/Hz, so wide bands have unit area. */
static void test_filterbank_shape(void)
{
    const lumen_mel_config c = ENCODER;
    float *w;
    lumen_mel *mel = new_with_filters(&c, &w);
    const size_t bins = lumen_mel_bins(mel);
    size_t previous_peak = 0;
    for (int m = 0; m < c.n_mels; m++) {
        const float *row = w + (size_t)m * bins;
        size_t peak = 0;
        double area = 0.0;
        int negative = 0;
        for (size_t k = 0; k < bins; k++) {
            negative |= row[k] < 0.0f;
            peak = row[k] > row[peak] ? k : peak;
            area += row[k] * (double)c.sample_rate / c.n_fft;
        }
        CHECK(!negative);
        CHECK(m == 0 || peak >= previous_peak);
        if (m >= 20) /* bands many bins wide: the sum approximates the unit area */
            CHECK_NEAR(area, 1.0, 0.05);
        previous_peak = peak;
    }
    free(w);
    lumen_mel_free(mel);
}

/* A 1 kHz tone puts its energy in the band centred nearest 1 kHz. */
static void test_tone_lands_in_its_band(void)
{
    float *w;
    lumen_mel *mel = new_with_filters(&ENCODER, &w);
    const size_t n = 16000, bins = lumen_mel_bins(mel);
    float *x = malloc(n * sizeof *x), *out = malloc(lumen_mel_frames(mel, n) * 40 * sizeof *out);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)sin(2.0 * M_PI * 1000.0 * i / 16000.0);
    CHECK_EQ(lumen_mel_compute(mel, x, n, out), LUMEN_MEL_OK);
    const float *row = out + 50 * 40; /* a frame in the middle */
    int loudest = 0, expected = 0;
    for (int m = 0; m < 40; m++) {
        loudest = row[m] > row[loudest] ? m : loudest;
        expected = w[(size_t)m * bins + 25] > w[(size_t)expected * bins + 25] ? m : expected; /* bin 25 = 1 kHz */
    }
    CHECK_EQ(loudest, expected);
    free(x);
    free(out);
    free(w);
    lumen_mel_free(mel);
}

typedef struct {
    const lumen_mel *mel;
    const float *x;
    size_t n;
    float *out;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 20 && j->rc == LUMEN_MEL_OK; i++)
        j->rc = lumen_mel_compute(j->mel, j->x, j->n, j->out);
    return NULL;
}

static void test_threads_share_a_transform(void)
{
    lumen_mel *mel;
    CHECK_EQ(lumen_mel_new(&ENCODER, &mel), LUMEN_MEL_OK);
    const size_t n = 24000, size = lumen_mel_frames(mel, n) * 40;
    float *x = malloc(n * sizeof *x);
    fill_noise(x, n, 7);
    job jobs[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (job){mel, x, n, malloc(size * sizeof(float)), LUMEN_MEL_OK};
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    CHECK_EQ(jobs[0].rc, LUMEN_MEL_OK);
    CHECK_EQ(jobs[1].rc, LUMEN_MEL_OK);
    CHECK(memcmp(jobs[0].out, jobs[1].out, size * sizeof(float)) == 0);
    for (int i = 0; i < 2; i++)
        free(jobs[i].out);
    free(x);
    lumen_mel_free(mel);
}

int main(void)
{
    test_rejects_bad_configs();
    test_frame_count();
    test_matches_direct_dft();
    test_filterbank_shape();
    test_tone_lands_in_its_band();
    test_threads_share_a_transform();
    return check_report("mel");
}
