/* libFuzzer target: the incremental decoder.
 *
 * Input layout: byte 0 picks the raw encoding, bytes 1-2 the raw rate
 * (8000-192000 Hz), byte 3 the raw channel count, bytes 4-7 seed the
 * chunking; the rest is the stream.  The stream is decoded once in one
 * piece and once split into random-sized chunks: both must give the same
 * samples, return codes and error message (chunking never matters), every
 * sample must lie in [-1, 1], and every output buffer is exactly
 * lumen_decoder_max_frames long so ASan catches an overrun.
 */
#include "pcm.h"
#include "wav.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *out;
    size_t len, cap;
    int feed_rc, finish_rc;
    size_t dangling;
    char error[256];
} result;

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void decode(const uint8_t *data, size_t n, int enc, int rate, int channels, uint64_t seed, result *r)
{
    lumen_decoder *d;
    memset(r, 0, sizeof *r);
    if (lumen_decoder_new(enc, rate, channels, &d) != LUMEN_DECODE_OK)
        __builtin_trap();
    r->cap = n + 16;
    r->out = malloc(sizeof(float) * r->cap);
    size_t pos = 0;
    while (pos < n && r->feed_rc == LUMEN_DECODE_OK) {
        /* seed 0: one piece; otherwise mostly small pieces, sometimes large. */
        size_t piece = n - pos;
        if (seed) {
            uint64_t v = next_random(&seed);
            size_t limit = v & 1 ? 16 : 4096;
            piece = 1 + (size_t)((v >> 8) % limit);
            if (piece > n - pos)
                piece = n - pos;
        }
        size_t room = lumen_decoder_max_frames(d, piece), frames = 0;
        float *out = malloc(sizeof(float) * room);
        r->feed_rc = lumen_decoder_feed(d, data + pos, piece, out, &frames);
        if (frames > room || r->len + frames > r->cap)
            __builtin_trap();
        memcpy(r->out + r->len, out, sizeof(float) * frames);
        r->len += frames;
        free(out);
        pos += piece;
    }
    r->finish_rc = lumen_decoder_finish(d, &r->dangling);
    strncpy(r->error, lumen_decoder_error(d), sizeof r->error - 1);
    lumen_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    int enc = 1 + data[0] % 8;
    int rate = LUMEN_MIN_RATE + (int)((uint32_t)(data[1] | data[2] << 8) * (LUMEN_MAX_RATE - LUMEN_MIN_RATE) / 65535u);
    int channels = 1 + data[3] % LUMEN_MAX_CHANNELS;
    uint64_t seed = ((uint64_t)data[4] | (uint64_t)data[5] << 8 | (uint64_t)data[6] << 16 |
                     (uint64_t)data[7] << 24) + 1;
    data += 8;
    size -= 8;
    result whole, split;
    decode(data, size, enc, rate, channels, 0, &whole);
    decode(data, size, enc, rate, channels, seed, &split);
    if (whole.len != split.len || whole.feed_rc != split.feed_rc || whole.finish_rc != split.finish_rc ||
        strcmp(whole.error, split.error) != 0 || memcmp(whole.out, split.out, sizeof(float) * whole.len) != 0)
        __builtin_trap();
    if (whole.feed_rc != LUMEN_DECODE_OK && whole.feed_rc != LUMEN_DECODE_EFORMAT)
        __builtin_trap();
    if ((whole.feed_rc == LUMEN_DECODE_EFORMAT || whole.finish_rc == LUMEN_DECODE_EFORMAT) != (whole.error[0] != 0))
        __builtin_trap();
    for (const char *c = whole.error; *c; c++)
        if (*c < 32 || *c > 126)  /* messages are printable ASCII (the bindings decode them) */
            __builtin_trap();
    for (size_t i = 0; i < whole.len; i++)
        if (!(whole.out[i] >= -1.0f && whole.out[i] <= 1.0f))
            __builtin_trap();
    free(whole.out);
    free(split.out);
    return 0;
}
