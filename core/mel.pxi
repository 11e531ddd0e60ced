# Power mel spectrogram (core/mel.c): the speaker encoder's front end.
# Included by _core.pyx; computes without the GIL, so several sessions'
# diarization threads run it in parallel.

cdef extern from "mel.h":
    ctypedef struct lumen_mel:
        pass
    ctypedef struct lumen_mel_config:
        int sample_rate
        int n_fft
        int hop
        int n_mels
        double fmin
        double fmax
    int LUMEN_MEL_OK
    int LUMEN_MEL_EINVAL
    int LUMEN_MEL_ENOMEM
    int lumen_mel_new(const lumen_mel_config *config, lumen_mel **out)
    void lumen_mel_free(lumen_mel *mel)
    size_t lumen_mel_frames(const lumen_mel *mel, size_t n_samples) nogil
    size_t lumen_mel_bins(const lumen_mel *mel) nogil
    int lumen_mel_compute(const lumen_mel *mel, const float *samples, size_t n, float *out) nogil
    void lumen_mel_filters(const lumen_mel *mel, float *out) nogil

import numpy as _mel_np


cdef class MelSpectrogram:
    """librosa-compatible power mel spectrogram (centred frames, Hann, Slaney mels).

    ``MelSpectrogram(sample_rate, n_fft, hop, n_mels, fmin=0.0, fmax=0.0)``;
    ``fmax <= 0`` means ``sample_rate / 2``.  Calling it on a 1-D float32
    array returns ``(1 + len // hop, n_mels)`` float32 (no frames for empty
    input).  Immutable and thread-safe; the GIL is released while computing.
    """

    cdef lumen_mel *_mel
    cdef readonly int sample_rate, n_fft, hop, n_mels
    cdef readonly double fmin, fmax

    def __cinit__(self, int sample_rate, int n_fft, int hop, int n_mels, double fmin=0.0, double fmax=0.0):
        cdef lumen_mel_config config
        config.sample_rate = sample_rate
        config.n_fft = n_fft
        config.hop = hop
        config.n_mels = n_mels
        config.fmin = fmin
        config.fmax = fmax
        rc = lumen_mel_new(&config, &self._mel)
        if rc == LUMEN_MEL_ENOMEM:
            raise MemoryError("mel spectrogram: out of memory")
        if rc != LUMEN_MEL_OK:
            raise ValueError(
                f"invalid mel configuration: sample_rate={sample_rate} n_fft={n_fft} (even, >= 2) "
                f"hop={hop} n_mels={n_mels} fmin={fmin} fmax={fmax} (<= sample_rate / 2)")
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.fmin = fmin
        self.fmax = fmax if fmax > 0 else sample_rate / 2.0

    def __dealloc__(self):
        lumen_mel_free(self._mel)

    def __call__(self, const float[::1] samples not None):
        cdef size_t n = samples.shape[0]
        cdef size_t frames = lumen_mel_frames(self._mel, n)
        out = _mel_np.empty((frames, self.n_mels), dtype=_mel_np.float32)
        if frames == 0:
            return out
        cdef float[:, ::1] view = out
        cdef int rc
        with nogil:
            rc = lumen_mel_compute(self._mel, &samples[0], n, &view[0, 0])
        if rc == LUMEN_MEL_ENOMEM:
            raise MemoryError("mel spectrogram: out of memory")
        if rc != LUMEN_MEL_OK:
            raise ValueError(f"mel spectrogram failed ({rc})")
        return out

    def filters(self):
        """The filterbank, ``(n_mels, n_fft // 2 + 1)`` float32 (as librosa.filters.mel)."""
        out = _mel_np.empty((self.n_mels, lumen_mel_bins(self._mel)), dtype=_mel_np.float32)
        cdef float[:, ::1] view = out
        lumen_mel_filters(self._mel, &view[0, 0])
        return out
