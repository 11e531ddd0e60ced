"""The partial/final policy driven directly, with the real engine and real audio."""

from __future__ import annotations

import asyncio
import re
import wave
from collections.abc import Callable

import jiwer
import numpy as np
import pytest

from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.engine import Transcription, Word
from lumen.asr.streaming import (StreamingOptions, StreamingRecognizer, TranscriptEvent, agreement,
                                  collapse_loops, padding_echo, repeated_prefix, start_echo)
from lumen.audio.vad import SpeechEnd, SpeechPause, SpeechStart, VadOptions, VadSegmenter


def read16k(path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@pytest.fixture(scope="module")
def engine(tiny_model):
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    yield engine
    engine.close()


def stream(engine, audio: np.ndarray, options: StreamingOptions, chunk: float = 0.1,
           realtime: bool = True, settle: bool = False,
           received: list[float] | None = None) -> list[TranscriptEvent]:
    """Push ``audio`` through VAD + recognizer as the session does; return every event.

    ``realtime`` paces the chunks like a live client; otherwise all audio
    arrives at once (a client sending faster than real time).  ``settle``
    waits after each chunk until the recognizer has nothing left to do (an
    infinitely fast engine: the same events whatever the machine's load).
    ``received`` gets the seconds of audio pushed when each event came."""
    async def run() -> list[TranscriptEvent]:
        events: list[TranscriptEvent] = []
        failures: list[BaseException] = []
        def emit(event: TranscriptEvent) -> None:
            events.append(event)
            if received is not None:
                received.append(recognizer.received_seconds)

        recognizer = StreamingRecognizer(engine, DecodeOptions(), options, emit=emit,
                                         on_failure=failures.append)
        vad = VadSegmenter()
        step = int(16000 * chunk)
        for offset in range(0, audio.size, step):
            piece = audio[offset:offset + step]
            recognizer.push(piece, vad.feed(piece))
            await asyncio.sleep(chunk if realtime else 0)
            while settle and not recognizer.idle:
                await asyncio.sleep(0.002)
        recognizer.push(np.zeros(0, np.float32), vad.flush())
        await recognizer.finish()
        assert not failures
        return events
    return asyncio.run(run())


def finals_text(events: list[TranscriptEvent]) -> str:
    return " ".join(e.text for e in events if e.is_final and e.text)


def check_invariants(events: list[TranscriptEvent]) -> None:
    """Finals: unique increasing ids, monotonic word times; no partial for a finished segment."""
    final_ids = [e.segment_id for e in events if e.is_final]
    assert final_ids == sorted(set(final_ids))
    last_end = 0.0
    finished: set[int] = set()
    for event in events:
        if event.is_final:
            for word in event.words:
                assert word.start >= last_end - 1e-6 and word.end >= word.start
                last_end = word.end
            finished.add(event.segment_id)
        else:
            assert event.segment_id not in finished, "a partial after its segment's final"


def test_agreement_is_loose_about_case_and_punctuation():
    a = [Word(" And", 0, 1, 1), Word(" so,", 1, 2, 1), Word(" my", 2, 3, 1)]
    b = [Word(" and", 0, 1, 1), Word(" so", 1, 2, 1), Word(" by", 2, 3, 1)]
    assert agreement([a, b]) == (b[:2], [2, 2])
    assert agreement([[], b]) == ([], [0, 0])
    assert agreement([a, b, a]) == (a[:2], [2, 2, 2])


def test_agreement_counts_a_loop_as_often_as_the_fewest_say_it():
    """tiny.en says sample.wav's "Hello? Hello?" two to eight times over consecutive windows."""
    two = words_at("Hello? Hello? I didn't know", 0)
    five = words_at("Hello? Hello? Hello? Hello? Hello? I didn't know", 0)
    kept, covered = agreement([two, five])
    assert [w.text for w in kept] == [" Hello?", " Hello?", " I", " didn't", " know"]
    assert kept[2] is five[5] and covered == [5, 8]  # from the last hypothesis, its extra repeats passed over
    kept, covered = agreement([five, two])
    assert kept == two and covered == [8, 5]
    # A loop the hypotheses end on may still grow: its extra repeats are not passed over.
    assert agreement([two[:2], five[:4]]) == (five[:2], [2, 2])
    assert agreement([words_at("no no", 0), words_at("know", 0)]) == ([], [0, 0])


def test_agreement_takes_a_word_cut_off_at_the_window_end_for_its_beginning():
    """jfk.wav: "American..." at one window's end, "Americans." a second later."""
    cut = words_at("And so my fellow American...", 0)
    whole = words_at("And so my fellow Americans. And so", 0)
    assert agreement([cut, whole]) == (whole[:4], [4, 4])  # words must match by default
    kept, covered = agreement([cut, whole], cut_prefix=3)
    assert kept == whole[:5] and covered == [5, 5]
    # Only an earlier hypothesis's last word, only as the beginning of the later one's.
    kept, _ = agreement([words_at("so my fell", 0), words_at("so my fellow", 0)], cut_prefix=3)
    assert kept[-1].text == " fellow"
    assert len(agreement([words_at("my fell so", 0), words_at("my fellow so", 0)], cut_prefix=3)[0]) == 1
    assert len(agreement([words_at("my fellow", 0), words_at("my fell", 0)], cut_prefix=3)[0]) == 1
    assert len(agreement([words_at("my fe", 0), words_at("my fellow", 0)], cut_prefix=3)[0]) == 1  # too short


def test_long_speech_without_pauses_loses_and_repeats_nothing(engine, testdata):
    """Three JFK clips back to back with their pauses squeezed out: early and forced commits."""
    audio = read16k(testdata / "jfk.wav")
    speech = audio[int(0.3 * 16000):int(10.6 * 16000)]
    long = np.concatenate([speech, speech, speech])
    reference = " ".join([(testdata / "jfk.txt").read_text()] * 3)
    events = stream(engine, long, StreamingOptions(max_segment=8.0, trim_window=5.0))
    check_invariants(events)
    finals = [e for e in events if e.is_final and e.text]
    assert len(finals) >= 4, "long speech is cut into several finals"
    assert all(e.end - e.start <= 8.5 for e in finals)
    # The policy must neither drop nor repeat words around its cuts: a lost or
    # doubled window would cost 15-30 % here.  What tiny.en mishears inside a
    # short window (substitutions, an occasional repeated phrase) is the
    # model's accuracy, hence the allowance.
    measures = jiwer.process_words(normalize(reference), normalize(finals_text(events)))
    n = len(normalize(reference).split())
    assert measures.deletions <= 0.1 * n and measures.insertions <= 0.15 * n, \
        (measures.deletions, measures.insertions, finals_text(events))


def test_faster_than_real_time_keeps_every_word(engine, testdata):
    """All audio at once: windows are capped at max_segment and forced commits keep up."""
    audio = read16k(testdata / "jfk.wav")
    long = np.concatenate([audio, audio])
    events = stream(engine, long, StreamingOptions(max_segment=8.0), realtime=False)
    check_invariants(events)
    reference = " ".join([(testdata / "jfk.txt").read_text()] * 2)
    assert jiwer.wer(normalize(reference), normalize(finals_text(events))) <= 0.2


def test_interim_results_off_sends_only_finals(engine, testdata):
    audio = read16k(testdata / "jfk.wav")
    events = stream(engine, audio, StreamingOptions(interim_results=False), realtime=False)
    assert events and all(e.is_final for e in events)
    reference = (testdata / "jfk.txt").read_text()
    assert jiwer.wer(normalize(reference), normalize(finals_text(events))) <= 0.1


def test_short_utterances_are_heard_after_the_previous_words(engine, testdata):
    """jfk.wav started 0.13 s late: decoded alone, tiny.en hears the 1 s "ask
    not" after a pause as "as" and the next utterance as a repetition loop
    (WER 0.77).  With the previous final's last words before it as context
    (committed, so never sent twice) it hears them."""
    audio = read16k(testdata / "jfk.wav")[int(0.13 * 16000):]
    reference = normalize((testdata / "jfk.txt").read_text())
    alone = stream(engine, audio, StreamingOptions(context_gap=0), realtime=False, settle=True)
    heard = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    check_invariants(heard)
    with_context = jiwer.process_words(reference, normalize(finals_text(heard)))
    assert with_context.wer <= 0.25, finals_text(heard)
    assert with_context.wer < jiwer.wer(reference, normalize(finals_text(alone)))
    assert normalize(finals_text(heard)).count("ask not") == 1


def test_a_short_noise_after_a_pause_does_not_repeat_the_context(engine, testdata):
    """The AMI clip ends with a 0.1 s sound a second after "you can call me
    Abbie": heard after that context, tiny.en wrote "You can call me Abby." two
    more times for it; a sound that short is decoded alone (``context_min``)."""
    audio = read16k(testdata / "ami-ES2011a-headset-40s-46s.wav")
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    assert normalize(finals_text(events)).count("call me") == 1, finals_text(events)


def test_the_last_words_survive_a_stream_that_stops_right_after_them(engine, testdata):
    """jfk.wav ends 0.3 s after "country"; whisper drops a window's last word
    unless silence follows, so the final closed by the stream's end is padded."""
    audio = read16k(testdata / "jfk.wav")
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    assert normalize(finals_text(events)).endswith("for your country"), finals_text(events)
    ends = [w.end for e in events if e.is_final for w in e.words]
    assert max(ends) <= audio.size / 16000, "no word time in the silence the padding added"


@pytest.mark.parametrize("name, cut, phrase", [("jfk.wav", 2.5, "so my fellow"),
                                               ("sample.wav", 20.0, "i'm originally"),
                                               ("sample.wav", 29.0, "don't hear")])
def test_a_stream_cut_off_mid_speech_gets_no_echo_in_its_last_final(engine, testdata, name, cut, phrase):
    """A stream that stops mid-speech (a lost connection) ends in a final padded
    with silence, into which tiny.en said the window again: cut there, jfk.wav
    gave "And so my fellow Americans. And so my fellow Americans. And", sample.wav
    "… Oh, I'm originally from Chicago. Oh, I'm originally" and "… I don't hear
    that. I don't hear that. I don't hear".  (The echo's words that whisper places
    inside the audio are kept, see ``padding_echo``: jfk.wav's "And so my".)
    ``test_the_last_words_survive_a_stream_that_stops_right_after_them`` and the CLI's
    resume test keep a real last word that whisper placed past the audio."""
    audio = read16k(testdata / name)[:int(cut * 16000)]
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    check_invariants(events)
    assert normalize(finals_text(events)).count(phrase) == 1, finals_text(events)


@pytest.mark.parametrize("silence", [0.2, 0.5])
def test_a_window_said_again_from_its_start_is_dropped(engine, testdata, silence):
    """After 0.2 or 0.5 s of silence (a client that starts streaming before its
    speaker talks), tiny.en heard jfk.wav's first utterance as "And so my fellow
    Americans. And so my fellow", both in the last hypothesis and in the final
    (with ``start_echo=False`` this fails, 2026-12-04)."""
    audio = np.concatenate([np.zeros(int(silence * 16000), np.float32), read16k(testdata / "jfk.wav")])
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    check_invariants(events)
    assert normalize(finals_text(events)).count("fellow") == 1, finals_text(events)


def test_padding_echo_is_a_run_of_the_window_said_again_past_the_audio():
    said = words_at("And so my fellow Americans", 0.0) + words_at("And so my fellow Americans", 2.1)
    # The audio ends at 2.5 s: "my fellow Americans" (from 2.9 s) has no audio under it
    # and says the window's words again.  The "And so" before it may be the echo's
    # too, or the speaker's: they are kept.
    assert padding_echo(said, 2.5, 0.1) == 7
    # Words that start inside the audio, or within the margin after it, are kept.
    assert padding_echo(said, 4.0, 0.1) == 10
    assert padding_echo(said, 3.65, 0.1) == 10
    # Past the audio but no repetition: whisper placed a real last word late.
    last = words_at("ask what you can do for your country", 0.0)
    assert padding_echo(last, 2.6, 0.1) == 8
    # A word or two that repeat may do so by chance: kept.
    assert padding_echo(words_at("do for your country and your country", 0.0), 1.5, 0.1) == 7
    assert padding_echo([], 1.0, 0.1) == 0


def test_a_word_whisper_loops_on_is_committed_once(engine, testdata):
    """sample.wav's "Hello? Hello? Oh, hello." (6.7-8.9 s): in 3-6 s windows tiny.en
    wrote up to eight "Hello?", the repeats squeezed into a tenth of a second,
    and two hypotheses that looped alike committed the loop (six hellos).  One
    decode of the whole file says four (the "Oh" heard as a hello)."""
    audio = read16k(testdata / "sample.wav")[:int(12.5 * 16000)]
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True)
    check_invariants(events)
    assert 2 <= normalize(finals_text(events)).count("hello") <= 4, finals_text(events)
    assert "didn't know you were there" in normalize(finals_text(events))


def test_words_after_a_loop_do_not_wait_for_the_pause(engine, testdata):
    """After sample.wav's hellos, hypotheses that looped a different number of times
    agreed on nothing until the first pause (17 s): "I didn't know you were there"
    (9 s) waited 7 s.  Compared as one word, the loop no longer blocks them."""
    audio = read16k(testdata / "sample.wav")[:int(18 * 16000)]
    received: list[float] = []
    events = stream(engine, audio, StreamingOptions(), realtime=False, settle=True, received=received)
    check_invariants(events)
    waits = {normalize(w.text): at - w.end for e, at in zip(events, received) if e.is_final for w in e.words}
    assert waits.get("didn't", 99.0) < 4.0, finals_text(events)


def test_collapse_loops_merges_squeezed_repeats_only():
    # A 4 s window of sample.wav (times as whisper gave them).
    repeats = [Word(" Hello?", 2.07 + 0.09 * i, 2.16 + 0.09 * i, 0.5) for i in range(5)]
    looped = [Word(" Hello?", 0.27, 2.07, 0.6), *repeats, Word(" I", 2.66, 2.67, 0.4)]
    assert [(w.text, w.start, w.end) for w in collapse_loops(looped, 0.12)] == \
        [(" Hello?", 0.27, pytest.approx(2.52)), (" I", 2.66, 2.67)]
    # Repeats said at a speaking pace, one-letter words and different words stay.
    said = [Word(" no,", 0, 0.3, 1), Word(" no.", 0.3, 0.6, 1), Word(" I.", 0.6, 0.7, 1), Word(" I", 0.7, 0.72, 1),
            Word(" not", 0.8, 0.85, 1)]
    assert collapse_loops(said, 0.12) == said
    assert collapse_loops([], 0.12) == []


def test_partials_precede_their_final_and_track_the_speech(engine, testdata):
    audio = read16k(testdata / "jfk.wav")
    events = stream(engine, audio, StreamingOptions(partial_interval=1.0))
    check_invariants(events)
    partials = [e for e in events if not e.is_final]
    assert len(partials) >= 3
    for partial in partials:
        final = next(e for e in events if e.is_final and e.segment_id == partial.segment_id)
        assert events.index(partial) < events.index(final)


def test_silence_gives_no_events(engine):
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(16000 * 4) * 0.001).astype(np.float32)
    assert stream(engine, quiet, StreamingOptions(), realtime=False) == []


class GatedEngine:
    """The real engine, but each call waits for the test to release it.

    Lets a test decide exactly what audio arrives while an inference runs
    (the machine here cannot be loaded on demand); every result is the real
    engine's.
    """

    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine
        self.permits = asyncio.Semaphore(0)
        self.queue_depth = 0
        self.started = 0

    def resolve_language(self, language):
        return self._engine.resolve_language(language)

    async def run(self, audio, options, abort=None):
        self.started += 1
        await self.permits.acquire()
        return await self._engine.run(audio, options, abort)


def test_utterance_closing_while_a_hypothesis_commits_early(engine, testdata):
    """The VAD closes an utterance while its hypothesis runs, then that hypothesis
    commits a prefix: the queued final must not repeat the prefix."""
    audio = read16k(testdata / "jfk.wav")
    second = 16000

    async def scenario() -> list[TranscriptEvent]:
        gated = GatedEngine(engine)
        events: list[TranscriptEvent] = []
        recognizer = StreamingRecognizer(gated, DecodeOptions(), StreamingOptions(),
                                         emit=events.append, on_failure=pytest.fail)
        vad = VadSegmenter(VadOptions(noise_margin_db=0))  # webrtcvad alone: one long utterance

        async def push(a: float, b: float) -> None:
            piece = audio[int(a * second):int(b * second)]
            recognizer.push(piece, vad.feed(piece))
            await asyncio.sleep(0.05)

        async def release_and_wait(calls: int) -> None:
            gated.permits.release()
            while gated.started < calls:
                await asyncio.sleep(0.05)

        await push(0, 5)                 # hypothesis 1 of [0, 5 s] starts and waits
        await release_and_wait(1)
        await push(5, 6.2)
        await release_and_wait(2)        # hypothesis 1 done; hypothesis 2 of [0, 6.2 s] waits
        await push(6.2, 11)              # meanwhile the VAD closes the utterance (~8.2 s)
        assert recognizer.lag > 0
        for _ in range(8):               # hypothesis 2 commits a prefix; then the finals
            gated.permits.release()
        recognizer.push(np.zeros(0, np.float32), vad.flush())
        await recognizer.finish()
        return events

    events = asyncio.run(scenario())
    check_invariants(events)
    finals = [e for e in events if e.is_final and e.text]
    assert len(finals) >= 2, "hypothesis 2 committed a prefix early"
    reference = normalize((testdata / "jfk.txt").read_text())
    measures = jiwer.process_words(reference, normalize(finals_text(events)))
    assert measures.insertions <= 2 and measures.deletions <= 2, finals_text(events)


def test_final_reuses_the_decode_started_at_the_pause(engine, testdata):
    """The VAD's pause starts the final's decode; when the end follows at the
    same sample, the final is that decode (no second inference)."""
    audio = read16k(testdata / "jfk.wav")
    second = 16000
    options = VadOptions()
    found = VadSegmenter(options).feed(audio)
    pause = next(e for e in found if isinstance(e, SpeechPause))
    end = next(e for e in found if isinstance(e, SpeechEnd))
    assert end.sample == pause.sample, "jfk's first utterance ends at its first pause"

    async def scenario() -> tuple[list[TranscriptEvent], int, int]:
        gated = GatedEngine(engine)
        events: list[TranscriptEvent] = []
        recognizer = StreamingRecognizer(gated, DecodeOptions(), StreamingOptions(interim_results=False, trim_window=10.0),
                                         emit=events.append, on_failure=pytest.fail)
        vad = VadSegmenter(options)
        step = second // 50
        position = 0
        while gated.started == 0:  # up to the pause, in 20 ms chunks
            piece = audio[position:position + step]
            position += step
            recognizer.push(piece, vad.feed(piece))
            await asyncio.sleep(0)
        started_at = position
        gated.permits.release()
        # Up to the VAD's end (not into the next utterance, whatever the machine's speed).
        while position < end.sample + int(options.endpoint_silence * second) + 3 * step:
            piece = audio[position:position + step]
            position += step
            recognizer.push(piece, vad.feed(piece))
            await asyncio.sleep(0.01)
        while not events and not recognizer.idle:  # the final
            await asyncio.sleep(0.01)
        calls = gated.started
        await recognizer.abort()
        return events, started_at, calls

    events, started_at, calls = asyncio.run(scenario())
    assert pause.sample < started_at < end.sample + int(options.endpoint_silence * second), \
        "the decode started at the pause, before the VAD's end"
    assert calls == 1, "the final reused the speculative decode"
    assert normalize(events[0].text).startswith("and so my fellow americans")


def test_audio_after_a_worker_failure_does_not_hang_finish(engine, testdata):
    """Regression (CI hang): the worker dies on its first call, the session then
    flushes more speech and calls finish(); finish must raise, not wait forever
    for a final that no worker will run."""
    audio = read16k(testdata / "jfk.wav")

    class FailingEngine:
        queue_depth = 0

        def resolve_language(self, language):
            return engine.resolve_language(language)

        async def run(self, audio, options, abort=None):
            raise RuntimeError("injected worker failure")

    async def scenario() -> list[BaseException]:
        failures: list[BaseException] = []
        recognizer = StreamingRecognizer(FailingEngine(), DecodeOptions(), StreamingOptions(),
                                         emit=pytest.fail, on_failure=failures.append)
        vad = VadSegmenter()
        half = audio.size // 2
        recognizer.push(audio[:half], vad.feed(audio[:half]))
        while not failures:
            await asyncio.sleep(0.01)
        recognizer.push(audio[half:], vad.feed(audio[half:]))  # speech ends: a final is due
        recognizer.push(np.zeros(0, np.float32), vad.flush())
        with pytest.raises(RuntimeError, match="injected"):
            await asyncio.wait_for(recognizer.finish(), 10)
        return failures

    failures = asyncio.run(scenario())
    assert len(failures) == 1


def words_at(text: str, start: float, step: float = 0.4) -> list[Word]:
    """Words of ``text`` one after another, ``step`` seconds each, from ``start``."""
    return [Word(f" {w}", start + i * step, start + (i + 1) * step - 0.05, 0.9)
            for i, w in enumerate(text.split())]


class ScriptedEngine:
    """Answers a window of ``seconds`` with ``answer(seconds)`` (words timed from the window's start)."""

    queue_depth = 0  # (never busy with other sessions' work)

    def __init__(self, answer: Callable[[float], list[Word]]) -> None:
        self.answer = answer

    def resolve_language(self, language: str | None) -> str:
        return "en"

    async def run(self, audio: np.ndarray, options: DecodeOptions, abort=None) -> Transcription:
        words = self.answer(audio.size / 16000)
        return Transcription("".join(w.text for w in words), words, "en", None, audio.size / 16000, 0.0, None, 0)


def test_an_empty_final_after_the_context_starts_after_the_previous_final():
    """An utterance soon after a final is decoded with that final's words before it;
    when its final has no word of its own (a partial had one), the empty final
    used to start where the context did, inside the previous final."""
    second = 16000

    def answer(seconds: float) -> list[Word]:
        said = words_at("hello there", 0.2)  # the first utterance, then the second's context
        if seconds <= 1.5 or round(seconds, 1) == 3.7:  # the first utterance; the second's final
            return said
        return said + words_at("world", 2.3)  # the second utterance's partials

    async def run() -> list[TranscriptEvent]:
        events: list[TranscriptEvent] = []
        recognizer = StreamingRecognizer(ScriptedEngine(answer), DecodeOptions(),
                                         StreamingOptions(speculate=False, commit_after=100.0),
                                         emit=events.append, on_failure=print)
        silence = np.zeros(second, np.float32)
        for events_in_chunk in ([SpeechStart(0)], [SpeechEnd(int(1.1 * second))],
                                [SpeechStart(int(2.2 * second))], [], [SpeechEnd(int(3.4 * second))]):
            recognizer.push(silence, events_in_chunk)
            while not recognizer.idle:
                await asyncio.sleep(0.001)
        await recognizer.finish()
        return events

    events = [e for e in asyncio.run(run()) if e.is_final]
    assert [e.text for e in events] == ["hello there", ""]
    assert events[1].start >= events[0].end and events[1].end >= events[1].start, events


def test_start_echo_is_a_copy_of_the_first_words_to_the_end():
    # jfk.wav after 0.2 s of silence: the window said again from its start, cut by its end.
    said = words_at("And so my fellow Americans. And so my fellow", 0.0)
    assert start_echo(said) == 5
    assert start_echo(words_at("I didn't know you were there I didn't know you were there", 0.0)) == 6
    # A loop of the start said more than twice goes from the first copy.
    assert start_echo(words_at("what your country what your country what your", 0.0)) == 3
    # Not a copy of the start: a repeat later in the window, too short, or not at the end.
    assert start_echo(words_at("ask not what you can do for you ask what you can do for", 0.0)) == 14
    assert start_echo(words_at("Hello Hello Hello", 0.0)) == 3
    assert start_echo(words_at("no no I said no no", 0.0)) == 6
    assert start_echo(words_at("I am fine I am fine thanks", 0.0)) == 7
    assert start_echo([]) == 0


def test_repeated_prefix_finds_the_committed_words_by_text_then_by_time():
    committed = words_at("And so my fellow", 0.0)                     # ends at 1.55 s
    # Written again (punctuation and case aside), with times shifted: skip them.
    assert repeated_prefix(committed, words_at("and so, my fellow Americans ask", 0.2), 0.5) == 4
    # A window trimmed inside the committed words starts with their tail.
    assert repeated_prefix(committed, words_at("my fellow Americans", 0.8), 0.5) == 2
    # The last committed word written differently: matched by its time.
    assert repeated_prefix(committed, words_at("And so my fellows Americans", 0.0), 0.5) == 4
    # Committed words squeezed onto one instant (whisper at a window's edge): the
    # committed end lies early, yet the words that follow the match are still skipped.
    squeezed = words_at("I heard a beat", 0.0) + [Word(" this", 1.55, 1.55, 0.9), Word(" is", 1.55, 1.55, 0.9)]
    assert repeated_prefix(squeezed, words_at("I heard a beat this is Diane", 0.4), 0.5) == 6
    # The previous utterance heard again as context, written differently and its
    # last word stretched over the pause: everything before the VAD's speech start goes.
    context = words_at("so I fell in famed and", 0.0)                # ends at 2.35 s
    heard = [Word(" So", 0.0, 0.35, 0.9), Word(" my", 0.4, 0.75, 0.9), Word(" fellow", 0.8, 1.5, 0.9),
             Word(" Americans", 1.6, 3.2, 0.9), Word(" ask", 3.25, 3.5, 0.9), Word(" not", 3.6, 4.0, 0.9)]
    assert repeated_prefix(context, heard, 0.5, speech=3.15) == 4
    assert repeated_prefix(context, heard, 0.5) == 3
    # The same words said again later are new words, not the committed ones.
    later = words_at("And so my fellow Americans and so my fellow", 0.0)
    assert repeated_prefix(committed, later, 0.5) == 4
    # Nothing committed, or a hypothesis that only has new speech.
    assert repeated_prefix([], later, 0.5) == 0
    assert repeated_prefix(committed, words_at("ask not", 1.7), 0.5) == 0
