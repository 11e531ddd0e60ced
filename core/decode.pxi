# Incremental WAV / raw PCM decoder (core/wav.c, core/pcm.c).

from libc.stdint cimport uint8_t

cdef extern from "pcm.h":
    int LUMEN_PCM_U8, LUMEN_PCM_S16, LUMEN_PCM_S24, LUMEN_PCM_S32, LUMEN_PCM_F32
    int LUMEN_PCM_F64, LUMEN_PCM_MULAW, LUMEN_PCM_ALAW

cdef extern from "wav.h":
    ctypedef struct lumen_decoder:
        pass
    int LUMEN_DECODE_OK
    int LUMEN_DECODE_EFORMAT
    int LUMEN_DECODE_ENOMEM
    int lumen_decoder_new(int raw_encoding, int raw_rate, int raw_channels, lumen_decoder **out)
    void lumen_decoder_free(lumen_decoder *d)
    size_t lumen_decoder_max_frames(const lumen_decoder *d, size_t n) nogil
    int lumen_decoder_feed(lumen_decoder *d, const uint8_t *data, size_t n, float *out, size_t *frames) nogil
    int lumen_decoder_finish(lumen_decoder *d, size_t *dangling)
    int lumen_decoder_rate(const lumen_decoder *d)
    int lumen_decoder_channels(const lumen_decoder *d)
    int lumen_decoder_encoding(const lumen_decoder *d)
    int lumen_decoder_is_wav(const lumen_decoder *d)
    const char *lumen_decoder_error(const lumen_decoder *d)

import numpy as _dec_np

ENCODINGS = {
    "pcm_u8": LUMEN_PCM_U8, "pcm_s16le": LUMEN_PCM_S16, "pcm_s24le": LUMEN_PCM_S24,
    "pcm_s32le": LUMEN_PCM_S32, "pcm_f32le": LUMEN_PCM_F32, "pcm_f64le": LUMEN_PCM_F64,
    "mulaw": LUMEN_PCM_MULAW, "alaw": LUMEN_PCM_ALAW,
}
_ENCODING_NAMES = {v: k for k, v in ENCODINGS.items()}


class DecodeError(ValueError):
    """Malformed or unsupported audio; the message says what was wrong.

    ``decoded``: the samples the failing call decoded before the bad bytes.
    """

    def __init__(self, message, decoded=None):
        super().__init__(message)
        self.decoded = decoded


cdef class Decoder:
    """``Decoder(encoding, rate, channels)``: see lumen.audio.decoder."""

    cdef lumen_decoder *_d

    def __cinit__(self, str encoding, int rate, int channels):
        rc = lumen_decoder_new(ENCODINGS[encoding], rate, channels, &self._d)
        if rc == LUMEN_DECODE_ENOMEM:
            raise MemoryError("decoder")
        if rc != LUMEN_DECODE_OK:
            raise ValueError(f"invalid raw format {encoding} {rate} Hz {channels} ch")

    def __dealloc__(self):
        lumen_decoder_free(self._d)

    def feed(self, const uint8_t[::1] data not None):
        cdef size_t n = data.shape[0]
        out = _dec_np.empty(lumen_decoder_max_frames(self._d, n), dtype=_dec_np.float32)
        cdef float[::1] view = out
        cdef size_t frames = 0
        cdef int rc
        cdef const uint8_t *src = &data[0] if n else NULL
        with nogil:
            rc = lumen_decoder_feed(self._d, src, n, &view[0], &frames)
        if rc == LUMEN_DECODE_EFORMAT:
            raise DecodeError(lumen_decoder_error(self._d).decode(), out[:frames])
        if rc != LUMEN_DECODE_OK:
            raise MemoryError("decoder")
        return out[:frames]

    def finish(self):
        """End of stream; returns the bytes of an incomplete last frame that were dropped."""
        cdef size_t dangling = 0
        rc = lumen_decoder_finish(self._d, &dangling)
        if rc == LUMEN_DECODE_EFORMAT:
            raise DecodeError(lumen_decoder_error(self._d).decode())
        return dangling

    @property
    def sample_rate(self):
        return lumen_decoder_rate(self._d) or None

    @property
    def channels(self):
        return lumen_decoder_channels(self._d) or None

    @property
    def encoding(self):
        return _ENCODING_NAMES.get(lumen_decoder_encoding(self._d))

    @property
    def is_wav(self):
        return bool(lumen_decoder_is_wav(self._d))
