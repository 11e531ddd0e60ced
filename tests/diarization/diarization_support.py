"""Helpers shared by the diarization tests: reading the recordings and their references."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        turns.append((float(fields[3]), float(fields[3]) + float(fields[4]), fields[7]))
    return turns


def solo_stretches(turns: list[tuple[float, float, str]], min_length: float) -> list[tuple[float, float, str]]:
    """Stretches of at least ``min_length`` s where exactly one reference speaker talks."""
    cuts = sorted({t for s, e, _ in turns for t in (s, e)})
    solo = []
    for a, b in zip(cuts, cuts[1:]):
        speaking = {n for s, e, n in turns if s < (a + b) / 2 < e}
        if len(speaking) == 1:
            name = speaking.pop()
            if solo and solo[-1][2] == name and solo[-1][1] == a:
                solo[-1] = (solo[-1][0], b, name)
            else:
                solo.append((a, b, name))
    return [s for s in solo if s[1] - s[0] >= min_length]


def stream(diarizer, audio: np.ndarray, seed: int = 0, update_every: float = 0.5,
           on_update=None) -> list:
    """Stream ``audio`` in random 20 ms - 1 s chunks through the VAD into ``diarizer`` (a
    SessionDiarizer), calling ``update()`` every ``update_every`` s of audio and ``finish()``
    at the end.  ``on_update(now, changes)`` sees each update's result; returns all changes."""
    from lumen.audio.vad import VadSegmenter
    from lumen.diarization.feed import SpeechFeed

    rng = np.random.default_rng(seed)
    segmenter, feed = VadSegmenter(), SpeechFeed(diarizer)
    position = last_update = 0
    reported = []
    while position < len(audio):
        chunk = audio[position:position + int(rng.integers(SAMPLE_RATE // 50, SAMPLE_RATE + 1))]
        position += len(chunk)
        feed.feed(chunk, segmenter.feed(chunk))
        if position - last_update >= update_every * SAMPLE_RATE:
            last_update = position
            found = diarizer.update()
            reported += found
            if on_update is not None:
                on_update(position / SAMPLE_RATE, found)
    feed.flush(segmenter.flush())
    found = diarizer.finish()
    if on_update is not None:
        on_update(len(audio) / SAMPLE_RATE, found)
    return reported + found


def der(reference_turns, hypothesis_turns, collar: float = 0.5, skip_overlap: bool = True) -> float:
    """pyannote DER (collar is the total width: 0.5 = ±0.25 s)."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for start, end, name in reference_turns:
        reference[Segment(start, end)] = name
    for start, end, name in hypothesis_turns:
        hypothesis[Segment(start, end)] = name
    return DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)(reference, hypothesis,
                                                                        uem=reference.get_timeline().extent())
