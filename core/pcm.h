/* PCM sample conversion: interleaved frames of any supported encoding to
 * mono float32 (channels averaged).  Float input that is NaN or infinite
 * becomes 0 and finite float input is clamped to [-1, 1], so nothing
 * downstream ever sees a non-finite sample.  Pure functions: thread-safe.
 */
#ifndef LUMEN_PCM_H
#define LUMEN_PCM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LUMEN_PCM_U8 = 1,    /* unsigned 8-bit (WAV's 8-bit PCM) */
    LUMEN_PCM_S16 = 2,   /* signed 16-bit little-endian */
    LUMEN_PCM_S24 = 3,   /* signed 24-bit little-endian, packed */
    LUMEN_PCM_S32 = 4,   /* signed 32-bit little-endian */
    LUMEN_PCM_F32 = 5,   /* IEEE float 32-bit little-endian */
    LUMEN_PCM_F64 = 6,   /* IEEE float 64-bit little-endian */
    LUMEN_PCM_MULAW = 7, /* G.711 mu-law */
    LUMEN_PCM_ALAW = 8   /* G.711 A-law */
} lumen_pcm_encoding;

/* Bytes per sample of one channel; 0 for an unknown encoding. */
int lumen_pcm_sample_bytes(int encoding);

/* Converts `frames` interleaved frames of `channels` channels to mono float32. */
void lumen_pcm_to_mono(const uint8_t *in, size_t frames, int encoding, int channels, float *out);

float lumen_mulaw_decode(uint8_t byte);
float lumen_alaw_decode(uint8_t byte);

#ifdef __cplusplus
}
#endif

#endif
