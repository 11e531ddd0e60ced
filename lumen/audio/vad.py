"""Speech regions from webrtcvad, as a streaming segmenter.

webrtcvad classifies 10/20/30 ms frames of 16-bit PCM.  Single frames are
noisy, so the segmenter smooths them: speech starts when ``start_frames`` of
the last ``start_window`` frames are voiced, and ends after
``endpoint_silence`` seconds without a voiced frame.  webrtcvad takes steady
background noise (hiss, a room, a crowd) for speech, so on real recordings
it rarely finds a pause; inside speech, a frame therefore only counts as
voiced when it is also ``noise_margin_db`` above the recent noise floor.
Speech *starts* on webrtcvad alone, so the gate can end a region early but
never hide the beginning of one; and it applies from ``gate_after`` seconds
into a region, so it splits long stretches of speech at their pauses without
cutting them into snippets too short to be recognised well.  A shorter pause
(``pause_silence``) inside speech is reported too, so the recognizer can
start decoding an utterance that is probably ending before the VAD is sure.
Times are absolute sample indices at 16 kHz, counted from the first sample fed.

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
    noise_margin_db: float = 8.0
    """Inside speech, a voiced frame must be this many dB above the noise
    floor (0 = webrtcvad alone).  On jfk.wav (crowd noise ~30 dB below the
    voice) webrtcvad alone finds one pause in 11 s, with the gate all four."""
    gate_after: float = 3.0
    """Seconds into a speech region from which the gate applies.  tiny.en
    hears a 1-2 s utterance alone much worse than with its neighbours
    (jfk.wav's "ask not" alone: "S"; "And so my fellow Americans" at 8 kHz:
    "And so am I fellow America")."""
    noise_window: float = 10.0
    """Seconds of frames whose quietest 5 % estimate the noise floor (updated
    every 10 frames); the gate applies once a second has been seen."""
    pause_silence: float = 0.3
    """Seconds without a voiced frame that report a :class:`SpeechPause`
    (0 = never); shorter than ``endpoint_silence`` to be of use."""


@dataclass(frozen=True)
class SpeechStart:
    """Speech began at ``sample`` (first voiced frame of the triggering window)."""

    sample: int


@dataclass(frozen=True)
class SpeechPause:
    """Speech has paused since ``sample`` (end of its last voiced frame) for
    ``pause_silence`` seconds; a :class:`SpeechEnd` at the same sample follows
    unless speech resumes.  Reported once per pause."""

    sample: int


@dataclass(frozen=True)
class SpeechEnd:
    """Speech that began earlier ended at ``sample`` (end of its last voiced frame)."""

    sample: int


VadEvent = SpeechStart | SpeechPause | SpeechEnd


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
        self._speech_start = 0
        self._last_voiced_end = 0
        self._silence_frames_to_end = max(1, round(options.endpoint_silence * 1000 / options.frame_ms))
        self._silence_frames_to_pause = round(options.pause_silence * 1000 / options.frame_ms)
        self._silent_run = 0
        self._energies = np.zeros(max(1, round(options.noise_window * 1000 / options.frame_ms)))
        self._n_energies = 0  # frames seen (the ring holds the last len(_energies))
        self._floor = -np.inf
        self._warm_up = 1000 // options.frame_ms

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
        used = n_frames * self._frame
        frames = pcm[:used].reshape(n_frames, self._frame)
        power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / (self._frame * 32768.0**2)
        energies = 10 * np.log10(power + 1e-10)
        for i in range(n_frames):
            start = self._position + i * self._frame
            voiced = self._vad.is_speech(frames[i].tobytes(), SAMPLE_RATE)
            event = self._step(start, voiced, self._loud(energies[i]))
            if event is not None:
                events.append(event)
        self._pending = pcm[used:]
        self._position += used
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open speech region at the last voiced frame."""
        if not self._in_speech:
            return []
        self._in_speech = False
        return [SpeechEnd(self._last_voiced_end)]

    def _loud(self, energy: float) -> bool:
        """Is a frame of ``energy`` dB clear of the noise floor?  (Records it.)"""
        self._energies[self._n_energies % self._energies.size] = energy
        self._n_energies += 1
        if self.options.noise_margin_db <= 0 or self._n_energies < self._warm_up:
            return True
        if self._n_energies % 10 == 0 or self._n_energies == self._warm_up:
            seen = self._energies[:min(self._n_energies, self._energies.size)]
            self._floor = float(np.percentile(seen, 5))
        return energy >= self._floor + self.options.noise_margin_db

    def _step(self, start: int, voiced: bool, loud: bool) -> VadEvent | None:
        self._recent.append((start, voiced))
        if self._in_speech and start - self._speech_start >= self.options.gate_after * SAMPLE_RATE:
            voiced = voiced and loud
        if voiced:
            self._last_voiced_end = start + self._frame
            self._silent_run = 0
        else:
            self._silent_run += 1
        if not self._in_speech:
            if sum(v for _, v in self._recent) >= self.options.start_frames:
                self._in_speech = True
                first_voiced = next(s for s, v in self._recent if v)
                self._speech_start = first_voiced
                return SpeechStart(first_voiced)
            return None
        if self._silent_run >= self._silence_frames_to_end:
            self._in_speech = False
            self._recent.clear()
            return SpeechEnd(self._last_voiced_end)
        if self._silent_run == self._silence_frames_to_pause > 0:
            return SpeechPause(self._last_voiced_end)
        return None
