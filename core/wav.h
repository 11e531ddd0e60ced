/* Incremental audio stream decoder: RIFF/WAVE or raw PCM to mono float32.
 *
 * Bytes arrive in chunks of any size (a header may be split anywhere).  A
 * stream whose first four bytes are "RIFF" (or "RF64"/"BW64", the 64-bit
 * layouts) is parsed as WAV whatever raw format was declared; one that
 * starts like another container (RIFX, FLAC, Ogg, WebM, AIFF, CAF) is
 * refused by name; otherwise the declared raw format applies.  WAV
 * support: PCM 8/16/24/32-bit, IEEE float 32/64-bit, A-law, mu-law and
 * WAVE_FORMAT_EXTENSIBLE carrying PCM or float; 1-32 channels; 8-192 kHz;
 * unknown chunks (LIST, fact, ds64, cue, ...) are skipped, and so is the pad
 * byte after an odd-sized chunk when there is one; a data size of 0 or
 * 0xFFFFFFFF (streaming writers) means "until the end of the stream".  A
 * WAV file may follow another (a recorder that sends each slice as a
 * file) if it has the same sample rate.  Incomplete frames are carried
 * over to the next chunk.
 *
 * Errors are sticky: after one, every call returns it again, and
 * lumen_decoder_error() says precisely what was wrong.
 *
 * Thread-safety: a decoder is per-stream state; one thread at a time.
 */
#ifndef LUMEN_WAV_H
#define LUMEN_WAV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LUMEN_MIN_RATE 8000
#define LUMEN_MAX_RATE 192000
#define LUMEN_MAX_CHANNELS 32

enum {
    LUMEN_DECODE_OK = 0,
    LUMEN_DECODE_EFORMAT = -1, /* malformed or unsupported input; see lumen_decoder_error */
    LUMEN_DECODE_EINVAL = -2,
    LUMEN_DECODE_ENOMEM = -3
};

typedef struct lumen_decoder lumen_decoder;

/* raw_encoding is a lumen_pcm_encoding; it, raw_rate and raw_channels apply
 * unless the stream turns out to be WAV. */
int lumen_decoder_new(int raw_encoding, int raw_rate, int raw_channels, lumen_decoder **out);
void lumen_decoder_free(lumen_decoder *d);

/* Upper bound of the frames the next feed(n) may produce. */
size_t lumen_decoder_max_frames(const lumen_decoder *d, size_t n);

/* Consumes n bytes; writes decoded mono samples to out (room for
 * lumen_decoder_max_frames(d, n)) and their count to *frames.  On
 * LUMEN_DECODE_EFORMAT, *frames still counts the samples decoded before the
 * bad bytes: they are good audio. */
int lumen_decoder_feed(lumen_decoder *d, const uint8_t *data, size_t n, float *out, size_t *frames);

/* End of stream.  Fails if the stream ended inside a WAV header; returns in
 * *dangling the bytes of an incomplete last frame that were discarded. */
int lumen_decoder_finish(lumen_decoder *d, size_t *dangling);

/* 0 until the format is known (raw: at once; WAV: once "fmt " is parsed). */
int lumen_decoder_rate(const lumen_decoder *d);
int lumen_decoder_channels(const lumen_decoder *d);
int lumen_decoder_encoding(const lumen_decoder *d);
int lumen_decoder_is_wav(const lumen_decoder *d);
const char *lumen_decoder_error(const lumen_decoder *d);

#ifdef __cplusplus
}
#endif

#endif
