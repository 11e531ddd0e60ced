"""Power mel spectrograms from the native core (``core/mel.c``).

The transform is numerically librosa's ``feature.melspectrogram`` with its
defaults (centred frames zero-padded by ``n_fft // 2``, periodic Hann window,
``|STFT|**2``, Slaney mel scale and area normalisation): the front end the
GE2E speaker encoder was trained on.  ``tests/diarization/test_mel.py``
reports the difference to resemblyzer's own librosa front end.

Thread-safety: a :class:`MelSpectrogram` is immutable; calls from several
threads run in parallel (the native code releases the GIL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lumen import _core


@dataclass(frozen=True)
class MelOptions:
    """Frame and filterbank geometry; the defaults are the speaker encoder's."""

    sample_rate: int = 16000
    """Input sample rate in Hz."""
    n_fft: int = 400
    """Frame (and FFT) length in samples, even: 25 ms at 16 kHz."""
    hop: int = 160
    """Samples between frame centres: 10 ms at 16 kHz."""
    n_mels: int = 40
    """Mel bands."""
    fmin: float = 0.0
    """Lowest band edge in Hz."""
    fmax: float | None = None
    """Highest band edge in Hz; ``None`` is ``sample_rate / 2``."""


class MelSpectrogram:
    """Callable: 1-D float32 audio -> ``(1 + len // hop, n_mels)`` float32 power mel."""

    def __init__(self, options: MelOptions = MelOptions()) -> None:
        self.options = options
        self._native = _core.MelSpectrogram(
            options.sample_rate, options.n_fft, options.hop, options.n_mels,
            options.fmin, options.fmax or 0.0)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self._native(np.ascontiguousarray(audio, dtype=np.float32))

    def filters(self) -> np.ndarray:
        """The filterbank, ``(n_mels, n_fft // 2 + 1)``, as ``librosa.filters.mel`` builds it."""
        return self._native.filters()
