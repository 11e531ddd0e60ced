"""The partial/final policy: from a live audio stream to transcript events.

One :class:`StreamingRecognizer` per session.  The session pushes 16 kHz audio
and the VAD's speech events; the recognizer keeps the uncommitted audio in a
ring buffer, asks the engine for hypotheses and turns them into events:

* **partials** (``is_final=False``) every ``partial_interval`` seconds of new
  audio inside an utterance, each replacing the previous partial of the same
  ``segment_id``;
* a **final** when the VAD says the utterance ended (``endpoint_silence``).
  It is decoded *speculatively* as soon as the VAD reports a shorter pause
  (``pause_silence``, equal to ``tail``): that window is exactly the one the
  final would decode, so when the end follows at the same sample the final
  is already there; when speech resumes, the hypothesis serves as a partial;
* an **early final** inside an utterance: the words that two consecutive
  hypotheses agree on (LocalAgreement-2, a word whisper loops on compared as
  one) and that end clear of the window's edge are committed.  The audio
  stays in the window, so later hypotheses still hear the committed words
  and decode the rest with that context;
  their words are aligned to the committed ones (text first, then time) and
  only the words after them are new;
* the window is **trimmed** once it is ``trim_window`` long: it then starts
  between two committed words, ``keep_context`` seconds before the last
  committed one, so whisper never starts inside an uncommitted word;
* a **forced final** when a window reaches ``max_segment`` (whisper sees at
  most that much audio at once): its words clear of the edge are committed,
  agreed or not;
* an utterance that starts soon after the previous final (``context_gap``)
  is decoded with that final's last words before it, as its anchor: whisper
  hears a short utterance far better after its neighbours' words.

Scheduling: each session has at most one inference in flight, finals go
before speculative finals, which go before partials, and speculation and
partials are skipped (merged into the next) while the engine is busy with
other work.  Finals are never dropped.  Because every
session queues at most one job, sessions share the engine's contexts
round-robin.

Time is audio time: sample indices at 16 kHz since the session started.

Thread-safety: all methods run on the IOLoop; only the engine call runs in
the engine's executor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

from lumen.asr.engine import DecodeOptions, Transcription, WhisperEngine, Word
from lumen.audio.ring import AudioRing
from lumen.audio.vad import SpeechEnd, SpeechPause, SpeechStart, VadEvent

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Shortest window worth recognising (shorter leftovers of an utterance are dropped).
MIN_WINDOW = SAMPLE_RATE // 10
#: Shortest window whose detected language the utterance's next partials keep.
MIN_DETECT = SAMPLE_RATE
#: Words past a padded window's audio that must say a run of it again to be dropped as its echo.
ECHO_WORDS = 3


@dataclass(frozen=True)
class StreamingOptions:
    """When partials and finals are produced."""

    interim_results: bool = True
    """Produce partial results at all."""
    partial_interval: float = 1.0
    """Seconds of new audio in an utterance between two partials."""
    max_segment: float = 12.0
    """Utterance length in seconds that forces a final at a word boundary."""
    trim_window: float = 10.0
    """Window length (seconds) from which the window is trimmed to the
    committed words' last ``keep_context`` seconds; this keeps the cost of
    each hypothesis bounded."""
    keep_context: float = 1.5
    """Seconds of committed speech a trimmed window keeps before the
    uncommitted words (whisper hears a word better with its neighbours;
    with 2 s, sample.wav's WER was 0.19 instead of 0.17 over 20 offsets)."""
    context_gap: float = 1.5
    """An utterance that starts within this many seconds of silence after
    the previous final's last word is decoded with that final's last
    ``context_length`` seconds of speech before it (committed, so only the
    words after them are new): whisper hears a short utterance ("ask not")
    far better after its neighbours' words than alone.  0 turns it off."""
    context_length: float = 2.0
    """Seconds of the previous final's speech heard before an utterance
    within ``context_gap`` (see there)."""
    context_min: float = 1.0
    """An utterance with less audio of its own than this (seconds, pre-roll
    and tail included) is decoded without the context: for a short noise
    whisper tends to repeat the context's words."""
    commit_after: float = 3.0
    """Seconds of an utterance's own audio before words are committed early.  Hypotheses
    are decoded without temperature fallback, and tiny.en hears a short
    window worst; a short utterance is better finalized whole at its pause."""
    agreement: int = 2
    """Consecutive hypotheses that must agree on a word to commit it early
    (LocalAgreement-n; at least 2)."""
    edge_margin: float = 0.5
    """Words ending closer than this to the window's end may be cut off, so
    they are never committed early."""
    align_slack: float = 0.5
    """Hypothesis words starting up to this long after the committed words'
    end are searched for them (whisper's word times are rough)."""
    cut_search: float = 0.15
    """Seconds around a word boundary searched for the quietest point to cut at."""
    pre_roll: float = 0.3
    """Seconds of audio kept before the VAD's speech start (soft onsets)."""
    tail: float = 0.3
    """Seconds of audio kept after the VAD's speech end (soft endings).  The
    VAD's ``pause_silence`` should equal it, so a speculative final sees the
    same window as the final."""
    end_padding: float = 2.0
    """Seconds of silence appended to a final closed by ``finalize``/``end``
    or by the stream's end inside its tail: whisper drops the last words of
    audio that stops right after them (tiny.en loses jfk.wav's last word
    with up to a second of silence after it)."""
    echo_margin: float | None = 0.1
    """In a window padded with ``end_padding``, words said to start more than
    this many seconds after the audio's end that say a run of the window
    again are whisper's echo of it into the silence ("… from Chicago. Oh,
    I'm originally" for audio cut after "Chicago"), and are dropped
    (:func:`padding_echo`).  None keeps them."""
    min_repeat: float | None = 0.12
    """A word said again right after itself in less than this many seconds
    (whisper's estimate) is whisper looping, not speech, and is merged into
    the word before (:func:`collapse_loops`).  None keeps every word."""
    cut_prefix: int = 3
    """An earlier hypothesis's last word that the window's end cut off
    ("American...") agrees with a later word it begins ("Americans") when it
    has at least this many letters (:func:`agreement`); 0: words must match."""
    start_echo: bool = True
    """Drop a hypothesis's trailing copy of its own first words (whisper
    starting a short window over, :func:`start_echo`)."""
    speculate: bool = True
    """Decode an utterance's final at the VAD's pause instead of waiting for its end."""
    max_lag: float = 60.0
    """Seconds of untranscribed audio beyond which :attr:`StreamingRecognizer.overloaded` is set."""
    ring_seconds: float = 120.0
    """Capacity of the uncommitted-audio ring buffer."""


@dataclass
class TranscriptEvent:
    """A partial or final result; times are seconds of session audio."""

    segment_id: int
    is_final: bool
    text: str
    start: float
    end: float
    words: list[Word]
    language: str
    language_probability: float | None
    """How sure the detection of ``language`` was; None when it was given (or the model is English-only)."""
    lag: float
    """Seconds of audio received after this result's audio when it was produced."""


@dataclass
class _Job:
    start: int  # absolute sample
    end: int
    is_final: bool
    speculative: bool = False  # a partial decoded as the final would be
    cut_short: bool = False  # closed by finalize() or the stream's end, maybe mid-word: padded
    own: int = 0  # where the utterance's own audio starts: before it, the previous final's context
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future(), repr=False)


_NORMALIZE = re.compile(r"[^\w']+")


def _norm(word: str) -> str:
    return _NORMALIZE.sub("", word.lower())


def keyterm_prompt(keyterms: tuple[str, ...] | list[str]) -> str | None:
    """Whisper's prompt for a session's key terms (None: no prompt).

    whisper takes the prompt as text said before the window, so terms in it
    become likelier spellings; "Glossary:" keeps the decoder from taking the
    list as speech to continue (scripts/eval_keyterms.py compares variants).
    """
    return f"Glossary: {', '.join(keyterms)}." if keyterms else None


def agreement(hypotheses: list[list[Word]], cut_prefix: int = 0) -> tuple[list[Word], list[int]]:
    """What consecutive hypotheses agree on (LocalAgreement), whisper's loops aside.

    Returns the leading words of the last hypothesis that every hypothesis
    says too (compared loosely: case and punctuation aside), and for each
    hypothesis how many of its words they cover.  A word said again and
    again is compared as one, and kept as often as the hypothesis that says
    it least often says it: tiny.en loops on a word a different number of
    times in each hypothesis (sample.wav's "Hello? Hello?" as two to eight
    "Hello?"), and a strict comparison agreed on nothing after the loop
    until the next pause (words waited 7 s).  A run's extra repeats are
    covered (dropped) once the word after the run agrees too; a run the
    hypotheses end on may still grow, so its extra repeats stay.

    ``cut_prefix``: an earlier hypothesis's last word, cut off by its
    window's end, agrees with the last hypothesis's word it begins when it
    has at least this many characters (0: never).  tiny.en heard jfk.wav's
    "American..." with the window ending inside the word, then "Americans."
    a second later: the word waited a third hypothesis.
    """
    runs = [_runs(h) for h in hypotheses]
    kept: list[Word] = []
    covered = [0] * len(hypotheses)
    for i, group in enumerate(zip(*runs)):
        newest = group[-1][0]
        if not all(said == newest or _cut_off(said, newest, i == len(run) - 1, cut_prefix)
                   for (said, _, _), run in zip(group, runs)):
            break
        fewest = min(count for _, _, count in group)
        last = group[-1][1]
        kept += hypotheses[-1][last:last + fewest]
        # (the previous run's extra repeats, before this run's first, are passed over)
        covered = [first + fewest for _, first, _ in group]
    return kept, covered


def _cut_off(said: str, newest: str, last: bool, cut_prefix: int) -> bool:
    """Whether ``said``, an earlier hypothesis's ``last`` word, is ``newest`` cut off by
    its window's end (at least ``cut_prefix`` letters; 0: never)."""
    return bool(cut_prefix) and last and len(said) >= cut_prefix and newest.startswith(said)


def _runs(words: list[Word]) -> list[tuple[str, int, int]]:
    """(word, index of its first, how many) for each run of a word said again and again."""
    runs: list[tuple[str, int, int]] = []
    for i, w in enumerate(words):
        said = _norm(w.text)
        if runs and runs[-1][0] == said:
            runs[-1] = (said, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((said, i, 1))
    return runs


def padding_echo(words: list[Word], audio_end: float, margin: float) -> int:
    """Where whisper's echo into the silence begins in the ``words`` of audio ending at
    ``audio_end`` and padded with silence (times in the same frame); ``len(words)`` if
    there is none.

    Whisper tends to carry on into padding by saying the window again.  The
    echo is the words from the first one that starts more than ``margin``
    after the audio's end, when their first :data:`ECHO_WORDS` say a run of
    the window again.  Time alone is no proof: whisper also places a real
    last word late (jfk.wav's "country", said before the audio's end, once
    came out 0.1 s after it), and a word or two may repeat by chance.  The
    echo may also begin a word or two earlier, in the last noise of the
    audio ("And so my fellow Americans. And so my | fellow Americans. And"),
    but telling those words from a speaker who says something twice is
    guesswork, so they are kept.
    """
    n = next((i for i, w in enumerate(words) if w.start > audio_end + margin), len(words))
    said = [_norm(w.text) for w in words]
    run = said[n:n + ECHO_WORDS]
    if len(run) == ECHO_WORDS and any(said[i:i + ECHO_WORDS] == run for i in range(n - ECHO_WORDS + 1)):
        return n
    return len(words)


def start_echo(words: list[Word], shortest: int = ECHO_WORDS) -> int:
    """Where ``words`` end with a copy of their own first words; ``len(words)`` if they do not.

    Short of speech at the end of a short window, tiny.en may start the
    window over: jfk.wav after 0.2 s of silence came out "And so my fellow
    Americans. And so my fellow", sample.wav's "I didn't know you were there"
    as that twice, each copy placed over the real audio, so no time rule
    tells them apart.  The copy must run to the end, say at least
    ``shortest`` words and repeat a phrase of at least as many (a word said
    again and again is :func:`collapse_loops`' matter).  A speaker who says
    a whole window's first words again right at its end loses the repeat.
    """
    said = [_norm(w.text) for w in words]
    n = len(said)
    return next((p for p in range(shortest, n - shortest + 1) if said[p:] == said[:n - p]), n)


def collapse_loops(words: list[Word], shortest: float) -> list[Word]:
    """``words`` without the repeats of a word that last less than ``shortest``.

    On some windows tiny.en loops on a word: sample.wav's "Hello? Hello? Oh,
    hello." came out as up to eight "Hello?", all but the first squeezed into
    0.02-0.19 s each, and jfk.wav's "ask not" as "ask not not".  Two
    hypotheses that loop alike agree, so the loop was committed.  A repeat
    that short is merged into the word before it (which then ends where the
    repeat ended).  Words of one letter are kept: whisper times the second
    "I" of "Neither did I. I thought" at 0.02 s.
    """
    out: list[Word] = []
    for w in words:
        said = _norm(w.text)
        if out and len(said) > 1 and said == _norm(out[-1].text) and w.end - w.start < shortest:
            out[-1] = dataclasses.replace(out[-1], end=w.end)
        else:
            out.append(w)
    return out


def repeated_prefix(committed: list[Word], hypothesis: list[Word], slack: float, speech: float = 0.0) -> int:
    """How many leading words of ``hypothesis`` say the ``committed`` words again.

    A window may begin with words already committed.  They are matched by text
    (loosely, as :func:`agreed_prefix` compares) among the hypothesis's words
    that start before the committed words end plus ``slack`` (whisper's word
    times are rough).  Committed words left after the last text match are then
    matched by text to the hypothesis words that follow it, whatever their
    times (whisper sometimes squeezes a window's last words onto one instant,
    so the committed end can lie a word or two early); the rest, written
    differently this time, are matched by time: hypothesis words centred
    before the committed end, or starting before ``speech`` when the committed
    words are the previous utterance's, heard again as context, and the new
    utterance's own audio starts there (whisper may stretch the last of them
    over the pause).
    """
    if not committed or not hypothesis:
        return 0
    committed_end = committed[-1].end
    near = [_norm(w.text) for w in hypothesis if w.start < committed_end + slack]
    said = [_norm(w.text) for w in committed]
    blocks = [b for b in difflib.SequenceMatcher(None, said, near, autojunk=False).get_matching_blocks()
              if b.size]
    skip, unmatched = 0, len(said)
    if blocks:
        skip = blocks[-1].b + blocks[-1].size
        unmatched = len(said) - blocks[-1].a - blocks[-1].size
        while unmatched and skip < len(hypothesis) and _norm(hypothesis[skip].text) == said[-unmatched]:
            skip += 1
            unmatched -= 1
    while unmatched and skip < len(hypothesis) and \
            ((hypothesis[skip].start + hypothesis[skip].end) / 2 < committed_end
             or hypothesis[skip].start < speech):
        skip += 1
        unmatched -= 1
    return skip


class StreamingRecognizer:
    """Turns one session's audio into :class:`TranscriptEvent` s (see module doc)."""

    def __init__(self, engine: WhisperEngine, decode: DecodeOptions, options: StreamingOptions,
                 emit: Callable[[TranscriptEvent], Awaitable[None] | None],
                 on_failure: Callable[[BaseException], None],
                 split: Callable[[list[Word]], list[list[Word]]] | None = None) -> None:
        """``split`` cuts a final's words into groups that become consecutive
        finals (the session splits at speaker changes)."""
        self.engine = engine
        self.decode = decode
        # Partials are replaced a second later: no temperature fallback for them.
        self._partial_decode = dataclasses.replace(decode, temperature_increment=0.0)
        self.options = options
        self._emit = emit
        self._on_failure = on_failure
        self._split = split
        self._ring = AudioRing(int(options.ring_seconds * SAMPLE_RATE))
        self._received = 0           # samples pushed so far
        self._committed = 0          # samples before this are finalized or discarded
        self._utt_start: int | None = None
        self._last_partial_end = 0   # audio end of the last partial's window
        # The new (uncommitted) words of the last ``agreement - 1`` hypotheses.
        self._history: list[list[Word]] = []
        # Committed words still inside the window of the oldest pending audio
        # (the first queued final's, else the open utterance's).
        self._anchor: list[Word] = []
        # (window start, words, window end) of the last final: the next utterance's context
        self._context: tuple[int, list[Word], int] | None = None
        self._utt_own = 0  # where the open utterance's own audio begins (after any context)
        self._pause_end: int | None = None  # window end of a final due if the pause lasts
        # (start, end, result) of the last speculative decode, reused by a final of that window
        self._speculation: tuple[int, int, Transcription] | None = None
        self._partial_sent = False
        self._jobs: list[_Job] = []  # pending finals, in order
        self._segment_id = 0
        self._final_end = 0.0        # session time where the last final's last word ends
        self._language = engine.resolve_language(decode.language)
        self._detect = self._language == "auto"
        # (language, probability) detected in the current utterance: its partials reuse it
        self._utt_language: tuple[str, float] | None = None
        self._wake = asyncio.Event()
        self._working = False  # a job is being executed
        self._abort = threading.Event()
        self._closing = False
        self._failure: BaseException | None = None  # the worker died of this: no more work
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.segments = 0

    # -- inputs ---------------------------------------------------------------
    @property
    def received_seconds(self) -> float:
        return self._received / SAMPLE_RATE

    @property
    def lag(self) -> float:
        """Seconds of audio received but not yet committed while speech is pending."""
        pending = [j.start for j in self._jobs]
        if self._utt_start is not None:
            pending.append(self._utt_start)
        return (self._received - min(pending)) / SAMPLE_RATE if pending else 0.0

    @property
    def idle(self) -> bool:
        """Nothing runs or is due until more audio comes (evaluations wait for this)."""
        return not self._working and not self._wake.is_set()

    @property
    def overloaded(self) -> bool:
        return self.lag > self.options.max_lag

    def push(self, audio: np.ndarray, events: list[VadEvent]) -> None:
        """Append 16 kHz audio and the VAD events found in it."""
        if self._closing:
            raise RuntimeError("push() after finish()")
        if self._failure is not None:
            return  # the session is ending with the failure; no worker would take it
        self._ring.write(audio)
        self._received += audio.size
        for event in events:
            if isinstance(event, SpeechStart):
                self._open(event.sample, self._received - audio.size)
            elif isinstance(event, SpeechPause):
                if self._utt_start is not None and self.options.speculate:
                    self._pause_end = event.sample + int(self.options.tail * SAMPLE_RATE)
            elif isinstance(event, SpeechEnd):
                self._close_utterance(event.sample + int(self.options.tail * SAMPLE_RATE))
        if self._context is not None and \
                self._received - self._context[1][-1].end * SAMPLE_RATE > (self.options.context_gap + 1) * SAMPLE_RATE:
            self._context = None  # too long a silence (with a second for the VAD's delay)
        if self._utt_start is None:
            # Outside speech: keep only the pre-roll (and the next utterance's context).
            self._discard_until(self._received - int(self.options.pre_roll * SAMPLE_RATE))
        self._wake.set()

    def finalize(self, speech_continues: bool = False) -> asyncio.Future[None]:
        """Close the current utterance now; the future resolves when its final is out.

        ``speech_continues``: the VAD is still inside speech, so the audio after
        this point opens the next utterance at once (no word may fall between).
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._failure is not None:
            future.set_result(None)  # finish() reports the failure; nothing would run a job
            return future
        closed = self._close_utterance(self._received)
        if closed is not None:
            closed.cut_short = True
        if closed is not None and speech_continues:
            self._utt_start = self._utt_own = self._last_partial_end = self._received
            # (the anchor stays with the closed utterance's queued final)
        self._wake.set()
        if self._jobs:
            return asyncio.shield(self._jobs[-1].done)
        future.set_result(None)
        return future

    async def finish(self) -> None:
        """Finalize everything buffered, wait for the last final, stop the worker.

        Raises the worker's failure if it died (see :meth:`_run`).
        """
        await self.finalize()
        self._closing = True
        self._wake.set()
        await self._task
        if self._failure is not None:
            raise self._failure

    def set_prompt(self, prompt: str | None) -> None:
        """Use ``prompt`` (see :func:`keyterm_prompt`) from the next decode on."""
        self.decode = dataclasses.replace(self.decode, initial_prompt=prompt)
        self._partial_decode = dataclasses.replace(self._partial_decode, initial_prompt=prompt)

    async def abort(self) -> None:
        """Stop now: cancel inference in flight, drop pending work."""
        self._closing = True
        self._abort.set()
        self._jobs.clear()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    # -- bookkeeping ----------------------------------------------------------
    def _open(self, sample: int, chunk_start: int) -> None:
        """An utterance starts at ``sample`` (in the chunk pushed from ``chunk_start``)."""
        if self._utt_start is None:
            start = max(self._committed, sample - int(self.options.pre_roll * SAMPLE_RATE))
            self._utt_start = self._utt_own = self._last_partial_end = start
            context, self._context = self._context, None
            if context is not None and \
                    sample - context[1][-1].end * SAMPLE_RATE <= self.options.context_gap * SAMPLE_RATE:
                self._utt_start, self._anchor = context[0], context[1]
                # Its own audio starts where its window would without the context: the
                # ring would have kept only the pre-roll before this chunk.
                self._utt_own = self._last_partial_end = max(
                    start, context[2], chunk_start - int(self.options.pre_roll * SAMPLE_RATE))
            self._utt_language = None  # a new utterance may be in another language

    def _close_utterance(self, end: int) -> _Job | None:
        if self._utt_start is None:
            return None
        # An end past the audio received: the stream stopped inside the tail.
        job = _Job(self._utt_start, min(end, self._received), is_final=True,
                   cut_short=end > self._received, own=self._utt_own)
        self._jobs.append(job)
        self._utt_start = self._pause_end = None
        return job

    def _discard_until(self, sample: int) -> None:
        """Advance the ring's start to ``sample`` if nothing pending needs the audio."""
        keep = [j.start for j in self._jobs]
        if self._utt_start is not None:
            keep.append(self._utt_start)
        if self._context is not None:
            keep.append(self._context[0])
        target = min([sample, *keep])
        if target > self._committed:
            self._ring.read(0, advance=target - self._committed)
            self._committed = target

    def _audio(self, start: int, end: int) -> np.ndarray:
        offset = start - self._committed
        window = self._ring.read(end - self._committed, advance=0)
        return window[offset:]

    # -- the worker -----------------------------------------------------------
    def _next_job(self) -> _Job | None:
        if self._jobs:
            return self._jobs[0]
        if self._utt_start is None:
            return None
        length = self._received - self._utt_start
        if length >= self.options.max_segment * SAMPLE_RATE:
            return _Job(self._utt_start, self._received, is_final=False, own=self._utt_own)
        if self.engine.queue_depth > 0:
            return None  # merged into the next hypothesis
        if self._pause_end is not None and self._pause_end <= self._received:
            end, self._pause_end = self._pause_end, None
            if end - self._utt_start >= MIN_WINDOW:  # (an early commit may have passed it)
                return _Job(self._utt_start, end, is_final=False, speculative=True, own=self._utt_own)
        new_audio = self._received - self._last_partial_end
        # Without interim results, hypotheses are still needed to keep long windows committed.
        wanted = self.options.interim_results or length >= self.options.trim_window * SAMPLE_RATE
        if wanted and new_audio >= self.options.partial_interval * SAMPLE_RATE:
            return _Job(self._utt_start, self._received, is_final=False, own=self._utt_own)
        return None

    async def _run(self) -> None:
        try:
            while True:
                job = self._next_job()
                if job is None:
                    if self._closing and not self._jobs:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._working = True
                try:
                    await self._execute(job)
                finally:
                    self._working = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported to the session, which closes with 1011
            log.exception("recognizer failed")
            self._failure = exc
            for job in self._jobs:
                if not job.done.done():
                    job.done.set_exception(exc)
                    job.done.exception()  # retrieved: finish() reports it, once
            self._jobs.clear()
            self._on_failure(exc)

    async def _execute(self, job: _Job) -> None:
        """Recognise a job's window and turn the result into events.

        A window holds at most ``max_segment`` seconds.  When a job has more
        audio than that (a long utterance, or audio sent faster than real time)
        the window is *forced*: its stable words become a final and the job
        goes on from the cut.  An open utterance's hypothesis also commits the
        words two hypotheses agree on (see the module doc).
        """
        max_length = int(self.options.max_segment * SAMPLE_RATE)
        end = min(job.end, job.start + max_length)
        if job.is_final and end - job.start < MIN_WINDOW:
            # Early commits already took all of it.
            self._end_utterance(job, [])
            await self._finish_segment(job, [], None)
            job.done.set_result(None)
            return
        forced = job.end - job.start >= max_length and (end < job.end or not job.is_final)
        start, anchor = job.start, self._anchor
        if (job.is_final or job.speculative) and job.own > job.start and \
                end - job.own < self.options.context_min * SAMPLE_RATE:
            start, anchor = job.own, []  # as if there were no context
        result = self._speculated(start, end) if job.is_final else None
        if result is None:
            decode = self.decode if job.is_final or forced or job.speculative else self._partial_decode
            if self._detect and decode is self._partial_decode and self._utt_language is not None:
                # Partials keep the utterance's language (no flip-flopping on a few
                # more words); finals detect again, over their whole window.
                decode = dataclasses.replace(decode, language=self._utt_language[0])
            audio = self._audio(start, end)
            # whisper drops the last words of audio that stops mid-speech;
            # with silence after them it hears the utterance end.
            padding = int(self.options.end_padding * SAMPLE_RATE) if job.cut_short and end == job.end else 0
            if padding:
                audio = np.concatenate([audio, np.zeros(padding, np.float32)])
            result = await self.engine.run(audio, decode, abort=self._abort)
            if padding and self.options.echo_margin is not None:
                keep = padding_echo(result.words, (end - start) / SAMPLE_RATE, self.options.echo_margin)
                if keep < len(result.words):
                    kept = result.words[:keep]
                    result = dataclasses.replace(result, words=kept, text="".join(w.text for w in kept).strip())
            if result.language_probability is not None and end - start >= MIN_DETECT:
                self._utt_language = (result.language, result.language_probability)
        if job.speculative:
            self._speculation = (start, end, result)
            if self._jobs and self._jobs[0].start == job.start and self._jobs[0].end == end:
                return  # the utterance ended as foreseen: its final, next, reuses this
        words = self._new_words(result.words, start / SAMPLE_RATE, job.own / SAMPLE_RATE, anchor,
                                end / SAMPLE_RATE)
        if job.is_final and not forced:
            self._end_utterance(job, words)
            await self._finish_segment(job, words, result)
            job.done.set_result(None)
            return
        history, keep = self._history, self.options.agreement - 1
        if len(history) >= keep:
            # Only the words clear of the window's edge may be committed early.
            stable, covered = agreement([*history, self._stable(words, end)], self.options.cut_prefix)
        else:
            stable, covered = [], [0] * (len(history) + 1)
        if not job.is_final:
            self._last_partial_end = end
            history, covered = [*history, words][-keep:], covered[-keep:]
            self._history = history
        if end - max(job.start, job.own) < self.options.commit_after * SAMPLE_RATE:
            stable = []  # a short utterance: its final, at the pause, decodes it best
        if forced:
            # The window is full: this long-context hypothesis is the best there will be.
            stable = self._stable(words, end) or words
            covered[-1] = len(stable)
        rest = words[covered[-1]:] if stable else words
        if stable:
            await self._commit(job, end, stable, result)
            # The hypotheses agreed on what was committed; a forced commit starts afresh.
            self._history = [h[c:] for h, c in zip(history, covered)] if not forced else [rest]
        if forced or end - job.start >= self.options.trim_window * SAMPLE_RATE:
            self._trim(job, end, rest, forced)
        if rest and not job.is_final:
            await self._send_partial(job, rest, result, end)

    def _end_utterance(self, job: _Job, words: list[Word]) -> None:
        """A final job is done: its window goes, but for the context of the
        next utterance (its last committed ``words`` and their audio)."""
        self._jobs.pop(0)
        said, self._anchor, self._history = [*self._anchor, *words], [], []
        self._context = None
        if said and self.options.context_gap > 0 and self._utt_start is None:
            # (An utterance already open, queued behind this final, goes without.)
            keep_from = said[-1].end - self.options.context_length
            i = next((i for i, w in enumerate(said) if w.start >= keep_from), len(said) - 1)
            cut = job.start if i == 0 else self._quietest(said[i - 1].end, said[i].start, job.start, job.end)
            self._context = (max(job.start, cut), said[i:], job.end)
        self._discard_until(job.end)

    def _speculated(self, start: int, end: int) -> Transcription | None:
        """The speculative decode of exactly this window, if there was one."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation[:2] == (start, end):
            return speculation[2]
        return None

    async def _send_partial(self, job: _Job, words: list[Word], result: Transcription, end: int) -> None:
        if self.options.interim_results:
            self._partial_sent = True
            await self._deliver(self._event(job, words, result, is_final=False, end=end))

    def _new_words(self, words: list[Word], offset: float, own: float, anchor: list[Word],
                   limit: float) -> list[Word]:
        """A hypothesis's words after the committed ones in its window
        (``anchor``), in session time; ``own``: where the utterance's own audio
        starts, after the previous final's context (``speech`` of :func:`repeated_prefix`);
        ``limit``: where the window's audio ends."""
        if self.options.start_echo:
            words = words[:start_echo(words)]
        if self.options.min_repeat is not None:
            words = collapse_loops(words, self.options.min_repeat)
        placed = [Word(w.text, w.start + offset, w.end + offset, w.probability) for w in words]
        return self._place(placed[repeated_prefix(anchor, placed, self.options.align_slack, own):], limit)

    def _place(self, words: list[Word], limit: float) -> list[Word]:
        """Words never before the end of the last final nor after ``limit``, times monotonic.

        whisper's word times are estimates; a window that starts where the last
        final ended may place its first word a little earlier, and the last word
        of a window padded with silence (``end_padding``) may run into the
        padding.  Clamping keeps every word time monotonic across segments and
        inside the audio received.
        """
        placed = []
        floor = self._final_end
        for w in words:
            start = min(max(w.start, floor), max(limit, floor))
            end = min(max(w.end, start), max(limit, start))
            placed.append(Word(w.text, start, end, w.probability))
            floor = start
        return placed

    def _quietest(self, after: float, before: float, start: int, end: int) -> int:
        """The quietest 10 ms between two words (whisper's word times are rough).

        Searches from ``cut_search`` before the first word's end to that much
        after the next word's start, so a cut lands in the gap between words
        rather than inside one.
        """
        margin = self.options.cut_search
        low = max(start, int((after - margin) * SAMPLE_RATE))
        high = min(end, int((max(before, after) + margin) * SAMPLE_RATE))
        hop = SAMPLE_RATE // 100
        if high - low < 2 * hop:
            return int((after + before) / 2 * SAMPLE_RATE)
        audio = self._audio(low, high)
        frames = audio[: (audio.size // hop) * hop].reshape(-1, hop)
        quietest = int(np.argmin(np.einsum("ij,ij->i", frames, frames)))
        return low + quietest * hop + hop // 2

    def _stable(self, words: list[Word], end: int) -> list[Word]:
        """The leading ``words`` that end clear of the window's edge (not cut off)."""
        edge = end / SAMPLE_RATE - self.options.edge_margin
        n = 0
        while n < len(words) and words[n].end <= edge:
            n += 1
        return words[:n]

    async def _commit(self, job: _Job, end: int, words: list[Word], result: Transcription) -> None:
        """A final for ``words``; they stay in the window as its anchor."""
        self._anchor = [*self._anchor, *words]
        await self._finish_segment(job, words, result, end)

    def _trim(self, job: _Job, end: int, rest: list[Word], forced: bool) -> None:
        """Start the window later: between two committed words ``keep_context``
        before the anchor's end or, when forced and there is no such gap,
        just after the anchor (the window must move on)."""
        anchor = self._anchor
        if not anchor:
            if forced:  # nothing to keep: move on past this window
                self._move_start(job, end, end)
            return
        keep_from = anchor[-1].end - self.options.keep_context
        i = next((i for i, w in enumerate(anchor) if w.start >= keep_from), len(anchor))
        if i > 0:
            cut = self._quietest(anchor[i - 1].end, anchor[i].start if i < len(anchor) else
                                 (rest[0].start if rest else end / SAMPLE_RATE), job.start, end)
        elif forced:
            i = len(anchor)
            cut = (self._quietest(anchor[-1].end, rest[0].start, job.start, end) if rest
                   else int(anchor[-1].end * SAMPLE_RATE))
        else:
            return
        self._anchor = anchor[i:]
        self._move_start(job, cut, end)

    def _move_start(self, job: _Job, cut: int, end: int) -> None:
        """The window of ``job`` (and of the utterance or final it stands for) starts at ``cut``."""
        cut = max(job.start + 1, min(cut, end))
        if job.is_final:
            job.start = cut  # a queued final: the rest of it is recognised next
        else:
            # The utterance this hypothesis saw may have been closed (queued for
            # its final) while it ran: that final now starts at the cut too.
            closed = next((j for j in self._jobs if j.start == job.start), None)
            if closed is not None:
                closed.start = min(cut, closed.end)
            elif self._utt_start == job.start:
                self._utt_start = cut
                self._last_partial_end = max(self._last_partial_end, cut)
        self._discard_until(cut)

    async def _finish_segment(self, job: _Job, words: list[Word], result: Transcription | None,
                              end: int | None = None) -> None:
        if words:
            self._final_end = words[-1].end
        if words or self._partial_sent:
            groups = self._split(words) if words and self._split is not None else [words]
            for group in groups:
                await self._deliver(self._event(job, group, result, is_final=True, end=end))
                self._segment_id += 1
                self.segments += 1 if group else 0
        self._partial_sent = False

    def _event(self, job: _Job, words: list[Word], result: Transcription | None, is_final: bool,
               end: int | None = None) -> TranscriptEvent:
        window_end = job.end if end is None else end
        text = "".join(w.text for w in words).strip()
        # (an empty final's window may begin with the previous final's words as context)
        start = words[0].start if words else max(job.start / SAMPLE_RATE, self._final_end)
        stop = words[-1].end if words else max(window_end / SAMPLE_RATE, start)
        language = result.language if result is not None else self._language
        self._language = language
        probability = result.language_probability if result is not None else None
        if probability is None and self._detect and self._utt_language is not None \
                and self._utt_language[0] == language:
            probability = self._utt_language[1]  # a partial that reused the detection
        return TranscriptEvent(self._segment_id, is_final, text, start, stop, words,
                               language, probability, (self._received - window_end) / SAMPLE_RATE)

    async def _deliver(self, event: TranscriptEvent) -> None:
        outcome = self._emit(event)
        if outcome is not None:
            await outcome
