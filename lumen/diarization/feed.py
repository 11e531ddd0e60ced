"""Routes a live audio stream and its VAD events into a :class:`SessionDiarizer`.

A VAD reports speech start a few frames late (the start lies in audio
already seen) and speech end after ``endpoint_silence`` of trailing silence.
:class:`SpeechFeed` keeps the last second of audio to add speech from its
true start, adds speech as it streams in, and closes each region at the
VAD's end sample, so the diarizer only ever embeds speech.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lumen.audio.vad import SpeechEnd, SpeechStart, VadEvent
from lumen.diarization.diarizer import SessionDiarizer
from lumen.diarization.embedder import SAMPLE_RATE

#: Audio kept behind the stream position; must exceed how far back a VAD start can lie.
_KEEP_SAMPLES = SAMPLE_RATE


class SpeechFeed:
    """Call :meth:`feed` with each chunk and the VAD events it produced; :meth:`flush` at the end."""

    def __init__(self, diarizer: SessionDiarizer) -> None:
        self.diarizer = diarizer
        self._recent = np.zeros(0, dtype=np.float32)
        self._recent_start = 0  # absolute sample index of self._recent[0]
        self._position = 0
        self._added_until = 0
        self._in_speech = False

    def feed(self, chunk: np.ndarray, events: Sequence[VadEvent]) -> None:
        """``chunk``: the next 16 kHz float32 audio; ``events``: the VAD's events for it."""
        self._recent = np.concatenate([self._recent, np.asarray(chunk, dtype=np.float32)])
        self._position += len(chunk)
        for event in events:
            if isinstance(event, SpeechStart):
                self._in_speech = True
                self._added_until = max(event.sample, self._recent_start)
            elif isinstance(event, SpeechEnd) and self._in_speech:
                self._add_until(event.sample)  # the speech may end inside this chunk
                self._in_speech = False
                self.diarizer.end_speech(event.sample / SAMPLE_RATE)
        if self._in_speech:
            self._add_until(self._position)
        drop = max(0, len(self._recent) - _KEEP_SAMPLES)
        self._recent = self._recent[drop:]
        self._recent_start += drop

    def flush(self, events: Sequence[VadEvent]) -> None:
        """End of stream: ``events`` from the VAD's flush."""
        self.feed(np.zeros(0, dtype=np.float32), events)

    def _add_until(self, end: int) -> None:
        if end > self._added_until:
            begin = self._added_until - self._recent_start
            self.diarizer.add_speech(self._added_until / SAMPLE_RATE, self._recent[begin:end - self._recent_start])
            self._added_until = end
