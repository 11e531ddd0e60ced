"""SpeechFeed: what reaches the diarizer for a stream of chunks and VAD events."""

from __future__ import annotations

import numpy as np

from lumen.audio.vad import SpeechEnd, SpeechStart, VadSegmenter
from lumen.diarization.feed import SpeechFeed

from diarization_support import SAMPLE_RATE


class Recorder:
    """Stands in for a SessionDiarizer: records the calls SpeechFeed makes."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add_speech(self, start: float, audio: np.ndarray) -> None:
        self.calls.append(("add", start, len(audio)))

    def end_speech(self, end: float | None = None) -> None:
        self.calls.append(("end", end))


def test_speech_is_added_from_the_vad_start_to_its_end_inside_a_chunk() -> None:
    recorder = Recorder()
    feed = SpeechFeed(recorder)  # type: ignore[arg-type]
    second = np.ones(SAMPLE_RATE, dtype=np.float32)
    feed.feed(second, [])                                    # 0-1 s: silence
    feed.feed(second, [SpeechStart(int(1.5 * SAMPLE_RATE))])  # speech from 1.5 s (seen late)
    feed.feed(second, [SpeechEnd(int(2.4 * SAMPLE_RATE))])    # ends inside this chunk
    feed.feed(second, [SpeechStart(3 * SAMPLE_RATE + 160)])
    feed.flush([SpeechEnd(int(3.5 * SAMPLE_RATE))])
    assert recorder.calls == [
        ("add", 1.5, SAMPLE_RATE // 2),
        ("add", 2.0, int(0.4 * SAMPLE_RATE)),
        ("end", 2.4),
        ("add", 3.01, SAMPLE_RATE - 160),
        ("end", 3.5),
    ]


def test_real_vad_stream_adds_only_speech(sample: np.ndarray) -> None:
    recorder = Recorder()
    feed, vad = SpeechFeed(recorder), VadSegmenter()  # type: ignore[arg-type]
    for start in range(0, len(sample), 7000):
        chunk = sample[start:start + 7000]
        feed.feed(chunk, vad.feed(chunk))
    feed.flush(vad.flush())
    added = sum(n for kind, *rest in recorder.calls if kind == "add" for n in rest[1:])
    ends = [c for c in recorder.calls if c[0] == "end"]
    assert ends and recorder.calls[-1][0] == "end"
    assert 0.5 * len(sample) < added < len(sample)  # the call is mostly speech, the first 6 s are not
