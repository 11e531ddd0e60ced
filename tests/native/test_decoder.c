/* Incremental decoder: every encoding, WAV and raw alike, headers split at
 * every byte, chunks to skip, WAVE_FORMAT_EXTENSIBLE, and each malformed
 * input failing with its exact message (never a crash). */
#include "pcm.h"
#include "wav.h"

#include "check.h"

#include <stdlib.h>

/* ---- building WAV files in memory ---- */

typedef struct {
    uint8_t data[16384];
    size_t len;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put16(bytes *b, unsigned v)
{
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, p, 2);
}

static void put32(bytes *b, uint32_t v)
{
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, p, 4);
}

static void riff(bytes *b)
{
    b->len = 0;
    put(b, "RIFF", 4);
    put32(b, 0); /* the RIFF size is not trusted, so any value will do */
    put(b, "WAVE", 4);
}

/* A chunk with its pad byte when the size is odd. */
static void chunk(bytes *b, const char *id, const void *body, uint32_t size)
{
    put(b, id, 4);
    put32(b, size);
    put(b, body, size);
    if (size & 1)
        put(b, "\0", 1);
}

static void fmt(bytes *b, unsigned tag, unsigned channels, uint32_t rate, unsigned bits)
{
    put(b, "fmt ", 4);
    put32(b, 16);
    put16(b, tag);
    put16(b, channels);
    put32(b, rate);
    put32(b, rate * channels * bits / 8);
    put16(b, channels * bits / 8);
    put16(b, bits);
}

static const uint8_t SUBFORMAT_TAIL[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                           0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

static void fmt_extensible(bytes *b, unsigned subtag, unsigned channels, uint32_t rate, unsigned bits,
                           int good_guid)
{
    put(b, "fmt ", 4);
    put32(b, 40);
    put16(b, 0xFFFE);
    put16(b, channels);
    put32(b, rate);
    put32(b, rate * channels * bits / 8);
    put16(b, channels * bits / 8);
    put16(b, bits);
    put16(b, 22);          /* cbSize */
    put16(b, bits);        /* valid bits */
    put32(b, 3);           /* channel mask */
    put16(b, subtag);
    put(b, SUBFORMAT_TAIL, sizeof SUBFORMAT_TAIL);
    if (!good_guid)
        b->data[b->len - 1] ^= 0xFF;
}

/* ---- decoding in chunks ---- */

typedef struct {
    float out[16384];
    size_t len;
    int feed_rc, finish_rc;
    size_t dangling;
    char error[200];
} decoded;

/* Feeds `n` bytes split at the offsets in `cuts` (ascending, may be empty),
 * or in random pieces when `seed` is non-zero; every output buffer is
 * exactly lumen_decoder_max_frames long so ASan sees any overrun. */
static void decode_split(const uint8_t *data, size_t n, int enc, int rate, int channels, const size_t *cuts,
                         size_t n_cuts, uint64_t seed, decoded *res)
{
    lumen_decoder *d;
    memset(res, 0, sizeof *res);
    CHECK_EQ(lumen_decoder_new(enc, rate, channels, &d), LUMEN_DECODE_OK);
    size_t pos = 0, c = 0;
    while (pos < n && res->feed_rc == LUMEN_DECODE_OK) {
        size_t end;
        if (seed)
            end = pos + check_rand_range(&seed, 1, 64);
        else
            end = c < n_cuts ? cuts[c++] : n;
        if (end > n)
            end = n;
        size_t room = lumen_decoder_max_frames(d, end - pos), frames = 0;
        float *out = malloc(sizeof(float) * room);
        res->feed_rc = lumen_decoder_feed(d, data + pos, end - pos, out, &frames);
        CHECK(frames <= room);
        if (res->len + frames <= sizeof res->out / sizeof res->out[0]) {
            memcpy(res->out + res->len, out, sizeof(float) * frames);
            res->len += frames;
        }
        free(out);
        pos = end;
    }
    res->finish_rc = lumen_decoder_finish(d, &res->dangling);
    snprintf(res->error, sizeof res->error, "%s", lumen_decoder_error(d));
    lumen_decoder_free(d);
}

static void decode(const uint8_t *data, size_t n, int enc, decoded *res)
{
    decode_split(data, n, enc, 16000, 1, NULL, 0, 0, res);
}

static int same_output(const decoded *a, const decoded *b)
{
    return a->len == b->len && memcmp(a->out, b->out, sizeof(float) * a->len) == 0 &&
           a->feed_rc == b->feed_rc && a->finish_rc == b->finish_rc && strcmp(a->error, b->error) == 0;
}

/* ---- tests ---- */

static void test_new_rejects_bad_formats(void)
{
    lumen_decoder *d = (lumen_decoder *)&d;
    CHECK_EQ(lumen_decoder_new(0, 16000, 1, &d), LUMEN_DECODE_EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(lumen_decoder_new(9, 16000, 1, &d), LUMEN_DECODE_EINVAL);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 7999, 1, &d), LUMEN_DECODE_EINVAL);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 192001, 1, &d), LUMEN_DECODE_EINVAL);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 16000, 0, &d), LUMEN_DECODE_EINVAL);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 16000, 33, &d), LUMEN_DECODE_EINVAL);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 16000, 1, NULL), LUMEN_DECODE_EINVAL);
}

struct encoding_case {
    int enc;
    unsigned tag, bits;
    uint8_t in[48];
    size_t in_len;
    float expect[8];
    size_t n;
};

static void test_every_encoding(void)
{
    float f32[6] = {0.5f, -0.25f, NAN, INFINITY, 2.0f, -3.0f};
    double f64[4] = {0.125, -NAN, -INFINITY, 1e300};
    struct encoding_case cases[] = {
        {LUMEN_PCM_U8, 1, 8, {0, 128, 255, 64}, 4, {-1.0f, 0.0f, 127.0f / 128, -0.5f}, 4},
        {LUMEN_PCM_S16, 1, 16, {0x00, 0x80, 0xff, 0x7f, 0, 0, 0x00, 0x40}, 8,
         {-1.0f, 32767.0f / 32768, 0.0f, 0.5f}, 4},
        {LUMEN_PCM_S24, 1, 24, {0, 0, 0x80, 0xff, 0xff, 0x7f, 0, 0, 0x40, 0xff, 0xff, 0xff}, 12,
         {-1.0f, 8388607.0f / 8388608, 0.5f, -1.0f / 8388608}, 4},
        {LUMEN_PCM_S32, 1, 32, {0, 0, 0, 0x80, 0, 0, 0, 0x40, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff},
         16, {-1.0f, 0.5f, (float)(2147483647.0 / 2147483648.0), (float)(-1.0 / 2147483648.0)}, 4},
        {LUMEN_PCM_F32, 3, 32, {0}, sizeof f32, {0.5f, -0.25f, 0.0f, 0.0f, 1.0f, -1.0f}, 6},
        {LUMEN_PCM_F64, 3, 64, {0}, sizeof f64, {0.125f, 0.0f, 0.0f, 1.0f}, 4},
        {LUMEN_PCM_MULAW, 7, 8, {0xff, 0x7f, 0x00, 0x80}, 4, {0.0f, 0.0f, -32124.0f / 32768, 32124.0f / 32768}, 4},
        {LUMEN_PCM_ALAW, 6, 8, {0xd5, 0x55, 0xaa, 0x2a}, 4, {8.0f / 32768, -8.0f / 32768, 32256.0f / 32768,
                                                             -32256.0f / 32768}, 4},
    };
    memcpy(cases[4].in, f32, sizeof f32); /* little-endian host, as the CI machines are */
    memcpy(cases[5].in, f64, sizeof f64);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct encoding_case *t = &cases[i];
        decoded raw, wav;
        decode(t->in, t->in_len, t->enc, &raw);
        bytes b;
        riff(&b);
        fmt(&b, t->tag, 1, 16000, t->bits);
        chunk(&b, "data", t->in, (uint32_t)t->in_len);
        decode(b.data, b.len, LUMEN_PCM_S16, &wav);
        int ok = raw.len == t->n && wav.len == t->n && raw.feed_rc == 0 && wav.feed_rc == 0;
        for (size_t k = 0; ok && k < t->n; k++)
            ok = raw.out[k] == t->expect[k] && wav.out[k] == t->expect[k];
        if (!CHECK(ok))
            fprintf(stderr, "    encoding %d: raw %zu, wav %zu samples (%s)\n", t->enc, raw.len, wav.len, wav.error);
    }
    /* The G.711 tables against the formulas of the other direction's
     * segment ends: mu-law and A-law are odd functions of the sign bit. */
    for (int v = 0; v < 128; v++) {
        CHECK(lumen_mulaw_decode((uint8_t)v) == -lumen_mulaw_decode((uint8_t)(v | 0x80)));
        CHECK(lumen_alaw_decode((uint8_t)v) == -lumen_alaw_decode((uint8_t)(v | 0x80)));
    }
}

static void test_channels_are_averaged(void)
{
    /* s16 stereo: (0.5 + 0) / 2; 4 channels of s24: (1/2 + 1/4 - 1/4 - 1/2) / 4. */
    const uint8_t stereo[] = {0x00, 0x40, 0x00, 0x00, 0x00, 0xc0, 0x00, 0xc0};
    decoded res;
    decode_split(stereo, sizeof stereo, LUMEN_PCM_S16, 16000, 2, NULL, 0, 0, &res);
    CHECK_EQ(res.len, 2);
    CHECK(res.out[0] == 0.25f && res.out[1] == -0.5f);
    const uint8_t quad[] = {0, 0, 0x40, 0, 0, 0x20, 0, 0, 0xe0, 0, 0, 0xc0};
    decode_split(quad, sizeof quad, LUMEN_PCM_S24, 16000, 4, NULL, 0, 0, &res);
    CHECK_EQ(res.len, 1);
    CHECK(res.out[0] == 0.0f);
}

/* A WAV with everything a real file may carry around its audio. */
static void rich_wav(bytes *b, size_t frames)
{
    riff(b);
    chunk(b, "JUNK", "abc", 3);                     /* odd size: a pad byte follows */
    fmt(b, 1, 2, 44100, 24);
    chunk(b, "LIST", "INFOISFT\4\0\0\0lavf", 16);
    chunk(b, "fact", "\x10\0\0\0", 4);
    uint8_t audio[6 * 400];
    for (size_t i = 0; i < 6 * frames; i++)
        audio[i] = (uint8_t)(i * 37 + 11);
    chunk(b, "data", audio, (uint32_t)(6 * frames));
    chunk(b, "LIST", "INFOICMT\1\0\0\0x", 13);      /* after the audio: skipped, odd */
}

static void test_split_at_every_byte(void)
{
    bytes b;
    rich_wav(&b, 400);
    decoded ref, res;
    decode(b.data, b.len, LUMEN_PCM_S16, &ref);
    CHECK_EQ(ref.len, 400);
    CHECK_EQ(ref.feed_rc, LUMEN_DECODE_OK);
    CHECK_EQ(ref.finish_rc, LUMEN_DECODE_OK);
    CHECK_EQ(ref.dangling, 0);
    int bad = 0;
    for (size_t k = 0; k <= b.len; k++) {
        size_t cut = k;
        decode_split(b.data, b.len, LUMEN_PCM_S16, 16000, 1, &cut, 1, 0, &res);
        bad += !same_output(&ref, &res);
        size_t cuts[2] = {k / 2, k};
        decode_split(b.data, b.len, LUMEN_PCM_S16, 16000, 1, cuts, 2, 0, &res);
        bad += !same_output(&ref, &res);
    }
    for (uint64_t seed = 1; seed <= 200; seed++) {
        decode_split(b.data, b.len, LUMEN_PCM_S16, 16000, 1, NULL, 0, seed, &res);
        bad += !same_output(&ref, &res);
    }
    CHECK_EQ(bad, 0);

    /* The same frames sent raw decode to the same samples. */
    const uint8_t *audio = b.data + 12 + 12 + 24 + 24 + 12 + 8;
    CHECK(memcmp(audio - 8, "data", 4) == 0);
    decode_split(audio, 6 * 400, LUMEN_PCM_S24, 44100, 2, NULL, 0, 0, &res);
    CHECK(res.len == 400 && memcmp(res.out, ref.out, sizeof(float) * 400) == 0);
}

static void test_format_accessors(void)
{
    bytes b;
    rich_wav(&b, 10);
    lumen_decoder *d;
    float out[64];
    size_t frames;
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_F32, 8000, 3, &d), LUMEN_DECODE_OK);
    CHECK_EQ(lumen_decoder_feed(d, b.data, 30, out, &frames), LUMEN_DECODE_OK);
    CHECK_EQ(lumen_decoder_is_wav(d), 1);
    CHECK_EQ(lumen_decoder_rate(d), 0);
    CHECK_EQ(lumen_decoder_feed(d, b.data + 30, b.len - 30, out, &frames), LUMEN_DECODE_OK);
    CHECK_EQ(frames, 10);
    CHECK_EQ(lumen_decoder_rate(d), 44100);
    CHECK_EQ(lumen_decoder_channels(d), 2);
    CHECK_EQ(lumen_decoder_encoding(d), LUMEN_PCM_S24);
    lumen_decoder_free(d);
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_F32, 8000, 3, &d), LUMEN_DECODE_OK);
    CHECK_EQ(lumen_decoder_feed(d, (const uint8_t *)"\0\0\0\0", 4, out, &frames), LUMEN_DECODE_OK);
    CHECK_EQ(lumen_decoder_is_wav(d), 0);
    CHECK_EQ(lumen_decoder_rate(d), 8000);
    CHECK_EQ(lumen_decoder_channels(d), 3);
    CHECK_EQ(lumen_decoder_encoding(d), LUMEN_PCM_F32);
    lumen_decoder_free(d);
}

static void test_extensible(void)
{
    const uint8_t s24[] = {0, 0, 0x40, 0, 0, 0x40, 0, 0, 0xc0, 0, 0, 0};
    bytes b;
    decoded res;
    riff(&b);
    fmt_extensible(&b, 1, 2, 48000, 24, 1);
    chunk(&b, "data", s24, sizeof s24);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 2 && res.out[0] == 0.5f && res.out[1] == -0.25f);

    float f[2] = {0.75f, -0.5f};
    riff(&b);
    fmt_extensible(&b, 3, 1, 96000, 32, 1);
    chunk(&b, "data", f, sizeof f);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 2 && res.out[0] == 0.75f && res.out[1] == -0.5f);

    riff(&b);
    fmt_extensible(&b, 1, 2, 48000, 24, 0);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK_EQ(res.feed_rc, LUMEN_DECODE_EFORMAT);
    CHECK_STR(res.error, "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID");

    /* An EXTENSIBLE header cut to the plain 18 bytes. */
    riff(&b);
    put(&b, "fmt ", 4);
    put32(&b, 18);
    put16(&b, 0xFFFE);
    put16(&b, 1);
    put32(&b, 16000);
    put32(&b, 32000);
    put16(&b, 2);
    put16(&b, 16);
    put16(&b, 0);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK_STR(res.error, "WAVE_FORMAT_EXTENSIBLE fmt chunk is 18 bytes; 40 are required");
}

static void test_unbounded_data(void)
{
    /* Streaming writers put 0 or 0xFFFFFFFF in the data size: everything to
     * the end of the stream is audio, even bytes that look like a chunk. */
    const uint32_t sizes[] = {0, 0xFFFFFFFFu};
    for (size_t i = 0; i < 2; i++) {
        bytes b;
        riff(&b);
        fmt(&b, 1, 1, 16000, 16);
        put(&b, "data", 4);
        put32(&b, sizes[i]);
        put(&b, "LIST\2\0\0\0ab", 10);
        decoded res;
        decode(b.data, b.len, LUMEN_PCM_S16, &res);
        CHECK_EQ(res.len, 5);
        CHECK_EQ(res.finish_rc, LUMEN_DECODE_OK);
        CHECK(res.out[0] == (float)(int16_t)('L' | 'I' << 8) / 32768.0f);
    }
    /* A bounded data chunk followed by another data chunk: both are audio. */
    bytes b;
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    chunk(&b, "data", "\0\x40", 2);
    chunk(&b, "cue ", "\0\0\0\0", 4);
    chunk(&b, "data", "\0\xc0", 2);
    decoded res;
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 2 && res.out[0] == 0.5f && res.out[1] == -0.5f);
}

static void test_incomplete_frames(void)
{
    /* A raw s16 stream cut in the middle of a sample: the half sample is
     * reported as dangling, the rest decoded. */
    decoded res;
    decode((const uint8_t *)"\0\x40\0\x20\x01", 5, LUMEN_PCM_S16, &res);
    CHECK_EQ(res.len, 2);
    CHECK_EQ(res.finish_rc, LUMEN_DECODE_OK);
    CHECK_EQ(res.dangling, 1);
    /* Shorter than the 4 bytes that tell WAV from raw. */
    decode((const uint8_t *)"\x01\x02\x03", 3, LUMEN_PCM_S24, &res);
    CHECK_EQ(res.len, 1);
    CHECK_EQ(res.dangling, 0);
    decode((const uint8_t *)"\x01\x02", 2, LUMEN_PCM_S24, &res);
    CHECK_EQ(res.len, 0);
    CHECK_EQ(res.dangling, 2);
    decode((const uint8_t *)"\x80", 1, LUMEN_PCM_MULAW, &res);
    CHECK_EQ(res.len, 1);
    /* ...unless they could still begin "RIFF": then they are undecided. */
    decode((const uint8_t *)"RI", 2, LUMEN_PCM_MULAW, &res);
    CHECK(res.len == 0 && res.finish_rc == LUMEN_DECODE_OK && res.dangling == 2);
    /* An empty stream is fine. */
    decode((const uint8_t *)"", 0, LUMEN_PCM_S16, &res);
    CHECK(res.len == 0 && res.finish_rc == LUMEN_DECODE_OK && res.dangling == 0);
    /* A WAV cut inside its data chunk: the whole frames are kept. */
    bytes b;
    riff(&b);
    fmt(&b, 1, 2, 16000, 16);
    put(&b, "data", 4);
    put32(&b, 400);
    put(&b, "\0\x40\0\x40\0\x40", 6);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 1 && res.finish_rc == LUMEN_DECODE_OK && res.dangling == 2);
}

/* Builds RIFF + fmt(tag, channels, rate, bits) + data, decodes, and checks
 * the exact error. */
static void expect_fmt_error(unsigned tag, unsigned channels, uint32_t rate, unsigned bits, const char *message)
{
    bytes b;
    riff(&b);
    fmt(&b, tag, channels, rate, bits);
    chunk(&b, "data", "\0\0\0\0\0\0\0\0", 8);
    decoded res;
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK_EQ(res.feed_rc, LUMEN_DECODE_EFORMAT);
    CHECK_EQ(res.finish_rc, LUMEN_DECODE_EFORMAT);
    CHECK_EQ(res.len, 0);
    CHECK_STR(res.error, message);
}

static void expect_error(const bytes *b, int feed_rc, const char *message)
{
    decoded res;
    decode(b->data, b->len, LUMEN_PCM_S16, &res);
    CHECK_EQ(res.feed_rc, feed_rc);
    CHECK_EQ(res.finish_rc, LUMEN_DECODE_EFORMAT);
    CHECK_STR(res.error, message);
}

static void test_malformed_inputs(void)
{
    expect_fmt_error(1, 1, 0, 16, "WAV fmt chunk declares 0 Hz sample rate");
    expect_fmt_error(1, 1, 7999, 16, "WAV sample rate 7999 Hz is outside 8000-192000 Hz");
    expect_fmt_error(1, 1, 384000, 16, "WAV sample rate 384000 Hz is outside 8000-192000 Hz");
    expect_fmt_error(1, 40, 16000, 16, "WAV declares 40 channels; at most 32 are supported");
    expect_fmt_error(1, 0, 16000, 16, "WAV fmt chunk declares 0 channels");
    expect_fmt_error(0x55, 2, 44100, 16,
                     "unsupported WAV format tag 0x0055 (MPEG layer 3); send PCM, float, A-law or mu-law");
    expect_fmt_error(0x2, 1, 8000, 4,
                     "unsupported WAV format tag 0x0002 (MS ADPCM); send PCM, float, A-law or mu-law");
    expect_fmt_error(0x11, 1, 8000, 4,
                     "unsupported WAV format tag 0x0011 (IMA ADPCM); send PCM, float, A-law or mu-law");
    expect_fmt_error(0x1234, 1, 8000, 16, "unsupported WAV format tag 0x1234; send PCM, float, A-law or mu-law");
    expect_fmt_error(1, 1, 16000, 12, "WAV format tag 0x0001 with 12 bits per sample is not supported");
    expect_fmt_error(3, 1, 16000, 16, "WAV format tag 0x0003 with 16 bits per sample is not supported");
    expect_fmt_error(7, 1, 8000, 16, "WAV format tag 0x0007 with 16 bits per sample is not supported");

    bytes b;
    /* Block align that disagrees with channels and bits. */
    riff(&b);
    fmt(&b, 1, 2, 16000, 16);
    b.data[b.len - 4] = 3;
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV block align 3 does not match 2 channels of 16 bits (expected 4)");

    /* 2^31-byte chunk sizes. */
    riff(&b);
    put(&b, "fmt ", 4);
    put32(&b, 0x80000000u);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV fmt chunk declares 2147483648 bytes; expected 16 to 1024");
    riff(&b);
    put(&b, "fmt ", 4);
    put32(&b, 14);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV fmt chunk declares 14 bytes; expected 16 to 1024");
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    put(&b, "LIST", 4);
    put32(&b, 0x80000000u);
    expect_error(&b, LUMEN_DECODE_EFORMAT,
                 "WAV chunk 'LIST' declares 2147483648 bytes; non-audio chunks over 16777216 bytes are refused");
    riff(&b);
    put(&b, "\x01x\xff ", 4);
    put32(&b, 0xFFFFFFFFu);
    expect_error(&b, LUMEN_DECODE_EFORMAT,
                 "WAV chunk '?x? ' declares 4294967295 bytes; non-audio chunks over 16777216 bytes are refused");

    /* Order of chunks. */
    riff(&b);
    chunk(&b, "data", "\0\0", 2);
    fmt(&b, 1, 1, 16000, 16);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV data chunk comes before the fmt chunk");
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    fmt(&b, 1, 1, 16000, 16);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV has a second fmt chunk");

    /* RIFF that is not WAVE. */
    riff(&b);
    memcpy(b.data + 8, "AVI ", 4);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "stream has a RIFF header that is not RIFF/WAVE (form type 'AVI ')");
    /* ... with bytes that are not text (found by tests/fuzz/fuzz_decode.py: it broke the bindings). */
    riff(&b);
    memcpy(b.data + 8, "\x80>\0A", 4);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "stream has a RIFF header that is not RIFF/WAVE (form type '?>?A')");

    /* Data size that is not a whole number of frames. */
    riff(&b);
    fmt(&b, 1, 2, 16000, 16);
    chunk(&b, "data", "\0\0\0\0\0\0", 6);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "WAV data chunk size is not a whole number of 4-byte frames");

    /* Streams that end inside a header fail at finish. */
    riff(&b);
    b.len = 7;
    expect_error(&b, LUMEN_DECODE_OK, "stream ended inside the RIFF header (7 of 12 bytes)");
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    b.len -= 5;
    expect_error(&b, LUMEN_DECODE_OK, "stream ended inside the WAV fmt chunk");
    riff(&b);
    chunk(&b, "JUNK", "abcd", 4);
    expect_error(&b, LUMEN_DECODE_OK, "stream ended before the WAV fmt chunk");
    riff(&b);
    put(&b, "fmt", 3);
    expect_error(&b, LUMEN_DECODE_OK, "stream ended before the WAV fmt chunk");
    /* ...but a cut header after the audio loses nothing. */
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    chunk(&b, "data", "\0\x40", 2);
    put(&b, "LIS", 3);
    decoded res;
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 1 && res.finish_rc == LUMEN_DECODE_OK && res.dangling == 3);
}

/* Other containers are refused by name; RF64/BW64 and WAV files one after
 * another decode; the samples before bad bytes are still counted. */
static void test_containers(void)
{
    bytes b;
    decoded res;
    static const char *const refused[][2] = {
        {"fLaC", "stream starts with 'fLaC': FLAC is not supported; send WAV or raw PCM"},
        {"RIFX", "stream starts with 'RIFX': big-endian WAV (RIFX) is not supported; send WAV or raw PCM"},
        {"\x1a\x45\xdf\xa3", "stream starts with '?E?\?': WebM/Matroska (e.g. a browser's MediaRecorder) "
                             "is not supported; send WAV or raw PCM"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        b.len = 0;
        put(&b, refused[i][0], 4);
        put32(&b, 0);
        expect_error(&b, LUMEN_DECODE_EFORMAT, refused[i][1]);
    }
    /* A raw stream that only begins like a magic is raw. */
    b.len = 0;
    put(&b, "fLa\0", 4);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.feed_rc == LUMEN_DECODE_OK && res.len == 2);

    /* RF64: sizes 0xFFFFFFFF, a ds64 chunk to skip. */
    b.len = 0;
    put(&b, "RF64", 4);
    put32(&b, 0xFFFFFFFFu);
    put(&b, "WAVE", 4);
    chunk(&b, "ds64", "\0\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\0\0\0\0", 28);
    fmt(&b, 1, 1, 16000, 16);
    put(&b, "data", 4);
    put32(&b, 0xFFFFFFFFu);
    put(&b, "\0\x40\0\xc0", 4);
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.feed_rc == LUMEN_DECODE_OK && res.finish_rc == LUMEN_DECODE_OK && res.len == 2);
    CHECK(res.out[0] == 0.5f && res.out[1] == -0.5f);

    /* Two WAV files, split at every byte: both files' samples. */
    riff(&b);
    fmt(&b, 1, 1, 16000, 16);
    chunk(&b, "data", "\0\x40", 2);
    size_t first = b.len;
    put(&b, "RIFF", 4);
    put32(&b, 0);
    put(&b, "WAVE", 4);
    fmt(&b, 1, 2, 16000, 8);
    chunk(&b, "data", "\x80\x80\xc0\xc0", 4);
    for (size_t cut = 0; cut <= b.len; cut++) {
        decode_split(b.data, b.len, LUMEN_PCM_S16, 16000, 1, &cut, 1, 0, &res);
        CHECK(res.feed_rc == LUMEN_DECODE_OK && res.finish_rc == LUMEN_DECODE_OK && res.len == 3);
        CHECK(res.out[0] == 0.5f && res.out[1] == 0.0f && res.out[2] == 0.5f);
    }
    /* ...but not at another rate: the error comes with the first file's sample. */
    b.len = first;
    put(&b, "RIFF", 4);
    put32(&b, 0);
    put(&b, "WAVE", 4);
    fmt(&b, 1, 1, 8000, 16);
    expect_error(&b, LUMEN_DECODE_EFORMAT, "a WAV header inside the stream declares 8000 Hz; the stream is 16000 Hz");
    decode(b.data, b.len, LUMEN_PCM_S16, &res);
    CHECK(res.len == 1 && res.out[0] == 0.5f);
}

static void test_errors_are_sticky(void)
{
    bytes b;
    riff(&b);
    fmt(&b, 0x55, 1, 16000, 16);
    lumen_decoder *d;
    float out[64];
    size_t frames = 7, dangling;
    CHECK_EQ(lumen_decoder_new(LUMEN_PCM_S16, 16000, 1, &d), LUMEN_DECODE_OK);
    CHECK_EQ(lumen_decoder_feed(d, b.data, b.len, out, &frames), LUMEN_DECODE_EFORMAT);
    char first[200];
    snprintf(first, sizeof first, "%s", lumen_decoder_error(d));
    CHECK_EQ(lumen_decoder_feed(d, (const uint8_t *)"\0\0\0\0", 4, out, &frames), LUMEN_DECODE_EFORMAT);
    CHECK_EQ(frames, 0);
    CHECK_EQ(lumen_decoder_feed(d, NULL, 0, out, &frames), LUMEN_DECODE_EFORMAT);
    CHECK_EQ(lumen_decoder_finish(d, &dangling), LUMEN_DECODE_EFORMAT);
    CHECK_STR(lumen_decoder_error(d), first);
    CHECK_EQ(lumen_decoder_feed(d, NULL, 4, out, &frames), LUMEN_DECODE_EINVAL);
    lumen_decoder_free(d);
}

/* Random corruption of a valid file, decoded in random pieces: only OK or
 * EFORMAT with a message, never a crash or an overrun (ASan watches). */
static void test_corruption_never_crashes(void)
{
    bytes good, b;
    rich_wav(&good, 40);
    uint64_t rng = 99;
    int bad = 0;
    for (int round = 0; round < 20000; round++) {
        b = good;
        int flips = (int)check_rand_range(&rng, 1, 6);
        for (int i = 0; i < flips; i++) {
            /* Mostly the header, where the parsing is. */
            size_t at = check_rand_range(&rng, 0, round % 4 ? 80 : b.len - 1);
            b.data[at] = (uint8_t)check_rand(&rng);
        }
        b.len = check_rand_range(&rng, 0, b.len);
        decoded res;
        decode_split(b.data, b.len, LUMEN_PCM_S16, 16000, 1, NULL, 0, round + 1, &res);
        int failed = res.feed_rc == LUMEN_DECODE_EFORMAT || res.finish_rc == LUMEN_DECODE_EFORMAT;
        bad += res.feed_rc != LUMEN_DECODE_OK && res.feed_rc != LUMEN_DECODE_EFORMAT;
        bad += failed != (res.error[0] != '\0');
        for (size_t k = 0; k < res.len; k++)
            bad += !(res.out[k] >= -1.0f && res.out[k] <= 1.0f);
    }
    CHECK_EQ(bad, 0);
}

int main(void)
{
    test_new_rejects_bad_formats();
    test_every_encoding();
    test_channels_are_averaged();
    test_split_at_every_byte();
    test_format_accessors();
    test_extensible();
    test_unbounded_data();
    test_incomplete_frames();
    test_malformed_inputs();
    test_containers();
    test_errors_are_sticky();
    test_corruption_never_crashes();
    return check_report("decoder");
}
