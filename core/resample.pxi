# Streaming sample-rate converter (core/resample.c).

cdef extern from "resample.h":
    ctypedef struct lumen_resampler:
        pass
    int LUMEN_RESAMPLE_OK
    int LUMEN_RESAMPLE_ENOMEM
    int lumen_resampler_new(int in_rate, int out_rate, lumen_resampler **out)
    void lumen_resampler_free(lumen_resampler *r)
    int lumen_resampler_taps(const lumen_resampler *r)
    size_t lumen_resampler_max_output(const lumen_resampler *r, size_t n_in) nogil
    int lumen_resampler_process(lumen_resampler *r, const float *inp, size_t n, float *out, size_t *n_out) nogil
    int lumen_resampler_flush(lumen_resampler *r, float *out, size_t *n_out) nogil
    void lumen_resampler_reset(lumen_resampler *r)

import numpy as _rs_np


cdef class Resampler:
    """``Resampler(in_rate, out_rate)``: see lumen.audio.resampler."""

    cdef lumen_resampler *_r

    def __cinit__(self, int in_rate, int out_rate):
        rc = lumen_resampler_new(in_rate, out_rate, &self._r)
        if rc == LUMEN_RESAMPLE_ENOMEM:
            raise MemoryError("resampler")
        if rc != LUMEN_RESAMPLE_OK:
            raise ValueError(f"invalid rates {in_rate} -> {out_rate}")

    def __dealloc__(self):
        lumen_resampler_free(self._r)

    @property
    def taps(self):
        return lumen_resampler_taps(self._r)

    def process(self, const float[::1] samples not None):
        cdef size_t n = samples.shape[0]
        out = _rs_np.empty(lumen_resampler_max_output(self._r, n), dtype=_rs_np.float32)
        cdef float[::1] view = out
        cdef size_t made = 0
        cdef int rc
        cdef const float *src = &samples[0] if n else NULL
        with nogil:
            rc = lumen_resampler_process(self._r, src, n, &view[0], &made)
        if rc != LUMEN_RESAMPLE_OK:
            raise MemoryError("resampler")
        return out[:made]

    def flush(self):
        out = _rs_np.empty(lumen_resampler_max_output(self._r, 0), dtype=_rs_np.float32)
        cdef float[::1] view = out
        cdef size_t made = 0
        cdef int rc
        with nogil:
            rc = lumen_resampler_flush(self._r, &view[0], &made)
        if rc != LUMEN_RESAMPLE_OK:
            raise MemoryError("resampler")
        return out[:made]

    def reset(self):
        lumen_resampler_reset(self._r)
