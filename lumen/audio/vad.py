"""Speech regions from webrtcvad, as a streaming segmenter.

webrtcvad classifies 10/20/30 ms frames of 16-bit PCM.  Single frames are
noisy, so the segmenter smooths them: speech starts when ``start_frames`` of
the last ``start_window`` frames are voiced, and ends after
``endpoint_silence`` seconds without a voiced frame.  Times are absolute
sample indices at 16 kHz, counted from the first sample fed.

Thread-safety: a :class:`VadSegmenter` belongs to one session and is used
from one thread (the IOLoop); it is cheap (about 2 µs per 30 ms frame).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class VadOptions:
    """How speech regions are found."""

    aggressiveness: int = 2
    """webrtcvad mode: 0 keeps most audio as speech, 3 filters non-speech hardest."""
    frame_ms: int = 30
    """Frame length given to webrtcvad (10, 20 or 30 ms)."""
    start_window: int = 5
    """Frames looked at to decide that speech started."""
    start_frames: int = 3
    """Voiced frames among the last ``start_window`` that start speech."""
    endpoint_silence: float = 0.5
    """Seconds without a voiced frame that end speech."""


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at ``sample`` (first voiced frame of the triggering window)."""

    sample: int


@dataclass(frozen=True)
class SpeechEnd:
    """Speech that began earlier ended at ``sample`` (end of its last voiced frame)."""

    sample: int


VadEvent = SpeechStart | SpeechEnd


class VadSegmenter:
    """Feeds 16 kHz float32 audio in any chunk size; returns speech start/end events."""

    def __init__(self, options: VadOptions = VadOptions()) -> None:
        if options.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30")
        self.options = options
        self._vad = webrtcvad.Vad(options.aggressiveness)
        self._frame = SAMPLE_RATE * options.frame_ms // 1000
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0  # absolute index of the first sample of self._pending
        self._recent: deque[tuple[int, bool]] = deque(maxlen=options.start_window)
        self._in_speech = False
        self._last_voiced_end = 0
        self._silence_frames_to_end = max(1, round(options.endpoint_silence * 1000 / options.frame_ms))
        self._silent_run = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def feed(self, audio: np.ndarray) -> list[VadEvent]:
        """Classify whole frames of ``audio`` (float32 in [-1, 1]); keep the remainder."""
        pcm = np.clip(np.asarray(audio, dtype=np.float32) * 32768.0, -32768, 32767).astype(np.int16)
        if self._pending.size:
            pcm = np.concatenate([self._pending, pcm])
        events: list[VadEvent] = []
        n_frames = pcm.size // self._frame
        for i in range(n_frames):
            frame = pcm[i * self._frame:(i + 1) * self._frame]
            start = self._position + i * self._frame
            event = self._step(start, self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))
            if event is not None:
                events.append(event)
        used = n_frames * self._frame
        self._pending = pcm[used:]
        self._position += used
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open speech region at the last voiced frame."""
        if not self._in_speech:
            return []
        self._in_speech = False
        return [SpeechEnd(self._last_voiced_end)]

    def _step(self, start: int, voiced: bool) -> VadEvent | None:
        self._recent.append((start, voiced))
        if voiced:
            self._last_voiced_end = start + self._frame
            self._silent_run = 0
        else:
            self._silent_run += 1
        if not self._in_speech:
            if sum(v for _, v in self._recent) >= self.options.start_frames:
                self._in_speech = True
                first_voiced = next(s for s, v in self._recent if v)
                return SpeechStart(first_voiced)
            return None
        if self._silent_run >= self._silence_frames_to_end:
            self._in_speech = False
            self._recent.clear()
            return SpeechEnd(self._last_voiced_end)
        return None
