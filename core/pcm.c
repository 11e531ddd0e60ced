#include "pcm.h"

#include <float.h>
#include <math.h>
#include <string.h>

int lumen_pcm_sample_bytes(int encoding)
{
    switch (encoding) {
    case LUMEN_PCM_U8:
    case LUMEN_PCM_MULAW:
    case LUMEN_PCM_ALAW:
        return 1;
    case LUMEN_PCM_S16:
        return 2;
    case LUMEN_PCM_S24:
        return 3;
    case LUMEN_PCM_S32:
    case LUMEN_PCM_F32:
        return 4;
    case LUMEN_PCM_F64:
        return 8;
    default:
        return 0;
    }
}

/* G.711 expansions to the 16-bit linear scale (ITU-T G.711 / Sun's g711.c). */
float lumen_mulaw_decode(uint8_t byte)
{
    int u = ~byte & 0xff;
    int t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    int v = (u & 0x80) ? (0x84 - t) : (t - 0x84);
    return (float)v / 32768.0f;
}

float lumen_alaw_decode(uint8_t byte)
{
    int a = byte ^ 0x55;
    int t = (a & 0x0f) << 4;
    int seg = (a & 0x70) >> 4;
    if (seg == 0)
        t += 8;
    else if (seg == 1)
        t += 0x108;
    else
        t = (t + 0x108) << (seg - 1);
    return (float)((a & 0x80) ? t : -t) / 32768.0f;
}

static inline float sanitize(double v)
{
    if (!isfinite(v))
        return 0.0f;
    return v > 1.0 ? 1.0f : v < -1.0 ? -1.0f : (float)v;
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline float read_u8(const uint8_t *p) { return ((float)p[0] - 128.0f) / 128.0f; }

static inline float read_s16(const uint8_t *p)
{
    return (float)(int16_t)(uint16_t)(p[0] | (p[1] << 8)) / 32768.0f;
}

static inline float read_s24(const uint8_t *p)
{
    int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8;
    return (float)v / 8388608.0f;
}

static inline float read_s32(const uint8_t *p) { return (float)((double)(int32_t)le32(p) / 2147483648.0); }

static inline float read_f32(const uint8_t *p)
{
    uint32_t bits = le32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    /* sanitize() in float and without branches, so the loop vectorises:
     * NaN fails the comparison and infinities exceed FLT_MAX. */
    float clamped = f > 1.0f ? 1.0f : f < -1.0f ? -1.0f : f;
    return fabsf(f) <= FLT_MAX ? clamped : 0.0f;
}

static inline float read_f64(const uint8_t *p)
{
    uint64_t bits = (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
    double d;
    memcpy(&d, &bits, sizeof d);
    return sanitize(d);
}

static inline float read_mulaw(const uint8_t *p) { return lumen_mulaw_decode(p[0]); }
static inline float read_alaw(const uint8_t *p) { return lumen_alaw_decode(p[0]); }

/* One loop per encoding (the switch stays outside the loop, so each loop
 * is simple enough for the compiler to unroll or vectorise). */
#define CONVERT(read)                                                   \
    for (size_t i = 0; i < frames; i++) {                               \
        const uint8_t *frame = in + i * stride;                         \
        float sum = 0.0f;                                               \
        for (int c = 0; c < channels; c++)                              \
            sum += read(frame + (size_t)c * width);                     \
        out[i] = sum * scale;                                           \
    }

void lumen_pcm_to_mono(const uint8_t *in, size_t frames, int encoding, int channels, float *out)
{
    const int width = lumen_pcm_sample_bytes(encoding);
    if (width == 0 || channels < 1)
        return;
    if (channels == 1 && encoding == LUMEN_PCM_S16) {
        /* The common case, kept simple enough for the compiler to vectorise. */
        for (size_t i = 0; i < frames; i++)
            out[i] = (float)(int16_t)(uint16_t)(in[2 * i] | (in[2 * i + 1] << 8)) * (1.0f / 32768.0f);
        return;
    }
    if (channels == 1 && encoding == LUMEN_PCM_F32) {
        for (size_t i = 0; i < frames; i++)
            out[i] = read_f32(in + 4 * i);
        return;
    }
    const size_t stride = (size_t)width * (size_t)channels;
    const float scale = 1.0f / (float)channels;
    switch (encoding) {
    case LUMEN_PCM_U8: CONVERT(read_u8) break;
    case LUMEN_PCM_S16: CONVERT(read_s16) break;
    case LUMEN_PCM_S24: CONVERT(read_s24) break;
    case LUMEN_PCM_S32: CONVERT(read_s32) break;
    case LUMEN_PCM_F32: CONVERT(read_f32) break;
    case LUMEN_PCM_F64: CONVERT(read_f64) break;
    case LUMEN_PCM_MULAW: CONVERT(read_mulaw) break;
    case LUMEN_PCM_ALAW: CONVERT(read_alaw) break;
    }
}
