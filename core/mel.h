/* Power mel spectrogram, numerically the same as librosa.feature.melspectrogram
 * with its defaults (centred frames zero-padded by n_fft/2, periodic Hann
 * window of n_fft points, |STFT|^2, Slaney-scale mel filterbank with Slaney
 * area normalisation).  It is the front end of the GE2E speaker encoder
 * (resemblyzer: 16 kHz, n_fft 400, hop 160, 40 mels).
 *
 * The transform object is immutable once built: any number of threads may
 * call lumen_mel_compute on the same object at once (each call allocates its
 * own scratch), so the Python binding runs it without the GIL.
 */
#ifndef LUMEN_MEL_H
#define LUMEN_MEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lumen_mel lumen_mel;

typedef struct {
    int sample_rate; /* Hz, > 0 */
    int n_fft;       /* frame and FFT length in samples, even, >= 2 */
    int hop;         /* samples between frame starts, > 0 */
    int n_mels;      /* mel bands, > 0 */
    double fmin;     /* lowest band edge in Hz, >= 0 */
    double fmax;     /* highest band edge in Hz; <= 0 means sample_rate / 2 */
} lumen_mel_config;

enum {
    LUMEN_MEL_OK = 0,
    LUMEN_MEL_EINVAL = -1, /* a config field is out of range, or a NULL argument */
    LUMEN_MEL_ENOMEM = -2  /* an allocation failed */
};

/* Builds the window, FFT plan and filterbank; *out is NULL on error. */
int lumen_mel_new(const lumen_mel_config *config, lumen_mel **out);
void lumen_mel_free(lumen_mel *mel);

/* Frames produced for n_samples of input: 1 + n_samples / hop (centred
 * framing), or 0 for empty input. */
size_t lumen_mel_frames(const lumen_mel *mel, size_t n_samples);

/* Number of FFT bins, n_fft / 2 + 1 (the filterbank's width). */
size_t lumen_mel_bins(const lumen_mel *mel);

/* out receives lumen_mel_frames(n) rows of n_mels floats (row-major, one
 * row per frame). */
int lumen_mel_compute(const lumen_mel *mel, const float *samples, size_t n, float *out);

/* Copies the dense filterbank, n_mels rows of lumen_mel_bins() weights. */
void lumen_mel_filters(const lumen_mel *mel, float *out);

#ifdef __cplusplus
}
#endif

#endif
