/* Streaming sample-rate converter: windowed-sinc (Kaiser) polyphase FIR.
 *
 * Any integer rates in 1..1,000,000 Hz, reduced to the ratio L/M.  Output
 * sample n is the band-limited input evaluated at time n / out_rate exactly:
 * the filter is centred (its group delay is compensated inside), so no
 * timestamp shift is ever needed.  Output count for N input samples is
 * ceil(N * out_rate / in_rate), the same whether the input arrives at once or
 * in chunks of any size (bit-exact: chunking never changes the output).
 *
 * Filter: passband to 0.91 of the lower Nyquist, stopband from 1.0, 130 dB
 * Kaiser design (measured in float32: worst aliasing -138 dB, SNR 142 dB at
 * 48k -> 16k, see docs/core.md); each polyphase row is normalised to unit DC gain.  Up to 1024
 * phases are tabulated exactly; ratios that need more phases interpolate
 * linearly between tabulated ones.  The dot product uses AVX2+FMA when the
 * CPU has them (chosen at creation), so outputs may differ in the last bits
 * between machines, never between chunkings.
 *
 * Thread-safety: a converter holds per-stream state and must be used by one
 * thread at a time; distinct converters are independent.
 */
#ifndef LUMEN_RESAMPLE_H
#define LUMEN_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lumen_resampler lumen_resampler;

enum {
    LUMEN_RESAMPLE_OK = 0,
    LUMEN_RESAMPLE_EINVAL = -1,
    LUMEN_RESAMPLE_ENOMEM = -2
};

int lumen_resampler_new(int in_rate, int out_rate, lumen_resampler **out);
void lumen_resampler_free(lumen_resampler *r);

/* Taps per output sample (the filter length in input samples, a multiple of 16). */
int lumen_resampler_taps(const lumen_resampler *r);

/* Largest number of samples the next process(n) or flush() call may return. */
size_t lumen_resampler_max_output(const lumen_resampler *r, size_t n_in);

/* Consumes n input samples; writes the output samples that are now complete
 * into out (room for lumen_resampler_max_output(r, n) samples) and stores
 * their count in *n_out. */
int lumen_resampler_process(lumen_resampler *r, const float *in, size_t n, float *out, size_t *n_out);

/* End of stream: writes the remaining output (input past the end is zero).
 * The converter may not be used for more input afterwards, except after
 * lumen_resampler_reset. */
int lumen_resampler_flush(lumen_resampler *r, float *out, size_t *n_out);

void lumen_resampler_reset(lumen_resampler *r);

#ifdef __cplusplus
}
#endif

#endif
