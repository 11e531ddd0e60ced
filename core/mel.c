/* Power mel spectrogram: centred framing, Hann window, real FFT, mel filterbank.
 *
 * The FFT is a recursive mixed-radix decimation-in-time transform with one
 * generic butterfly for every prime factor, which is enough for the small
 * sizes used here (the 400-point frame is computed as a 200-point complex
 * FFT, 200 = 2*2*2*5*5, of the even/odd samples packed as re/im, then split
 * into the real spectrum).  Everything is computed in double and rounded to
 * float once at the end, so the result is at least as accurate as librosa's
 * float32 pipeline it mirrors.
 */
#include "mel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define MAX_FACTORS 32

typedef struct {
    double re, im;
} cpx;

struct lumen_mel {
    lumen_mel_config config;
    size_t half;          /* complex FFT length, n_fft / 2 */
    size_t bins;          /* n_fft / 2 + 1 */
    int factors[MAX_FACTORS]; /* prime factors of half, in order of use */
    int n_factors;
    int max_factor;
    cpx *twiddles;        /* exp(-2 pi i k / half), k < half */
    cpx *split;           /* exp(-2 pi i k / n_fft), k <= half: real-FFT split */
    double *window;       /* periodic Hann, n_fft points */
    float *weights;       /* n_mels rows of `bins` weights, float32 like librosa */
    size_t *band_first;   /* first non-zero bin of each band */
    size_t *band_count;   /* non-zero bins of each band */
};

/* --- Slaney mel scale (librosa's default, htk=False) ------------------- */

static const double SLANEY_F_SP = 200.0 / 3.0;    /* Hz per mel below 1 kHz */
static const double SLANEY_MIN_LOG_HZ = 1000.0;
static const double SLANEY_MIN_LOG_MEL = 15.0;    /* 1000 / F_SP */

static double slaney_logstep(void) { return log(6.4) / 27.0; }

static double hz_to_mel(double hz) {
    if (hz >= SLANEY_MIN_LOG_HZ)
        return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / slaney_logstep();
    return hz / SLANEY_F_SP;
}

static double mel_to_hz(double mel) {
    if (mel >= SLANEY_MIN_LOG_MEL)
        return SLANEY_MIN_LOG_HZ * exp(slaney_logstep() * (mel - SLANEY_MIN_LOG_MEL));
    return SLANEY_F_SP * mel;
}

/* Triangles between consecutive band edges, scaled by 2 / (upper - lower)
 * so each band has the same area (librosa norm="slaney"). */
static int build_filters(lumen_mel *m) {
    const lumen_mel_config *c = &m->config;
    const size_t n_edges = (size_t)c->n_mels + 2;
    double fmax = c->fmax > 0.0 ? c->fmax : c->sample_rate / 2.0;
    double *edges = malloc(n_edges * sizeof *edges);
    if (!edges)
        return LUMEN_MEL_ENOMEM;
    double mel_lo = hz_to_mel(c->fmin), mel_hi = hz_to_mel(fmax);
    for (size_t i = 0; i < n_edges; i++) {
        double mel = (i == n_edges - 1) ? mel_hi : mel_lo + (mel_hi - mel_lo) * (double)i / (double)(n_edges - 1);
        edges[i] = mel_to_hz(mel);
    }
    for (int band = 0; band < c->n_mels; band++) {
        double lo = edges[band], centre = edges[band + 1], hi = edges[band + 2];
        double norm = 2.0 / (hi - lo);
        float *row = m->weights + (size_t)band * m->bins;
        size_t first = m->bins, last = 0;
        for (size_t k = 0; k < m->bins; k++) {
            double f = (double)k * c->sample_rate / c->n_fft;
            double rising = (f - lo) / (centre - lo);
            double falling = (hi - f) / (hi - centre);
            double w = rising < falling ? rising : falling;
            row[k] = w > 0.0 ? (float)(w * norm) : 0.0f;
            if (row[k] != 0.0f) {
                if (first == m->bins)
                    first = k;
                last = k;
            }
        }
        m->band_first[band] = first == m->bins ? 0 : first;
        m->band_count[band] = first == m->bins ? 0 : last - first + 1;
    }
    free(edges);
    return LUMEN_MEL_OK;
}

/* --- mixed-radix FFT --------------------------------------------------- */

static void factorize(lumen_mel *m) {
    size_t n = m->half;
    m->n_factors = 0;
    m->max_factor = 1;
    for (size_t p = 2; n > 1; p++) {
        while (n % p == 0 && m->n_factors < MAX_FACTORS) {
            m->factors[m->n_factors++] = (int)p;
            if ((int)p > m->max_factor)
                m->max_factor = (int)p;
            n /= p;
        }
        if (p * p > n && n > 1 && m->n_factors < MAX_FACTORS) {
            m->factors[m->n_factors++] = (int)n;
            if ((int)n > m->max_factor)
                m->max_factor = (int)n;
            n = 1;
        }
    }
}

/* DFT of `len` points of `in` (read with stride `in_stride`) into out[0..len).
 * len = p * sub: each of the p interleaved subsequences x[q + p j] is
 * transformed into out[q*sub ..], then combined:
 *   X[u + r sub] = sum_q W_len^{q (u + r sub)} Y_q[u],
 * with W_len^e = twiddles[e * step mod half], step = half / len. */
static void fft_rec(const lumen_mel *m, cpx *out, const cpx *in, size_t len, size_t in_stride,
                    size_t step, const int *factors, cpx *scratch) {
    const size_t p = (size_t)factors[0];
    const size_t sub = len / p;
    if (sub == 1) {
        for (size_t q = 0; q < p; q++)
            out[q] = in[q * in_stride];
    } else {
        for (size_t q = 0; q < p; q++)
            fft_rec(m, out + q * sub, in + q * in_stride, sub, in_stride * p, step * p, factors + 1, scratch);
    }
    for (size_t u = 0; u < sub; u++) {
        for (size_t q = 0; q < p; q++)
            scratch[q] = out[u + q * sub];
        for (size_t r = 0; r < p; r++) {
            const size_t k = u + r * sub;
            const size_t advance = (step * k) % m->half;
            size_t tw = 0;
            cpx acc = scratch[0];
            for (size_t q = 1; q < p; q++) {
                tw += advance;
                if (tw >= m->half)
                    tw -= m->half;
                const cpx w = m->twiddles[tw];
                acc.re += scratch[q].re * w.re - scratch[q].im * w.im;
                acc.im += scratch[q].re * w.im + scratch[q].im * w.re;
            }
            out[k] = acc;
        }
    }
}

/* Power spectrum |X[k]|^2, k <= half, of the real frame x (n_fft points),
 * from the half-length complex FFT Z of z[j] = x[2j] + i x[2j+1]:
 *   X[k] = (Z[k] + conj Z[half-k]) / 2 - i W_nfft^k (Z[k] - conj Z[half-k]) / 2. */
static void power_spectrum(const lumen_mel *m, const cpx *packed, cpx *spectrum, cpx *scratch, double *power) {
    const size_t half = m->half;
    if (half == 1)
        spectrum[0] = packed[0];
    else
        fft_rec(m, spectrum, packed, half, 1, 1, m->factors, scratch);
    for (size_t k = 0; k <= half; k++) {
        const cpx a = spectrum[k % half];
        const cpx b = spectrum[(half - k) % half];
        const double even_re = 0.5 * (a.re + b.re), even_im = 0.5 * (a.im - b.im);
        const double odd_re = 0.5 * (a.im + b.im), odd_im = -0.5 * (a.re - b.re);
        const cpx w = m->split[k];
        const double re = even_re + w.re * odd_re - w.im * odd_im;
        const double im = even_im + w.re * odd_im + w.im * odd_re;
        power[k] = re * re + im * im;
    }
}

/* --- public API -------------------------------------------------------- */

static int config_valid(const lumen_mel_config *c) {
    if (c->sample_rate <= 0 || c->n_fft < 2 || c->n_fft % 2 != 0 || c->hop <= 0 || c->n_mels <= 0)
        return 0;
    double fmax = c->fmax > 0.0 ? c->fmax : c->sample_rate / 2.0;
    return c->fmin >= 0.0 && c->fmin < fmax && fmax <= c->sample_rate / 2.0;
}

int lumen_mel_new(const lumen_mel_config *config, lumen_mel **out) {
    if (!out)
        return LUMEN_MEL_EINVAL;
    *out = NULL;
    if (!config || !config_valid(config))
        return LUMEN_MEL_EINVAL;
    lumen_mel *m = calloc(1, sizeof *m);
    if (!m)
        return LUMEN_MEL_ENOMEM;
    m->config = *config;
    m->half = (size_t)config->n_fft / 2;
    m->bins = m->half + 1;
    factorize(m);
    m->twiddles = malloc(m->half * sizeof *m->twiddles);
    m->split = malloc(m->bins * sizeof *m->split);
    m->window = malloc((size_t)config->n_fft * sizeof *m->window);
    m->weights = malloc((size_t)config->n_mels * m->bins * sizeof *m->weights);
    m->band_first = malloc((size_t)config->n_mels * sizeof *m->band_first);
    m->band_count = malloc((size_t)config->n_mels * sizeof *m->band_count);
    if (!m->twiddles || !m->split || !m->window || !m->weights || !m->band_first || !m->band_count) {
        lumen_mel_free(m);
        return LUMEN_MEL_ENOMEM;
    }
    for (size_t k = 0; k < m->half; k++) {
        const double angle = -2.0 * M_PI * (double)k / (double)m->half;
        m->twiddles[k] = (cpx){cos(angle), sin(angle)};
    }
    for (size_t k = 0; k < m->bins; k++) {
        const double angle = -2.0 * M_PI * (double)k / (double)config->n_fft;
        m->split[k] = (cpx){cos(angle), sin(angle)};
    }
    for (int i = 0; i < config->n_fft; i++)
        m->window[i] = 0.5 - 0.5 * cos(2.0 * M_PI * i / config->n_fft);
    int rc = build_filters(m);
    if (rc != LUMEN_MEL_OK) {
        lumen_mel_free(m);
        return rc;
    }
    *out = m;
    return LUMEN_MEL_OK;
}

void lumen_mel_free(lumen_mel *mel) {
    if (!mel)
        return;
    free(mel->twiddles);
    free(mel->split);
    free(mel->window);
    free(mel->weights);
    free(mel->band_first);
    free(mel->band_count);
    free(mel);
}

size_t lumen_mel_frames(const lumen_mel *mel, size_t n_samples) {
    if (!mel || n_samples == 0)
        return 0;
    return 1 + n_samples / (size_t)mel->config.hop;
}

size_t lumen_mel_bins(const lumen_mel *mel) { return mel ? mel->bins : 0; }

void lumen_mel_filters(const lumen_mel *mel, float *out) {
    if (mel && out)
        memcpy(out, mel->weights, (size_t)mel->config.n_mels * mel->bins * sizeof *out);
}

int lumen_mel_compute(const lumen_mel *mel, const float *samples, size_t n, float *out) {
    if (!mel || (n > 0 && (!samples || !out)))
        return LUMEN_MEL_EINVAL;
    const size_t frames = lumen_mel_frames(mel, n);
    if (frames == 0)
        return LUMEN_MEL_OK;
    const size_t n_fft = (size_t)mel->config.n_fft, hop = (size_t)mel->config.hop;
    const size_t n_mels = (size_t)mel->config.n_mels;
    /* one block: packed frame, spectrum, butterfly scratch, power */
    const size_t n_cpx = mel->half * 2 + (size_t)mel->max_factor;
    void *block = malloc(n_cpx * sizeof(cpx) + mel->bins * sizeof(double));
    if (!block)
        return LUMEN_MEL_ENOMEM;
    cpx *packed = block;
    cpx *spectrum = packed + mel->half;
    cpx *scratch = spectrum + mel->half;
    double *power = (double *)(scratch + mel->max_factor);

    for (size_t t = 0; t < frames; t++) {
        /* frame t is centred on sample t*hop: it starts n_fft/2 earlier, and
         * samples outside the signal are zeros (librosa pad_mode="constant") */
        const ptrdiff_t start = (ptrdiff_t)(t * hop) - (ptrdiff_t)(n_fft / 2);
        for (size_t j = 0; j < mel->half; j++) {
            double v[2];
            for (int h = 0; h < 2; h++) {
                const size_t i = 2 * j + (size_t)h;
                const ptrdiff_t s = start + (ptrdiff_t)i;
                v[h] = (s >= 0 && (size_t)s < n) ? (double)samples[s] * mel->window[i] : 0.0;
            }
            packed[j] = (cpx){v[0], v[1]};
        }
        power_spectrum(mel, packed, spectrum, scratch, power);
        float *row = out + t * n_mels;
        for (size_t band = 0; band < n_mels; band++) {
            const size_t first = mel->band_first[band];
            const float *w = mel->weights + band * mel->bins;
            double acc = 0.0;
            for (size_t k = first; k < first + mel->band_count[band]; k++)
                acc += (double)w[k] * power[k];
            row[band] = (float)acc;
        }
    }
    free(block);
    return LUMEN_MEL_OK;
}
