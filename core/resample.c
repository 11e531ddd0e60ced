#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#define PI 3.14159265358979323846
#define MAX_EXACT_PHASES 1024
#define PASSBAND 0.91
#define STOPBAND 1.0
#define ATTENUATION_DB 130.0
#define TAP_MULTIPLE 16          /* rows are whole vectors: no scalar tail in the dot product */
#define BESSEL_TERMS 32

struct lumen_resampler {
    int in_rate, out_rate;
    uint64_t L, M;           /* out/in = L/M, reduced */
    int taps;                /* K: taps per output sample, even */
    int phases;              /* rows in the table (L, or MAX_EXACT_PHASES when interpolating) */
    int interpolate;         /* 1 when rows are interpolated */
    float *table;            /* (phases + 1) rows of `taps` coefficients */
    int avx2;                /* 1 when the CPU has AVX2 and FMA (chosen once, at creation) */
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

/* The Kaiser window as a power series in t = 1 - (u / half)^2:
 * I0(beta * sqrt(t)) = sum_k c_k t^k with c_k = (beta^2 / 4)^k / (k!)^2,
 * so a tap costs one fixed-length Horner evaluation (no sqrt, no division,
 * no branch: the compiler vectorises it across taps).  All terms are
 * positive, so the sum is as accurate as the series; the 32 terms leave
 * out less than 1e-20 of I0(beta) for beta up to 13.4 (ATTENUATION_DB 130). */
static void kaiser_init(double c[BESSEL_TERMS], double beta)
{
    double q = beta * beta / 4.0, term = 1.0, sum = 1.0;
    c[0] = 1.0;
    for (int k = 1; k < BESSEL_TERMS; k++) {
        term *= q / ((double)k * k);
        c[k] = term;
        sum += term;
    }
    for (int k = 0; k < BESSEL_TERMS; k++)
        c[k] /= sum;   /* divided by I0(beta): the window peaks at 1 */
}

static inline double kaiser_at(const double c[BESSEL_TERMS], double t)
{
    double v = c[BESSEL_TERMS - 1];
    for (int k = BESSEL_TERMS - 2; k >= 0; k--)
        v = v * t + c[k];
    return v;
}

/* Fills `rows` = phases + 1 rows: row q is the kernel at fractional position
 * q / phases, tap k multiplying input i0 - taps/2 + 1 + k (i0 = floor of the
 * output instant), normalised to unit DC gain.  The kernel is even, so row
 * phases - q is row q reversed and only half the rows are computed.  The
 * sine of pi * cutoff * (frac + m) comes from the angle-addition formula with
 * per-tap tables of sin/cos(pi * cutoff * m). */
static int build_table(lumen_resampler *r, double cutoff, double beta)
{
    const int taps = r->taps, phases = r->phases;
    const double half = taps * 0.5;
    double *sin_m = malloc(sizeof(double) * (size_t)taps * 3);
    if (sin_m == NULL)
        return LUMEN_RESAMPLE_ENOMEM;
    double *cos_m = sin_m + taps, *v = cos_m + taps;
    for (int k = 0; k < taps; k++) {
        double m = (double)(taps / 2 - 1 - k);
        sin_m[k] = sin(PI * cutoff * m);
        cos_m[k] = cos(PI * cutoff * m);
    }
    double c[BESSEL_TERMS];
    kaiser_init(c, beta);
    const double inv_half = 1.0 / half;
    for (int q = 0; q <= phases / 2; q++) {
        double frac = (double)q / phases;
        double sf = sin(PI * cutoff * frac), cf = cos(PI * cutoff * frac);
        for (int k = 0; k < taps; k++) {
            /* sin(pi c u) / (pi u), which is c at u = 0. */
            double u = frac + (double)(taps / 2 - 1 - k);
            v[k] = u != 0.0 ? (sf * cos_m[k] + cf * sin_m[k]) / (PI * u) : cutoff;
        }
        for (int k = 0; k < taps; k++) {
            double u = frac + (double)(taps / 2 - 1 - k);
            double t = 1.0 - (u * inv_half) * (u * inv_half);
            v[k] *= kaiser_at(c, t > 0.0 ? t : 0.0) * (t > 0.0);
        }
        double sum = 0.0;
        for (int k = 0; k < taps; k++)
            sum += v[k];
        float *row = r->table + (size_t)q * taps;
        float *mirror = r->table + (size_t)(phases - q) * taps;
        for (int k = 0; k < taps; k++) {
            row[k] = (float)(v[k] / sum);
            mirror[taps - 1 - k] = row[k];
        }
    }
    free(sin_m);
    return LUMEN_RESAMPLE_OK;
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
    taps = (taps + TAP_MULTIPLE - 1) / TAP_MULTIPLE * TAP_MULTIPLE;
    r->taps = taps;
    double cutoff = (PASSBAND + STOPBAND) * 0.5 * ratio; /* fraction of the input Nyquist */
    r->interpolate = r->L > MAX_EXACT_PHASES;
    r->phases = r->interpolate ? MAX_EXACT_PHASES : (int)r->L;
#ifdef HAVE_AVX2_PATH
    r->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    r->table = malloc(sizeof(float) * (size_t)(r->phases + 1) * (size_t)taps);
    r->buf_cap = (size_t)taps * 4 + 4096;
    r->buf = malloc(sizeof(float) * r->buf_cap);
    if (r->table == NULL || r->buf == NULL || build_table(r, cutoff, beta) != LUMEN_RESAMPLE_OK) {
        lumen_resampler_free(r);
        return LUMEN_RESAMPLE_ENOMEM;
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

/* Dot products of a row (or of the blend row + w * (next - row) of two
 * rows, for interpolated phases) with the input; n is a multiple of 16.
 * Portable version: 16 independent partial sums the compiler vectorises. */
static inline float dot_generic(const float *restrict row, const float *restrict next, float w,
                                const float *restrict x, int n)
{
    float acc[16] = {0};
    for (int k = 0; k < n; k += 16)
        for (int j = 0; j < 16; j++) {
            float c = next ? row[k + j] + w * (next[k + j] - row[k + j]) : row[k + j];
            acc[j] += c * x[k + j];
        }
    for (int j = 0; j < 8; j++)
        acc[j] += acc[j + 8];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Produces outputs up to index limit_out (exclusive) from the history.  The
 * input position advances by M/L per output: kept as an integer part and a
 * phase numerator, so the loop has no division. */
static inline __attribute__((always_inline)) size_t
produce_with(lumen_resampler *r, uint64_t limit_out, float *out,
             float (*dot)(const float *, const float *, float, const float *, int))
{
    size_t count = 0;
    const int taps = r->taps;
    if (r->n_out >= limit_out)
        return 0;
    const uint64_t step_i = r->M / r->L, step_phase = r->M % r->L;
    uint64_t pos = r->n_out * r->M;
    int64_t i0 = (int64_t)(pos / r->L);
    uint64_t phase = pos % r->L;
    const double to_row = (double)r->phases / (double)r->L;
    for (; r->n_out < limit_out; r->n_out++) {
        const float *x = r->buf + (i0 - taps / 2 + 1 - r->base);
        if (!r->interpolate) {
            out[count++] = dot(r->table + phase * (uint64_t)taps, NULL, 0.0f, x, taps);
        } else {
            double where = (double)phase * to_row;
            int q = (int)where;
            const float *row = r->table + (size_t)q * taps;
            out[count++] = dot(row, row + taps, (float)(where - q), x, taps);
        }
        i0 += (int64_t)step_i;
        phase += step_phase;
        if (phase >= r->L) {
            phase -= r->L;
            i0++;
        }
    }
    return count;
}

static float dot_generic_call(const float *row, const float *next, float w, const float *x, int n)
{
    return dot_generic(row, next, w, x, n);
}

#ifdef HAVE_AVX2_PATH
/* The same sums with AVX2 and FMA (chosen at run time), four vectors at a
 * time.  FMA rounds differently from multiply-then-add, so outputs differ
 * from the portable path in the last bits: each machine is consistent with
 * itself (chunking still never changes the output). */
__attribute__((target("avx2,fma"))) static inline float
dot_avx2(const float *row, const float *next, float w, const float *x, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    if (next == NULL) {
        for (int k = 0; k < n; k += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + k + 8), _mm256_loadu_ps(x + k + 8), a1);
        }
    } else {
        const __m256 wv = _mm256_set1_ps(w);
        for (int k = 0; k < n; k += 16) {
            __m256 r0 = _mm256_loadu_ps(row + k), r1 = _mm256_loadu_ps(row + k + 8);
            __m256 c0 = _mm256_fmadd_ps(wv, _mm256_sub_ps(_mm256_loadu_ps(next + k), r0), r0);
            __m256 c1 = _mm256_fmadd_ps(wv, _mm256_sub_ps(_mm256_loadu_ps(next + k + 8), r1), r1);
            a0 = _mm256_fmadd_ps(c0, _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(c1, _mm256_loadu_ps(x + k + 8), a1);
        }
    }
    __m256 a = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) static size_t produce_avx2(lumen_resampler *r, uint64_t limit_out, float *out)
{
    return produce_with(r, limit_out, out, dot_avx2);
}
#endif

static size_t produce(lumen_resampler *r, uint64_t limit_out, float *out)
{
#ifdef HAVE_AVX2_PATH
    if (r->avx2)
        return produce_avx2(r, limit_out, out);
#endif
    return produce_with(r, limit_out, out, dot_generic_call);
}

/* Drops history no later output needs.  Moving the kept samples costs
 * O(taps), so it waits until a quarter of the buffer is dead: tiny chunks
 * (one sample per call) stay O(1) per sample. */
static void compact(lumen_resampler *r)
{
    int64_t next_i0 = (int64_t)(r->n_out * r->M / r->L);
    int64_t keep_from = next_i0 - r->taps / 2 + 1;
    if (keep_from > r->base) {
        size_t drop = (size_t)(keep_from - r->base);
        if (drop > r->buf_len)
            drop = r->buf_len;
        if (drop < r->buf_cap / 4)
            return;
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
