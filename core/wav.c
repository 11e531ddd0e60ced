#include "wav.h"

#include "pcm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FMT_BYTES 1024               /* fmt chunks are 16, 18 or 40 bytes */
#define MAX_SKIPPED_CHUNK (16u << 20)    /* larger non-audio chunks are refused */
#define MAX_FRAME_BYTES (8 * LUMEN_MAX_CHANNELS)

enum state {
    S_SNIFF,        /* deciding between raw and WAV (first 4 bytes) */
    S_RIFF,         /* reading the 12-byte RIFF header */
    S_CHUNK,        /* reading an 8-byte chunk header */
    S_FMT,          /* reading the fmt chunk body */
    S_SKIP,         /* skipping an unknown chunk body */
    S_PAD,          /* after an odd-sized chunk: its pad byte, if the writer wrote one */
    S_DATA,         /* audio frames */
    S_FAILED
};

struct lumen_decoder {
    enum state state;
    int raw_encoding, raw_rate, raw_channels;
    int is_wav;
    int encoding, rate, channels, frame_bytes;
    int have_fmt;
    uint8_t head[MAX_FMT_BYTES];    /* header bytes collected so far */
    size_t head_len, head_need;
    uint64_t remaining;             /* bytes left in the current chunk body */
    int unbounded;                  /* data chunk runs to the end of the stream */
    int pad;                        /* pad byte to skip after an odd-sized chunk */
    char chunk_id[5];
    char riff_id[5];                /* RIFF, RF64 or BW64: the current file's */
    uint8_t carry[MAX_FRAME_BYTES]; /* bytes of an incomplete frame */
    size_t carry_len;
    char error[200];
};

static int fail(lumen_decoder *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
    d->state = S_FAILED;
    return LUMEN_DECODE_EFORMAT;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* A four-character code as text for messages: non-printable bytes become '?'
 * (messages must stay ASCII: the bindings decode them as text). */
static void printable_id(char dst[5], const uint8_t *src)
{
    for (int i = 0; i < 4; i++)
        dst[i] = src[i] >= 32 && src[i] <= 126 ? (char)src[i] : '?';
    dst[4] = '\0';
}

/* The first four bytes of the streams the decoder recognises: WAV in its
 * three little-endian layouts (RF64 and BW64 only add a ds64 chunk, skipped,
 * for 64-bit sizes, and write 0xFFFFFFFF as the data size, which means "to the
 * end of the stream" here), and containers that are refused by name rather
 * than decoded as raw noise.  A raw stream that starts with one of these
 * magics by chance is refused too: four given bytes, once a stream. */
struct magic {
    char id[5];
    const char *refused;  /* why it is refused; NULL: a WAV layout */
};

static const struct magic MAGICS[] = {
    {"RIFF", NULL},
    {"RF64", NULL},
    {"BW64", NULL},
    {"RIFX", "big-endian WAV (RIFX) is not supported"},
    {"fLaC", "FLAC is not supported"},
    {"OggS", "Ogg (Opus, Vorbis) is not supported"},
    {"\x1a\x45\xdf\xa3", "WebM/Matroska (e.g. a browser's MediaRecorder) is not supported"},
    {"FORM", "AIFF is not supported"},
    {"caff", "Core Audio Format (CAF) is not supported"},
};

/* The magic that the n (<= 4) bytes at p begin, or NULL. */
static const struct magic *sniff(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < sizeof MAGICS / sizeof MAGICS[0]; i++)
        if (memcmp(p, MAGICS[i].id, n) == 0)
            return &MAGICS[i];
    return NULL;
}

/* Whether a chunk id begins a WAV file. */
static int is_wav_header(const uint8_t *id)
{
    const struct magic *m = sniff(id, 4);
    return m != NULL && m->refused == NULL;
}

static void set_format(lumen_decoder *d, int encoding, int rate, int channels)
{
    d->encoding = encoding;
    d->rate = rate;
    d->channels = channels;
    d->frame_bytes = lumen_pcm_sample_bytes(encoding) * channels;
}

int lumen_decoder_new(int raw_encoding, int raw_rate, int raw_channels, lumen_decoder **out)
{
    if (out == NULL)
        return LUMEN_DECODE_EINVAL;
    *out = NULL;
    if (lumen_pcm_sample_bytes(raw_encoding) == 0 || raw_rate < LUMEN_MIN_RATE ||
        raw_rate > LUMEN_MAX_RATE || raw_channels < 1 || raw_channels > LUMEN_MAX_CHANNELS)
        return LUMEN_DECODE_EINVAL;
    lumen_decoder *d = calloc(1, sizeof *d);
    if (d == NULL)
        return LUMEN_DECODE_ENOMEM;
    d->raw_encoding = raw_encoding;
    d->raw_rate = raw_rate;
    d->raw_channels = raw_channels;
    d->state = S_SNIFF;
    d->head_need = 4;
    *out = d;
    return LUMEN_DECODE_OK;
}

void lumen_decoder_free(lumen_decoder *d)
{
    free(d);
}

size_t lumen_decoder_max_frames(const lumen_decoder *d, size_t n)
{
    /* The smallest frame is one byte; sniffed bytes may be replayed as audio. */
    return n + d->carry_len + d->head_len + 1;
}

/* Collects header bytes until head_need are present; returns bytes used. */
static size_t collect(lumen_decoder *d, const uint8_t *data, size_t n)
{
    size_t want = d->head_need - d->head_len;
    size_t take = n < want ? n : want;
    memcpy(d->head + d->head_len, data, take);
    d->head_len += take;
    return take;
}

static int parse_fmt(lumen_decoder *d)
{
    const uint8_t *f = d->head;
    size_t size = d->head_len;
    if (size < 16)
        return fail(d, "WAV fmt chunk is %zu bytes; at least 16 are required", size);
    unsigned tag = le16(f);
    unsigned channels = le16(f + 2);
    uint32_t rate = le32(f + 4);
    unsigned block_align = le16(f + 12);
    unsigned bits = le16(f + 14);
    if (tag == 0xFFFE) {
        static const uint8_t guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                              0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        if (size < 40 || le16(f + 16) < 22)
            return fail(d, "WAVE_FORMAT_EXTENSIBLE fmt chunk is %zu bytes; 40 are required", size);
        if (memcmp(f + 26, guid_tail, sizeof guid_tail) != 0)
            return fail(d, "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID");
        tag = le16(f + 24);
    }
    int encoding = 0;
    switch (tag) {
    case 1:
        encoding = bits == 8 ? LUMEN_PCM_U8 : bits == 16 ? LUMEN_PCM_S16
                 : bits == 24 ? LUMEN_PCM_S24 : bits == 32 ? LUMEN_PCM_S32 : 0;
        break;
    case 3:
        encoding = bits == 32 ? LUMEN_PCM_F32 : bits == 64 ? LUMEN_PCM_F64 : 0;
        break;
    case 6:
        encoding = bits == 8 ? LUMEN_PCM_ALAW : 0;
        break;
    case 7:
        encoding = bits == 8 ? LUMEN_PCM_MULAW : 0;
        break;
    case 0x0002:
        return fail(d, "unsupported WAV format tag 0x0002 (MS ADPCM); send PCM, float, A-law or mu-law");
    case 0x0011:
        return fail(d, "unsupported WAV format tag 0x0011 (IMA ADPCM); send PCM, float, A-law or mu-law");
    case 0x0055:
        return fail(d, "unsupported WAV format tag 0x0055 (MPEG layer 3); send PCM, float, A-law or mu-law");
    default:
        return fail(d, "unsupported WAV format tag 0x%04X; send PCM, float, A-law or mu-law", tag);
    }
    if (encoding == 0)
        return fail(d, "WAV format tag 0x%04X with %u bits per sample is not supported", tag, bits);
    if (channels == 0)
        return fail(d, "WAV fmt chunk declares 0 channels");
    if (channels > LUMEN_MAX_CHANNELS)
        return fail(d, "WAV declares %u channels; at most %d are supported", channels, LUMEN_MAX_CHANNELS);
    if (rate == 0)
        return fail(d, "WAV fmt chunk declares 0 Hz sample rate");
    if (rate < LUMEN_MIN_RATE || rate > LUMEN_MAX_RATE)
        return fail(d, "WAV sample rate %u Hz is outside %d-%d Hz", rate, LUMEN_MIN_RATE, LUMEN_MAX_RATE);
    unsigned expected = (unsigned)lumen_pcm_sample_bytes(encoding) * channels;
    if (block_align != expected)
        return fail(d, "WAV block align %u does not match %u channels of %u bits (expected %u)",
                    block_align, channels, bits, expected);
    if (d->rate != 0 && (int)rate != d->rate)
        return fail(d, "a WAV header inside the stream declares %u Hz; the stream is %d Hz", rate, d->rate);
    set_format(d, encoding, (int)rate, (int)channels);
    d->have_fmt = 1;
    return LUMEN_DECODE_OK;
}

/* Decodes whole frames of audio bytes, carrying an incomplete one over. */
static size_t decode_audio(lumen_decoder *d, const uint8_t *data, size_t n, float *out)
{
    size_t frames = 0;
    size_t fb = (size_t)d->frame_bytes;
    if (d->carry_len > 0) {
        size_t take = fb - d->carry_len < n ? fb - d->carry_len : n;
        memcpy(d->carry + d->carry_len, data, take);
        d->carry_len += take;
        data += take;
        n -= take;
        if (d->carry_len < fb)
            return 0;
        lumen_pcm_to_mono(d->carry, 1, d->encoding, d->channels, out);
        frames = 1;
        d->carry_len = 0;
    }
    size_t whole = n / fb;
    lumen_pcm_to_mono(data, whole, d->encoding, d->channels, out + frames);
    frames += whole;
    d->carry_len = n - whole * fb;
    memcpy(d->carry, data + whole * fb, d->carry_len);
    return frames;
}

int lumen_decoder_feed(lumen_decoder *d, const uint8_t *data, size_t n, float *out, size_t *frames)
{
    if (d == NULL || frames == NULL || (n > 0 && (data == NULL || out == NULL)))
        return LUMEN_DECODE_EINVAL;
    *frames = 0;
    if (d->state == S_FAILED)
        return LUMEN_DECODE_EFORMAT;
    while (n > 0) {
        size_t used = 0;
        switch (d->state) {
        case S_SNIFF: {
            used = collect(d, data, n);
            /* Decide as soon as the bytes cannot begin a known magic, so a raw
             * stream shorter than 4 bytes still yields its samples. */
            const struct magic *m = sniff(d->head, d->head_len);
            if (d->head_len < d->head_need && m != NULL)
                break;
            if (m != NULL && m->refused != NULL) {
                printable_id(d->chunk_id, d->head);
                return fail(d, "stream starts with '%s': %s; send WAV or raw PCM", d->chunk_id, m->refused);
            }
            if (m != NULL) {
                memcpy(d->riff_id, m->id, sizeof d->riff_id);
                d->is_wav = 1;
                d->state = S_RIFF;
                d->head_need = 12;
            } else {
                /* Raw audio: the sniffed bytes are audio too. */
                set_format(d, d->raw_encoding, d->raw_rate, d->raw_channels);
                d->state = S_DATA;
                d->unbounded = 1;
                *frames += decode_audio(d, d->head, d->head_len, out + *frames);
                d->head_len = 0;
            }
            break;
        }
        case S_RIFF:
            used = collect(d, data, n);
            if (d->head_len < d->head_need)
                break;
            if (memcmp(d->head + 8, "WAVE", 4) != 0) {
                printable_id(d->chunk_id, d->head + 8);
                return fail(d, "stream has a %s header that is not %s/WAVE (form type '%s')",
                            d->riff_id, d->riff_id, d->chunk_id);
            }
            d->have_fmt = 0;  /* (a WAV after another must bring its own) */
            d->state = S_CHUNK;
            d->head_len = 0;
            d->head_need = 8;
            break;
        case S_CHUNK: {
            used = collect(d, data, n);
            if (d->head_len < d->head_need)
                break;
            uint32_t size = le32(d->head + 4);
            printable_id(d->chunk_id, d->head);
            d->head_len = 0;
            d->pad = size & 1;
            if (is_wav_header(d->head)) {
                /* Another WAV file after this one (a recorder that sends each
                 * slice as a file): its header follows; its audio continues
                 * the stream. */
                memcpy(d->riff_id, d->chunk_id, sizeof d->riff_id);
                d->head_len = 8;
                d->head_need = 12;
                d->state = S_RIFF;
            } else if (memcmp(d->head, "fmt ", 4) == 0) {
                if (d->have_fmt)
                    return fail(d, "WAV has a second fmt chunk");
                if (size < 16 || size > MAX_FMT_BYTES)
                    return fail(d, "WAV fmt chunk declares %u bytes; expected 16 to %d", size, MAX_FMT_BYTES);
                d->head_need = size;
                d->state = S_FMT;
            } else if (memcmp(d->head, "data", 4) == 0) {
                if (!d->have_fmt)
                    return fail(d, "WAV data chunk comes before the fmt chunk");
                d->unbounded = size == 0 || size == 0xFFFFFFFFu;
                d->remaining = size;
                d->state = S_DATA;
            } else {
                if (size > MAX_SKIPPED_CHUNK)
                    return fail(d, "WAV chunk '%s' declares %u bytes; non-audio chunks over %u bytes are refused",
                                d->chunk_id, size, MAX_SKIPPED_CHUNK);
                d->remaining = size;
                d->state = S_SKIP;
            }
            break;
        }
        case S_FMT: {
            used = collect(d, data, n);
            if (d->head_len < d->head_need)
                break;
            int rc = parse_fmt(d);
            if (rc != LUMEN_DECODE_OK)
                return rc;
            d->head_len = 0;
            d->head_need = 8;
            d->state = d->pad ? S_PAD : S_CHUNK;
            break;
        }
        case S_SKIP:
            used = d->remaining < n ? (size_t)d->remaining : n;
            d->remaining -= used;
            if (d->remaining == 0) {
                d->state = d->pad ? S_PAD : S_CHUNK;
                d->head_need = 8;
            }
            break;
        case S_PAD:
            /* The pad byte is zero and no chunk id starts with one: any
             * other byte begins the next chunk (its writer left the pad
             * out, as some do; sox and libsndfile read those files too). */
            used = data[0] == 0 ? 1 : 0;
            d->state = S_CHUNK;
            d->head_need = 8;
            break;
        case S_DATA:
            used = d->unbounded ? n : (d->remaining < n ? (size_t)d->remaining : n);
            *frames += decode_audio(d, data, used, out + *frames);
            if (!d->unbounded) {
                d->remaining -= used;
                if (d->remaining == 0) {
                    if (d->carry_len != 0)
                        return fail(d, "WAV data chunk size is not a whole number of %d-byte frames",
                                    d->frame_bytes);
                    d->state = d->pad ? S_PAD : S_CHUNK;
                    d->head_need = 8;
                }
            }
            break;
        case S_FAILED:
            return LUMEN_DECODE_EFORMAT;
        }
        data += used;
        n -= used;
    }
    return LUMEN_DECODE_OK;
}

int lumen_decoder_finish(lumen_decoder *d, size_t *dangling)
{
    if (d == NULL || dangling == NULL)
        return LUMEN_DECODE_EINVAL;
    *dangling = d->carry_len;
    d->carry_len = 0;
    switch (d->state) {
    case S_FAILED:
        return LUMEN_DECODE_EFORMAT;
    case S_SNIFF:
        if (d->head_len == 0)
            return LUMEN_DECODE_OK;  /* an empty stream */
        /* Fewer than 4 bytes of raw audio: an incomplete frame at most. */
        *dangling = d->head_len;
        d->head_len = 0;
        return LUMEN_DECODE_OK;
    case S_RIFF:
        return fail(d, "stream ended inside the RIFF header (%zu of 12 bytes)", d->head_len);
    case S_FMT:
        return fail(d, "stream ended inside the WAV fmt chunk");
    case S_CHUNK:
    case S_SKIP:
    case S_PAD:
        if (!d->have_fmt)
            return fail(d, "stream ended before the WAV fmt chunk");
        /* Trailing bytes after the audio (a cut chunk header, a skipped
         * chunk) carry no audio: nothing is lost. */
        *dangling += d->head_len;
        d->head_len = 0;
        return LUMEN_DECODE_OK;
    case S_DATA:
        return LUMEN_DECODE_OK;
    }
    return LUMEN_DECODE_OK;
}

int lumen_decoder_rate(const lumen_decoder *d) { return d->rate; }
int lumen_decoder_channels(const lumen_decoder *d) { return d->channels; }
int lumen_decoder_encoding(const lumen_decoder *d) { return d->encoding; }
int lumen_decoder_is_wav(const lumen_decoder *d) { return d->is_wav; }
const char *lumen_decoder_error(const lumen_decoder *d) { return d->error; }
