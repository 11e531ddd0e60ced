"""Streaming sample-rate conversion (``core/resample.c``).

Output sample ``n`` is the input band-limited and evaluated at ``n / out_rate``
seconds: the filter's delay is compensated inside, so timestamps need no
correction.  Chunking never changes the output: ``process`` over any split of
the input followed by ``flush`` equals one call over the whole, bit for bit,
and the total is ``ceil(len * out_rate / in_rate)`` samples.

Thread-safety: one stream per :class:`StreamResampler`, one thread at a time.
"""

from __future__ import annotations

import numpy as np

from lumen import _core

MIN_RATE, MAX_RATE = 1000, 1_000_000


def _check_rate(name: str, rate: int) -> None:
    if not isinstance(rate, (int, np.integer)) or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{name} must be an integer from {MIN_RATE} to {MAX_RATE} Hz, got {rate!r}")


class StreamResampler:
    """Converts a stream from ``in_rate`` to ``out_rate`` (Kaiser windowed-sinc, 130 dB design)."""

    def __init__(self, in_rate: int, out_rate: int = 16000) -> None:
        _check_rate("in_rate", in_rate)
        _check_rate("out_rate", out_rate)
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self._native = None if in_rate == out_rate else _core.Resampler(self.in_rate, self.out_rate)

    @property
    def taps(self) -> int:
        """Input samples each output depends on (0 when rates are equal)."""
        return 0 if self._native is None else self._native.taps

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns the output samples now complete."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected 1-D mono samples, got shape {samples.shape}")
        if self._native is None:
            return samples.copy()
        return self._native.process(samples)

    def flush(self) -> np.ndarray:
        """End of stream: the remaining output.  Use a new resampler afterwards."""
        if self._native is None:
            return np.zeros(0, dtype=np.float32)
        return self._native.flush()


def resample(samples: np.ndarray, in_rate: int, out_rate: int = 16000) -> np.ndarray:
    """One-shot conversion of a whole signal."""
    stream = StreamResampler(in_rate, out_rate)
    return np.concatenate([stream.process(samples), stream.flush()])
