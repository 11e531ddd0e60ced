"""LiveSpeakers: corrections for finals sent before their audio had a speaker, or with a stale one."""

from __future__ import annotations

import asyncio
from typing import Callable, TypeVar

import numpy as np

from lumen.audio.vad import VadSegmenter
from lumen.client import SpeakerTurns
from lumen.diarization import Diarizer, SpeakerEmbedder
from lumen.diarization.live import LiveSpeakers
from lumen.diarization.options import DiarizationOptions
from lumen.diarization.tracker import LabelChange

from diarization_support import SAMPLE_RATE

T = TypeVar("T")


def test_finals_sent_before_the_first_labelling_are_named_by_it(embedder: SpeakerEmbedder,
                                                                 sample: np.ndarray) -> None:
    """Regression (CI): the first labelling reports no *changes* (nothing was named
    before), so a final sent unlabelled then was never named."""
    async def run() -> tuple[str | None, list[list[dict[str, object]]]]:
        service = Diarizer(DiarizationOptions(), max_workers=1, embedder=embedder)
        reports: list[list[dict[str, object]]] = []

        def on_changes(changes: list[LabelChange]) -> None:
            reports.append(live.corrections(changes))

        live = LiveSpeakers(service, service.session(), on_changes)
        vad = VadSegmenter()
        try:
            first = sample[:3 * SAMPLE_RATE]  # "Hey," at 2.3-2.9 s: too little speech for a window yet
            live.feed(first, vad.feed(first))
            before, words = live.label([(2.3, 2.9)])
            live.sent(0, [(2.3, 2.9)], words)  # the final goes out unlabelled
            for second in range(3, 12):
                chunk = sample[second * SAMPLE_RATE:(second + 1) * SAMPLE_RATE]
                live.feed(chunk, vad.feed(chunk))
                await asyncio.sleep(0.3)
            while live._update is not None:  # until the updates scheduled have run
                await asyncio.sleep(0.05)
            return before, reports
        finally:
            service.close()

    before, reports = asyncio.run(run())
    assert before is None
    named = [entry for report in reports for entry in report if entry["segment_id"] == 0]
    assert len(named) == 1 and named[0]["speaker"] in ("S1", "S2"), reports
    assert named[0]["word_speakers"] == [named[0]["speaker"]]


def labelled(embedder: SpeakerEmbedder, audio: np.ndarray, then: Callable[[LiveSpeakers], T]) -> T:
    """``then(live)`` once ``audio`` has been fed at once and every update it started has run."""
    async def run() -> T:
        service = Diarizer(DiarizationOptions(), max_workers=1, embedder=embedder)
        live = LiveSpeakers(service, service.session(), lambda changes: None)
        try:
            live.feed(audio, VadSegmenter().feed(audio))
            while live._update is not None:
                await asyncio.sleep(0.05)
            return then(live)
        finally:
            service.close()
    return asyncio.run(run())


def test_a_label_that_changed_while_the_final_was_stored_is_corrected(embedder: SpeakerEmbedder,
                                                                        sample: np.ndarray) -> None:
    def stale_final(live: LiveSpeakers) -> tuple[str | None, list[dict[str, object]]]:
        now, _ = live.label([(7.0, 8.0)])
        assert now is not None
        stale = "S2" if now == "S1" else "S1"
        live.sent(5, [(7.0, 8.0)], [stale])  # labelled before an update that finished meanwhile
        return now, live.corrections([])  # the next update's call, with no changes of its own

    now, corrections = labelled(embedder, sample[:10 * SAMPLE_RATE], stale_final)
    assert corrections == [{"segment_id": 5, "speaker": now, "word_speakers": [now]}]


def test_a_final_spanning_a_speaker_change_is_corrected_word_by_word(embedder: SpeakerEmbedder,
                                                                      sample: np.ndarray) -> None:
    """A final sent before the diarizer heard the second voice holds one name for
    all its words; the correction names each word (speaker 90 until 14.7 s, then 91)."""
    spans = [(12.6, 13.0), (13.2, 13.6), (13.7, 14.2), (15.0, 15.4), (15.6, 16.0), (16.4, 16.8)]

    def spanning_final(live: LiveSpeakers) -> tuple[list[str | None], list[dict[str, object]]]:
        first, _ = live.label(spans[:1])
        live.sent(7, spans, [first] * len(spans))  # as sent before the change was heard
        return live.label(spans)[1], live.corrections([])

    now, corrections = labelled(embedder, sample[:20 * SAMPLE_RATE], spanning_final)
    assert now[0] != now[-1], now
    assert len(corrections) == 1 and corrections[0]["word_speakers"] == now
    assert corrections[0]["speaker"] in now


def test_timeline_changes_build_the_live_timeline(embedder: SpeakerEmbedder, sample: np.ndarray) -> None:
    """speakers.turns: each change, applied to what the client holds, gives the
    diarizer's timeline at that moment; nothing is sent when nothing changed."""
    async def run() -> tuple[int, list[dict[str, object]], list[dict[str, object]]]:
        service = Diarizer(DiarizationOptions(), max_workers=1, embedder=embedder)
        held: list[dict[str, object]] = []
        sent = 0

        def apply(change: tuple[float, list[dict[str, object]]] | None) -> None:
            nonlocal held, sent
            if change is not None:
                since, turns = change
                assert all(turn["start"] >= since for turn in turns)  # type: ignore[operator]
                held, sent = SpeakerTurns(since, turns).apply(held), sent + 1
            assert held == live.timeline(offset=100.0)

        def on_changes(changes: list[LabelChange]) -> None:
            apply(live.timeline_changes(offset=100.0))
            assert live.timeline_changes(offset=100.0) is None  # asked again: nothing new

        live = LiveSpeakers(service, service.session(), on_changes)
        vad = VadSegmenter()
        try:
            for second in range(len(sample) // SAMPLE_RATE):
                chunk = sample[second * SAMPLE_RATE:(second + 1) * SAMPLE_RATE]
                live.feed(chunk, vad.feed(chunk))
                await asyncio.sleep(0.2)
            while live._update is not None:
                await asyncio.sleep(0.05)
            live.flush(vad.flush())
            await live.finish()
            apply(live.timeline_changes(offset=100.0))
            return sent, held, live.timeline(offset=100.0)
        finally:
            service.close()

    sent, held, final = asyncio.run(run())
    assert sent >= 10  # the timeline grows and is relabelled while the call goes on
    assert held == final and {turn["speaker"] for turn in final} == {"S1", "S2"}
    assert final[0]["start"] >= 100.0 + 2.0  # shifted by the offset ("Hey," at 2.3 s is the first speech)


def test_no_update_starts_once_finish_is_called(embedder: SpeakerEmbedder, sample: np.ndarray, caplog) -> None:
    """Regression: audio fed while an update ran left another pending, and the running one's
    end started it alongside finish()'s last labelling: with two workers they overlapped
    ("update() of one session must not run concurrently"), with one it ran after finish()."""
    async def run() -> list[str]:
        service = Diarizer(DiarizationOptions(), max_workers=2, embedder=embedder)
        calls: list[str] = []
        live = LiveSpeakers(service, service.session(), lambda changes: calls.append("changes"))
        vad = VadSegmenter()
        try:
            for start in range(0, 20 * SAMPLE_RATE, SAMPLE_RATE // 2):  # updates pile up
                chunk = sample[start:start + SAMPLE_RATE // 2]
                live.feed(chunk, vad.feed(chunk))
            live.flush(vad.flush())
            assert live._update is not None and live._pending, "an update runs, another is due"
            await live.finish()
            calls.append("finished")
            await asyncio.sleep(1.0)  # an update started by mistake would have reported by now
            return calls
        finally:
            service.close()

    calls = asyncio.run(run())
    assert calls[-1] == "finished", calls
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
