"""The whisper engine on real recordings with the converted models."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from asr_support import load_wav, stm_text, wer

from lumen.asr.engine import DecodeOptions, Transcription, WhisperEngine
from lumen.errors import AudioFormatError, BadRequestError, InferenceAborted

RATE = 16000


@pytest.fixture(scope="module")
def jfk_result(engine: WhisperEngine, jfk: np.ndarray) -> Transcription:
    return engine.transcribe(jfk, DecodeOptions())


def test_jfk_transcribes_correctly(jfk_result: Transcription, jfk_text: str) -> None:
    assert wer(jfk_text, jfk_result.text) <= 0.05, jfk_result.text
    assert jfk_result.language == "en" and jfk_result.language_probability is None
    assert jfk_result.audio_seconds == pytest.approx(11.0, abs=0.01)
    assert jfk_result.audio_ctx == 550 + 64  # sized: 11 s * 50 + margin
    assert jfk_result.avg_logprob is not None and jfk_result.avg_logprob < 0


def test_full_window_gives_the_same_jfk_text(engine: WhisperEngine, jfk: np.ndarray,
                                             jfk_text: str) -> None:
    full = engine.transcribe(jfk, DecodeOptions(audio_ctx=0))
    assert full.audio_ctx == 1500
    assert wer(jfk_text, full.text) <= 0.05, full.text


def test_words_are_ordered_inside_the_audio_and_roughly_right(jfk_result: Transcription) -> None:
    words = jfk_result.words
    assert "".join(w.text for w in words).strip() == jfk_result.text
    assert all(w.text.startswith(" ") for w in words)
    for w in words:
        assert 0 <= w.start <= w.end <= jfk_result.audio_seconds
        assert 0 < w.probability <= 1
    assert all(a.start <= b.start and a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))
    country = [w for w in words if "country" in w.text.lower()]
    assert len(country) == 2
    assert country[-1].start >= jfk_result.audio_seconds - 4  # "... for your country." ends it
    assert country[0].end <= 8  # "... what your country can do for you," (about 6 s)
    assert words[0].start < 1.0  # "And" starts at ~0.3 s


def test_sample_call_transcribes_with_sane_wer(engine: WhisperEngine, testdata: Path) -> None:
    result = engine.transcribe(load_wav(testdata / "sample.wav"), DecodeOptions())
    assert wer(stm_text(testdata / "sample.stm"), result.text) <= 0.3, result.text


def test_word_times_match_utterances_in_an_excerpt(engine: WhisperEngine, testdata: Path) -> None:
    # 8.3-17.78 s of sample.wav: six utterances of sample.stm, cut at pauses.
    start = 8.3
    audio = load_wav(testdata / "sample.wav")[int(start * RATE):int(17.78 * RATE)]
    words = engine.transcribe(audio, DecodeOptions()).words

    def first(text: str) -> float:
        return next(w.start for w in words if text in w.text.lower()) + start

    # sample.stm starts: "Neither did I." 9.838, "This is Diane…" 12.542, "And I'm Sheila…" 14.444
    assert first("neither") == pytest.approx(9.84, abs=0.3)
    assert first("this") == pytest.approx(12.54, abs=0.3)
    assert first("sheila") == pytest.approx(14.6, abs=0.5)
    assert words[-1].end + start == pytest.approx(17.77, abs=0.3)  # "…from Chicago." ends


@pytest.mark.parametrize("options", [DecodeOptions(), DecodeOptions(audio_ctx=0),
                                     DecodeOptions(suppress_non_speech=False)],
                         ids=["sized", "full-window", "annotations-allowed"])
def test_silence_and_noise_give_no_text(engine: WhisperEngine, options: DecodeOptions) -> None:
    rng = np.random.default_rng(0)
    for audio in (np.zeros(3 * RATE, np.float32),
                  (0.1 * rng.standard_normal(5 * RATE)).astype(np.float32),
                  (0.003 * rng.standard_normal(5 * RATE)).astype(np.float32),
                  (0.3 * np.sin(2 * np.pi * 100 * np.arange(4 * RATE) / RATE)).astype(np.float32)):
        result = engine.transcribe(audio, options)
        assert result.text == "" and result.words == []


def test_very_short_audio_gives_no_text(engine: WhisperEngine, jfk: np.ndarray) -> None:
    assert engine.transcribe(jfk[:800], DecodeOptions()).text == ""


def test_rejects_bad_input(engine: WhisperEngine, jfk: np.ndarray) -> None:
    with pytest.raises(AudioFormatError):
        engine.transcribe(np.stack([jfk, jfk]), DecodeOptions())
    with pytest.raises(BadRequestError, match="English-only"):
        engine.transcribe(jfk, DecodeOptions(language="de"))
    assert engine.resolve_language(None) == engine.resolve_language("auto") == "en"
    assert engine.languages == ("en",)


class AbortAfterPolls(threading.Event):
    """An abort event that turns itself on at its n-th poll by whisper.cpp.

    whisper.cpp polls the abort callback before and after each encoder pass
    and after each decoded token; this makes "abort during inference"
    deterministic, and the poll count shows whether inference went on.
    """

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.remaining = polls
        self.polls = 0

    def is_set(self) -> bool:
        self.polls += 1
        self.remaining -= 1
        if self.remaining <= 0:
            self.set()
        return super().is_set()


def test_abort_stops_inference_early(engine: WhisperEngine, testdata: Path) -> None:
    audio = load_wav(testdata / "sample.wav")
    counting = AbortAfterPolls(10**6)
    engine.transcribe(audio, DecodeOptions(), abort=counting)
    assert counting.polls > 50  # a whole transcription polls once per token
    abort = AbortAfterPolls(4)  # our check, encoder-begin, after-encode, first token
    with pytest.raises(InferenceAborted):
        engine.transcribe(audio, DecodeOptions(), abort=abort)
    assert abort.polls <= 5  # it stopped at once (one more poll may sit in the unwinding)


def test_abort_set_before_the_call(engine: WhisperEngine, jfk: np.ndarray, jfk_text: str) -> None:
    abort = threading.Event()
    abort.set()
    with pytest.raises(InferenceAborted):
        engine.transcribe(jfk, DecodeOptions(), abort=abort)
    # The context went back to the pool and still works.
    assert wer(jfk_text, engine.transcribe(jfk, DecodeOptions()).text) <= 0.05


@pytest.mark.parametrize("contexts", [1, 2])
def test_threads_share_the_contexts(contexts: int, tiny_model: Path, jfk: np.ndarray,
                                    jfk_text: str, testdata: Path) -> None:
    sample = load_wav(testdata / "sample.wav")[int(12.45 * RATE):int(14.4 * RATE)]
    jobs = [(jfk, jfk_text), (sample, "This is Diane in New Jersey."), (jfk, jfk_text)]
    engine = WhisperEngine(tiny_model, contexts=contexts, threads=1)
    results: dict[int, str] = {}
    try:
        threads = [threading.Thread(target=lambda i=i, a=a: results.__setitem__(
            i, engine.transcribe(a, DecodeOptions()).text)) for i, (a, _) in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        engine.close()
    for i, (_, reference) in enumerate(jobs):
        assert wer(reference, results[i]) <= 0.05, results[i]


def test_async_run_is_bounded_and_fifo(tiny_model: Path, jfk: np.ndarray, jfk_text: str) -> None:
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    order: list[int] = []

    async def job(i: int) -> str:
        result = await engine.run(jfk[: (8 + i) * RATE], DecodeOptions())
        order.append(i)
        return result.text

    async def main() -> list[str]:
        tasks = [asyncio.ensure_future(job(i)) for i in range(3)]
        await asyncio.sleep(0)  # let every task submit
        assert engine.queue_depth + engine.busy == 3 and engine.busy <= 1
        return await asyncio.gather(*tasks)

    try:
        texts = asyncio.run(main())
        assert order == [0, 1, 2]
        assert engine.queue_depth == 0 and engine.busy == 0
        assert wer(jfk_text, texts[-1]) <= 0.05
    finally:
        engine.close()


def test_cancelled_queued_runs_leave_the_queue(tiny_model: Path, jfk: np.ndarray) -> None:
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)

    async def main() -> None:
        tasks = [asyncio.ensure_future(engine.run(jfk, DecodeOptions())) for _ in range(3)]
        await asyncio.sleep(0)
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(main())
        assert engine.queue_depth == 0 and engine.busy == 0
    finally:
        engine.close()


# -- the multilingual model ---------------------------------------------------
@pytest.fixture(scope="module")
def base_engine(base_model: Path) -> Iterator[WhisperEngine]:
    engine = WhisperEngine(base_model, contexts=1, threads=2)
    yield engine
    engine.close()


def test_base_detects_english_and_transcribes(base_engine: WhisperEngine, jfk: np.ndarray,
                                              jfk_text: str) -> None:
    assert base_engine.multilingual and len(base_engine.languages) == 99
    result = base_engine.transcribe(jfk, DecodeOptions())  # None = detect on multilingual models
    assert result.language == "en" and result.language_probability is not None
    assert result.language_probability > 0.5
    assert wer(jfk_text, result.text) <= 0.05, result.text


def test_base_detection_uses_this_calls_window(base_engine: WhisperEngine, jfk: np.ndarray) -> None:
    # A short call first leaves a small encoder window on the context; detection
    # must still see the whole of the next (longer) audio, so the result is the same.
    alone = base_engine.transcribe(jfk, DecodeOptions(language="auto"))
    base_engine.transcribe(jfk[: RATE], DecodeOptions(language="en"))
    after = base_engine.transcribe(jfk, DecodeOptions(language="auto"))
    assert after.language_probability == pytest.approx(alone.language_probability, abs=1e-4)


def test_base_given_language_is_used(base_engine: WhisperEngine, jfk: np.ndarray) -> None:
    result = base_engine.transcribe(jfk, DecodeOptions(language="EN"))
    assert result.language == "en" and result.language_probability is None
    with pytest.raises(BadRequestError, match="unknown language"):
        base_engine.transcribe(jfk, DecodeOptions(language="xx"))
