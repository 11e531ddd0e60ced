#include "pcm.h"

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

static inline float sample_at(const uint8_t *p, int encoding)
{
    switch (encoding) {
    case LUMEN_PCM_U8:
        return ((float)p[0] - 128.0f) / 128.0f;
    case LUMEN_PCM_S16:
        return (float)(int16_t)(uint16_t)(p[0] | (p[1] << 8)) / 32768.0f;
    case LUMEN_PCM_S24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8;
        return (float)v / 8388608.0f;
    }
    case LUMEN_PCM_S32: {
        int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        return (float)((double)v / 2147483648.0);
    }
    case LUMEN_PCM_F32: {
        uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &bits, sizeof f);
        return sanitize(f);
    }
    case LUMEN_PCM_F64: {
        uint64_t bits = 0;
        for (int i = 7; i >= 0; i--)
            bits = bits << 8 | p[i];
        double d;
        memcpy(&d, &bits, sizeof d);
        return sanitize(d);
    }
    case LUMEN_PCM_MULAW:
        return lumen_mulaw_decode(p[0]);
    case LUMEN_PCM_ALAW:
        return lumen_alaw_decode(p[0]);
    default:
        return 0.0f;
    }
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
    const size_t stride = (size_t)width * (size_t)channels;
    const float scale = 1.0f / (float)channels;
    for (size_t i = 0; i < frames; i++) {
        const uint8_t *frame = in + i * stride;
        float sum = 0.0f;
        for (int c = 0; c < channels; c++)
            sum += sample_at(frame + (size_t)c * width, encoding);
        out[i] = sum * scale;
    }
}
