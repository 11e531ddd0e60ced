/* libFuzzer target: the streaming resampler.
 *
 * Input layout: bytes 0-3 and 4-7 pick the input and output rates
 * (8000-192000 Hz), bytes 8-11 seed the chunking; the rest are s16 samples.
 * The samples are converted once in one piece and once in random-sized
 * chunks: the outputs must be identical bit for bit, ceil(N * out / in)
 * samples long and finite, and every output buffer is exactly
 * lumen_resampler_max_output long so ASan catches an overrun.
 */
#include "resample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_RATE 8000u
#define MAX_RATE 192000u
#define MAX_SAMPLES 8192

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* seed 0: the whole input in one call. */
static float *convert(lumen_resampler *r, const float *in, size_t n, uint64_t seed, size_t *len)
{
    size_t cap = lumen_resampler_max_output(r, n) + 1, pos = 0;
    float *all = malloc(sizeof(float) * cap);
    *len = 0;
    lumen_resampler_reset(r);
    for (;;) {
        size_t piece = n - pos;
        if (seed && piece > 0) {
            uint64_t v = next_random(&seed);
            size_t limit = v & 1 ? 8 : 2048;
            piece = 1 + (size_t)((v >> 8) % limit);
            if (piece > n - pos)
                piece = n - pos;
        }
        int last = pos + piece == n;
        size_t room = lumen_resampler_max_output(r, piece), made = 0;
        float *out = malloc(sizeof(float) * room);
        if (lumen_resampler_process(r, in + pos, piece, out, &made) != LUMEN_RESAMPLE_OK || made > room ||
            *len + made > cap)
            __builtin_trap();
        memcpy(all + *len, out, sizeof(float) * made);
        *len += made;
        free(out);
        pos += piece;
        if (last)
            break;
    }
    size_t room = lumen_resampler_max_output(r, 0), made = 0;
    float *out = malloc(sizeof(float) * room);
    if (lumen_resampler_flush(r, out, &made) != LUMEN_RESAMPLE_OK || made > room || *len + made > cap)
        __builtin_trap();
    memcpy(all + *len, out, sizeof(float) * made);
    *len += made;
    free(out);
    return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12)
        return 0;
    int in_rate = (int)(MIN_RATE + le32(data) % (MAX_RATE - MIN_RATE + 1));
    int out_rate = (int)(MIN_RATE + le32(data + 4) % (MAX_RATE - MIN_RATE + 1));
    uint64_t seed = (uint64_t)le32(data + 8) + 1;
    size_t n = (size - 12) / 2;
    if (n > MAX_SAMPLES)
        n = MAX_SAMPLES;
    float *in = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        in[i] = (float)(int16_t)(data[12 + 2 * i] | data[13 + 2 * i] << 8) / 32768.0f;
    /* Mutations mostly keep the rate bytes: reuse the last converter (after
     * reset, which must make it as good as new), since building the table
     * for an awkward ratio costs far more than converting 8192 samples. */
    static lumen_resampler *r;
    static int r_in, r_out;
    if (r == NULL || r_in != in_rate || r_out != out_rate) {
        lumen_resampler_free(r);
        if (lumen_resampler_new(in_rate, out_rate, &r) != LUMEN_RESAMPLE_OK)
            __builtin_trap();
        r_in = in_rate;
        r_out = out_rate;
    }
    size_t whole_len, split_len;
    float *whole = convert(r, in, n, 0, &whole_len);
    float *split = convert(r, in, n, seed, &split_len);
    uint64_t expected = ((uint64_t)n * (uint64_t)out_rate + (uint64_t)in_rate - 1) / (uint64_t)in_rate;
    if (whole_len != expected || split_len != whole_len || memcmp(whole, split, sizeof(float) * whole_len) != 0)
        __builtin_trap();
    for (size_t i = 0; i < whole_len; i++)
        if (!isfinite(whole[i]))
            __builtin_trap();
    free(whole);
    free(split);
    free(in);
    return 0;
}
