#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define MAX_EXACT_PHASES 1024
#define PASSBAND 0.91
#define STOPBAND 1.0
#define ATTENUATION_DB 100.0

struct lumen_resampler {
    int in_rate, out_rate;
    uint64_t L, M;           /* out/in = L/M, reduced */
    int taps;                /* K: taps per output sample, even */
    int phases;              /* rows in the table (L, or MAX_EXACT_PHASES when interpolating) */
    int interpolate;         /* 1 when rows are interpolated */
    float *table;            /* (phases + 1) rows of `taps` coefficients */
    float *buf;              /* input history; buf[0] is absolute input index `base` */
    size_t buf_len, buf_cap;
    int64_t base;            /* absolute index of buf[0] (negative: leading zeros) */
    uint64_t n_in;           /* input samples received */
    uint64_t n_out;          /* next output index */
};

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Zeroth-order modified Bessel function of the first kind. */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = x * x / 4.0;
    for (int k = 1; k < 64; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return sum;
}

/* Kernel value at u input samples from the output instant. */
static double kernel(double u, double cutoff, double half, double beta, double i0_beta)
{
    if (fabs(u) >= half)
        return 0.0;
    double x = cutoff * u;
    double sinc = fabs(x) < 1e-12 ? 1.0 : sin(PI * x) / (PI * x);
    double r = u / half;
    return cutoff * sinc * bessel_i0(beta * sqrt(1.0 - r * r)) / i0_beta;
}

int lumen_resampler_new(int in_rate, int out_rate, lumen_resampler **out)
{
    if (out == NULL)
        return LUMEN_RESAMPLE_EINVAL;
    *out = NULL;
    if (in_rate < 1 || out_rate < 1 || in_rate > 1000000 || out_rate > 1000000)
        return LUMEN_RESAMPLE_EINVAL;
    lumen_resampler *r = calloc(1, sizeof *r);
    if (r == NULL)
        return LUMEN_RESAMPLE_ENOMEM;
    uint64_t g = gcd((uint64_t)in_rate, (uint64_t)out_rate);
    r->in_rate = in_rate;
    r->out_rate = out_rate;
    r->L = (uint64_t)out_rate / g;
    r->M = (uint64_t)in_rate / g;
    double ratio = out_rate < in_rate ? (double)out_rate / in_rate : 1.0;
    /* Kaiser design: transition from PASSBAND to STOPBAND of the lower Nyquist. */
    double transition = (STOPBAND - PASSBAND) * ratio * 0.5; /* cycles per input sample */
    double beta = 0.1102 * (ATTENUATION_DB - 8.7);
    int taps = (int)ceil((ATTENUATION_DB - 7.95) / (14.36 * transition)) + 1;
    taps += taps & 1;
    r->taps = taps;
    double cutoff = (PASSBAND + STOPBAND) * 0.5 * ratio; /* fraction of the input Nyquist */
    double half = taps * 0.5;
    double i0_beta = bessel_i0(beta);
    r->interpolate = r->L > MAX_EXACT_PHASES;
    r->phases = r->interpolate ? MAX_EXACT_PHASES : (int)r->L;
    r->table = malloc(sizeof(float) * (size_t)(r->phases + 1) * (size_t)taps);
    r->buf_cap = (size_t)taps * 4 + 4096;
    r->buf = malloc(sizeof(float) * r->buf_cap);
    if (r->table == NULL || r->buf == NULL) {
        lumen_resampler_free(r);
        return LUMEN_RESAMPLE_ENOMEM;
    }
    /* Row q holds the kernel for fractional position q / phases; tap k
     * multiplies input i0 - taps/2 + 1 + k where i0 = floor(output instant). */
    for (int q = 0; q <= r->phases; q++) {
        double frac = (double)q / r->phases;
        double sum = 0.0;
        float *row = r->table + (size_t)q * taps;
        for (int k = 0; k < taps; k++) {
            double u = frac + (double)(taps / 2 - 1 - k);
            double v = kernel(u, cutoff, half, beta, i0_beta);
            row[k] = (float)v;
            sum += v;
        }
        for (int k = 0; k < taps; k++)
            row[k] = (float)(row[k] / sum);
    }
    lumen_resampler_reset(r);
    *out = r;
    return LUMEN_RESAMPLE_OK;
}

void lumen_resampler_reset(lumen_resampler *r)
{
    /* taps/2 leading zeros stand for the input before the stream started. */
    r->base = -(int64_t)r->taps;
    r->buf_len = (size_t)r->taps;
    memset(r->buf, 0, sizeof(float) * r->buf_len);
    r->n_in = 0;
    r->n_out = 0;
}

void lumen_resampler_free(lumen_resampler *r)
{
    if (r != NULL) {
        free(r->table);
        free(r->buf);
        free(r);
    }
}

int lumen_resampler_taps(const lumen_resampler *r)
{
    return r->taps;
}

size_t lumen_resampler_max_output(const lumen_resampler *r, size_t n_in)
{
    /* Outputs whose instant lies before the end of all input so far, plus one. */
    uint64_t total = r->n_in + n_in;
    uint64_t limit = (total * r->L + r->M - 1) / r->M;
    return (size_t)(limit - r->n_out) + 1;
}

static inline float dot(const float *restrict a, const float *restrict b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[k + j] * b[k + j];
    float s = 0.0f;
    for (; k < n; k++)
        s += a[k] * b[k];
    return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Produces outputs while the input they need (up to `available` absolute
 * samples, zero beyond when flushing) is present. */
static size_t produce(lumen_resampler *r, uint64_t limit_out, float *out)
{
    size_t count = 0;
    const int taps = r->taps;
    for (; r->n_out < limit_out; r->n_out++) {
        uint64_t pos = r->n_out * r->M;
        int64_t i0 = (int64_t)(pos / r->L);
        uint64_t phase = pos % r->L;
        const float *x = r->buf + (i0 - taps / 2 + 1 - r->base);
        float y;
        if (!r->interpolate) {
            y = dot(r->table + phase * (uint64_t)taps, x, taps);
        } else {
            double where = (double)phase * r->phases / (double)r->L;
            int q = (int)where;
            float w = (float)(where - q);
            const float *row = r->table + (size_t)q * taps;
            y = (1.0f - w) * dot(row, x, taps) + w * dot(row + taps, x, taps);
        }
        out[count++] = y;
    }
    return count;
}

/* Drops history no later output needs. */
static void compact(lumen_resampler *r)
{
    int64_t next_i0 = (int64_t)(r->n_out * r->M / r->L);
    int64_t keep_from = next_i0 - r->taps / 2 + 1;
    if (keep_from > r->base) {
        size_t drop = (size_t)(keep_from - r->base);
        if (drop > r->buf_len)
            drop = r->buf_len;
        memmove(r->buf, r->buf + drop, sizeof(float) * (r->buf_len - drop));
        r->buf_len -= drop;
        r->base += (int64_t)drop;
    }
}

static int append(lumen_resampler *r, const float *in, size_t n)
{
    if (r->buf_len + n > r->buf_cap) {
        size_t cap = r->buf_cap;
        while (cap < r->buf_len + n)
            cap *= 2;
        float *grown = realloc(r->buf, sizeof(float) * cap);
        if (grown == NULL)
            return LUMEN_RESAMPLE_ENOMEM;
        r->buf = grown;
        r->buf_cap = cap;
    }
    memcpy(r->buf + r->buf_len, in, sizeof(float) * n);
    r->buf_len += n;
    return LUMEN_RESAMPLE_OK;
}

/* Outputs whose every tap lies before absolute input index `end`. */
static uint64_t complete_outputs(const lumen_resampler *r, uint64_t end)
{
    /* Output n needs inputs up to i0 + taps/2, i.e. floor(n*M/L) + taps/2 < end. */
    if (end < (uint64_t)(r->taps / 2) + 1)
        return 0;
    uint64_t max_i0 = end - (uint64_t)(r->taps / 2) - 1;
    return (max_i0 + 1) * r->L / r->M + (((max_i0 + 1) * r->L) % r->M ? 1 : 0);
}

int lumen_resampler_process(lumen_resampler *r, const float *in, size_t n, float *out, size_t *n_out)
{
    if (r == NULL || n_out == NULL || (n > 0 && (in == NULL || out == NULL)))
        return LUMEN_RESAMPLE_EINVAL;
    *n_out = 0;
    /* Feed in slices so the history buffer stays small for huge inputs. */
    while (n > 0) {
        size_t piece = n < 65536 ? n : 65536;
        int rc = append(r, in, piece);
        if (rc != LUMEN_RESAMPLE_OK)
            return rc;
        r->n_in += piece;
        size_t made = produce(r, complete_outputs(r, r->n_in), out + *n_out);
        *n_out += made;
        compact(r);
        in += piece;
        n -= piece;
    }
    return LUMEN_RESAMPLE_OK;
}

int lumen_resampler_flush(lumen_resampler *r, float *out, size_t *n_out)
{
    if (r == NULL || n_out == NULL)
        return LUMEN_RESAMPLE_EINVAL;
    /* Every output whose instant lies before the end of the input, with zeros
     * standing for the samples after it. */
    uint64_t total = (r->n_in * r->L + r->M - 1) / r->M;
    size_t pad = (size_t)r->taps + 1;
    float zeros[256] = {0};
    while (pad > 0) {
        size_t piece = pad < 256 ? pad : 256;
        int rc = append(r, zeros, piece);
        if (rc != LUMEN_RESAMPLE_OK)
            return rc;
        pad -= piece;
    }
    *n_out = produce(r, total, out);
    compact(r);
    return LUMEN_RESAMPLE_OK;
}
