"""Incremental audio decoding: WAV or raw PCM bytes to mono float32.

Validation happens here; decoding happens in ``core/wav.c`` (see its header
for the formats).  Errors are :class:`~lumen.errors.AudioFormatError` with a
message that names what was wrong.

Thread-safety: an :class:`AudioDecoder` is one stream's state; use it from
one thread at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from lumen import _core
from lumen.errors import AudioFormatError

log = logging.getLogger(__name__)

#: Raw encodings a client may declare (WAV headers may also give 8-bit and 64-bit float).
RAW_ENCODINGS = ("pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "mulaw", "alaw")
MIN_RATE, MAX_RATE, MAX_CHANNELS = 8000, 192000, 32


@dataclass(frozen=True)
class RawFormat:
    """How to read a stream that is not WAV."""

    encoding: str = "pcm_s16le"
    """One of :data:`RAW_ENCODINGS`."""
    sample_rate: int = 16000
    """Hz, 8000-192000."""
    channels: int = 1
    """Interleaved channels, 1-32 (averaged to mono)."""

    def __post_init__(self) -> None:
        if self.encoding not in RAW_ENCODINGS:
            raise AudioFormatError(f"unknown raw encoding {self.encoding!r}; expected one of "
                                   f"{', '.join(RAW_ENCODINGS)}")
        if not MIN_RATE <= self.sample_rate <= MAX_RATE:
            raise AudioFormatError(f"sample rate {self.sample_rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise AudioFormatError(f"{self.channels} channels; 1 to {MAX_CHANNELS} are supported")


class AudioDecoder:
    """Feed bytes in any chunking; get float32 mono samples at :attr:`sample_rate`."""

    def __init__(self, raw: RawFormat = RawFormat()) -> None:
        self.raw = raw
        self._native = _core.Decoder(raw.encoding, raw.sample_rate, raw.channels)

    @property
    def sample_rate(self) -> int | None:
        """Rate of the decoded samples; None until a WAV header has been parsed."""
        return self._native.sample_rate

    @property
    def channels(self) -> int | None:
        return self._native.channels

    @property
    def encoding(self) -> str | None:
        return self._native.encoding

    @property
    def is_wav(self) -> bool:
        return self._native.is_wav

    def feed(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        """Decode ``data``; may return no samples (header still incomplete).

        Bad bytes raise :class:`AudioFormatError`; the samples decoded before
        them in the same ``data`` are its ``decoded``.
        """
        try:
            return self._native.feed(memoryview(data).cast("B"))
        except _core.DecodeError as exc:
            raise AudioFormatError(str(exc), exc.decoded) from None

    def finish(self) -> np.ndarray:
        """End of stream.  Raises if it ended inside a WAV header.

        An incomplete last frame (a client cut a sample in half) is dropped
        with a warning: it is less than one sample period of audio.
        """
        try:
            dangling = self._native.finish()
        except _core.DecodeError as exc:
            raise AudioFormatError(str(exc)) from None
        if dangling:
            log.warning("stream ended with %d bytes of an incomplete frame; dropped", dangling)
        return np.zeros(0, dtype=np.float32)
