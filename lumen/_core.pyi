"""Type stubs for the compiled native audio core (core/_core.pyx; see docs/core.md).

Use the Python faces instead of these classes directly: lumen.audio.ring.AudioRing,
lumen.audio.resampler.StreamResampler, lumen.audio.decoder.AudioDecoder and
lumen.audio.mel; they validate arguments before they reach the C code.
"""

from typing import Final

import numpy as np
import numpy.typing as npt

#: Raw encoding names and their lumen_pcm_encoding values.
ENCODINGS: Final[dict[str, int]]

class Ring:
    """Float32 SPSC ring buffer (core/ring.c)."""

    def __init__(self, capacity: int, drop_oldest: bool) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def available(self) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def consumed(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    def write(self, samples: npt.NDArray[np.float32]) -> bool:
        """False (nothing written) when the samples do not fit under the error policy."""
    def peek(self, n: int) -> npt.NDArray[np.float32]: ...
    def advance(self, n: int) -> int: ...

class Resampler:
    """Streaming windowed-sinc resampler (core/resample.c)."""

    def __init__(self, in_rate: int, out_rate: int) -> None: ...
    @property
    def taps(self) -> int: ...
    def process(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    def flush(self) -> npt.NDArray[np.float32]: ...
    def reset(self) -> None: ...

class DecodeError(ValueError):
    """Malformed or unsupported audio; the message says what was wrong."""

    decoded: npt.NDArray[np.float32] | None
    """The samples the failing call decoded before the bad bytes."""
    def __init__(self, message: str, decoded: npt.NDArray[np.float32] | None = None) -> None: ...

class Decoder:
    """Incremental WAV / raw PCM decoder to mono float32 (core/wav.c, core/pcm.c)."""

    def __init__(self, encoding: str, rate: int, channels: int) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> npt.NDArray[np.float32]: ...
    def finish(self) -> int:
        """End of stream; returns the bytes of an incomplete last frame that were dropped."""
    @property
    def sample_rate(self) -> int | None: ...
    @property
    def channels(self) -> int | None: ...
    @property
    def encoding(self) -> str | None: ...
    @property
    def is_wav(self) -> bool: ...

class MelSpectrogram:
    """librosa-compatible power mel spectrogram (core/mel.c); thread-safe, runs without the GIL."""

    sample_rate: Final[int]
    n_fft: Final[int]
    hop: Final[int]
    n_mels: Final[int]
    fmin: Final[float]
    fmax: Final[float]
    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int,
                 fmin: float = 0.0, fmax: float = 0.0) -> None: ...
    def __call__(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``(1 + len // hop, n_mels)`` float32; no frames for empty input."""
    def filters(self) -> npt.NDArray[np.float32]:
        """The filterbank, ``(n_mels, n_fft // 2 + 1)`` float32."""
