"""The whisper.cpp engine: a pool of contexts turning 16 kHz audio into words with times.

One :class:`WhisperEngine` per server.  It loads ``contexts`` whisper.cpp
contexts (each a full copy of the weights plus its decoding state) and runs
one ``whisper_full`` per context at a time.  :meth:`WhisperEngine.transcribe`
is blocking and thread-safe; :meth:`WhisperEngine.run` is its asyncio face,
running it in the engine's own bounded FIFO thread pool.

Decoding choices, and why (figures: ``scripts/bench_engine.py``, docs/models.md):

* **Sized encoder window.**  whisper.cpp encodes a 30 s window whatever the
  audio length; ``audio_ctx`` (50 positions per second) shrinks it to the
  audio plus a margin, which is what makes second-by-second partials
  affordable.
* **Word times** come from whisper.cpp's token timestamps (timestamp-token
  probabilities refined with the signal energy): on utterance-length audio,
  which is what the streaming layer sends, they are closer to the reference
  than whisper.cpp's DTW times (0.09 vs 0.25 s at utterance starts on
  sample.wav, and DTW starts 0.3-0.4 s late on jfk.wav), and DTW can abort
  the process on very short windows.  Feed utterances, not long recordings:
  after several seconds of non-speech, whisper's segment timestamps drift
  (seconds off on the whole of sample.wav).
* **Bounded decoding.**  Tokens per window are capped in proportion to the
  audio length, the temperature fallback is limited to two retries with two
  samples each, and whisper.cpp's entropy/log-probability thresholds flag
  repetition loops.
* **No hidden context.**  The text of a previous call is never fed to the
  next one (contexts are shared between sessions); pass it explicitly as
  :attr:`DecodeOptions.initial_prompt`.
* **Non-speech is dropped**: whisper.cpp skips windows whose no-speech
  probability is high while the text is unlikely, non-speech tokens are
  suppressed, and annotations such as ``[BLANK_AUDIO]``, ``(music)`` or
  ``[ Silence ]`` are removed from the words.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import queue
import re
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import _pywhispercpp as pw
import numpy as np

from lumen.asr.ggml import validate_ggml
from lumen.errors import AudioFormatError, BadRequestError, InferenceAborted, ModelError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
AUDIO_CTX_PER_SECOND = 50      # encoder positions per second of audio (1500 = 30 s)
MAX_AUDIO_CTX = 1500
# Non-speech annotations whisper writes: [BLANK_AUDIO], [ Silence ], (music), *laughs*, ♪
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪+")


@dataclass(frozen=True)
class DecodeOptions:
    """How one piece of audio is decoded.  The defaults suit live transcription."""

    language: str | None = None
    """ISO code ("en", "de", …); None = "en" for English-only models and
    detection for multilingual ones; "auto" = detect (an extra encoder pass)."""
    initial_prompt: str | None = None
    """Text the decoder takes as what was said before (e.g. the previous final,
    or names and jargon to spell right)."""
    max_tokens: int | None = None
    """Cap on tokens per 30 s window; None = ``16 + 10 per second`` of audio,
    well above fast speech (~5 tokens/s) and short enough to cut a repetition loop."""
    audio_ctx: int | None = None
    """Encoder window in positions of 20 ms; None = sized to the audio
    (``ceil(seconds * 50) + audio_ctx_margin``), 0 = whisper's full 30 s."""
    audio_ctx_margin: int = 64
    """Positions added to the sized window (1.28 s).  The model was trained on
    30 s windows; when the window ends with the audio it tends to repeat or
    invent words at the end (+0: 60 % WER on a 2 s clip in the bench)."""
    temperature_increment: float = 0.5
    """Temperature step of the fallback when a decode looks bad (0 = no
    fallback); 0.5 means at most two retries, at 0.5 and 1.0."""
    fallback_samples: int = 2
    """Sampled candidates per fallback temperature (whisper.cpp's best_of)."""
    entropy_threshold: float = 2.4
    """Below this token entropy a long decode is a repetition loop: fall back."""
    logprob_threshold: float = -1.0
    """Below this mean token log-probability a decode is suspect: fall back,
    or drop the window if it is also likely to be no speech."""
    no_speech_threshold: float = 0.6
    """Probability of the no-speech token above which an unlikely window is silence."""
    suppress_blank: bool = True
    """Do not start a text with a blank."""
    suppress_non_speech: bool = True
    """Suppress symbol tokens like ``♪`` or ``(`` (OpenAI's default suppress set)."""
    edge_guard: float = 0.25
    """Words said to start this close (seconds) to the end of the audio, or
    after it, are dropped.  When the audio stops, the decoder tends to invent
    a word there or to repeat the last sentence into the padding; live audio
    cut mid-speech has only a fragment of a word there anyway, and an
    utterance closed by the VAD ends in silence."""


@dataclass(frozen=True)
class Word:
    """A word with times in seconds from the start of the audio given to the engine."""

    text: str
    """As decoded, with its leading space: ``"".join(w.text for w in words)`` is the text."""
    start: float
    end: float
    probability: float
    """Mean probability of the word's tokens."""


@dataclass(frozen=True)
class Transcription:
    """The result of one call: text, words and what the call cost."""

    text: str
    words: list[Word]
    language: str
    language_probability: float | None
    """Probability of ``language`` when it was detected; None when it was given."""
    audio_seconds: float
    inference_seconds: float
    avg_logprob: float | None
    """Mean log-probability of the text tokens (None without text)."""
    audio_ctx: int
    """Encoder window used (1500 = 30 s)."""


def sized_audio_ctx(seconds: float, margin: int) -> int:
    """The encoder window for ``seconds`` of audio: every position it needs plus ``margin``."""
    return min(MAX_AUDIO_CTX, math.ceil(seconds * AUDIO_CTX_PER_SECOND) + margin)


# -- whisper.cpp's log --------------------------------------------------------
_LEVELS = {1: "DEBUG", 2: "INFO", 3: "WARN", 4: "ERROR"}
_log_lock = threading.Lock()
_log_installed = False
_engines: weakref.WeakSet[WhisperEngine] = weakref.WeakSet()


def _whisper_log(level: int, text: str) -> None:
    text = text.rstrip()
    if text:
        log.debug("whisper.cpp %s: %s", _LEVELS.get(level, level), text)


def _install_log() -> None:
    """Route whisper.cpp's log to ours (debug) once; undo it at exit.

    The log callback calls into Python, so it must be gone before the
    interpreter finalizes (a late log line would crash it): the exit hook
    frees every engine's contexts first, then restores whisper.cpp's logger.
    """
    global _log_installed
    with _log_lock:
        if not _log_installed:
            pw.whisper_log_set(_whisper_log)
            atexit.register(_shutdown)
            _log_installed = True


def _shutdown() -> None:
    for engine in list(_engines):
        engine.close()
    pw.whisper_log_set(None)


# -- the engine ---------------------------------------------------------------
class WhisperEngine:
    """A pool of whisper.cpp contexts for one model.

    Thread-safety: :meth:`transcribe` may be called from any number of
    threads; each call borrows a free context (blocking until one is free), so
    at most ``contexts`` transcriptions run at once and a context never runs
    two.  :meth:`run` queues the call on the engine's executor (one worker per
    context, FIFO) and may be awaited from any event loop.  :meth:`close`
    must not race with calls in flight (call it at shutdown).
    """

    def __init__(self, model_path: Path | str, contexts: int = 1, threads: int = 2) -> None:
        if contexts < 1 or threads < 1:
            raise ValueError("contexts and threads must be at least 1")
        self.model_path = Path(model_path)
        info = validate_ggml(self.model_path)  # whisper.cpp aborts on some bad files
        self.multilingual = info.multilingual
        self.threads = threads
        self.contexts = contexts
        n_languages = info.n_vocab - 51765 - 1  # whisper.cpp's count for multilingual vocabularies
        self.languages: tuple[str, ...] = (
            tuple(pw.whisper_lang_str(i) for i in range(n_languages)) if info.multilingual
            else ("en",))
        _install_log()
        params = pw.whisper_context_default_params()
        params.use_gpu = False
        # whisper.cpp's flash-attention path reads the cross-attention cache padded
        # to 256 positions without a mask, so with a sized window the decoder also
        # attends to stale rows left by earlier calls (results then depend on the
        # previous call).  The plain path is exact, for ~20 % more time.
        params.flash_attn = False
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        self._all = []
        t0 = time.perf_counter()
        for _ in range(contexts):
            ctx = pw.whisper_init_from_file_with_params(str(self.model_path), params)
            self._all.append(ctx)
            self._pool.put(ctx)
        log.info("loaded %s (%s%s) into %d context(s) in %.2f s", self.model_path, info.model_type,
                 "" if info.multilingual else ".en", contexts, time.perf_counter() - t0)
        self._executor = ThreadPoolExecutor(max_workers=contexts, thread_name_prefix="whisper")
        self._counts = threading.Lock()
        self._queued = 0
        self._running = 0
        self._aborted = 0
        self._closed = False
        _engines.add(self)

    # -- load reporting ----------------------------------------------------
    @property
    def queue_depth(self) -> int:
        """Calls submitted through :meth:`run` that wait for a context."""
        return self._queued

    @property
    def busy(self) -> int:
        """Calls submitted through :meth:`run` running now (at most ``contexts``)."""
        return self._running

    @property
    def aborted(self) -> int:
        """Calls submitted through :meth:`run` that stopped on their abort event, in total."""
        return self._aborted

    # -- inference ---------------------------------------------------------
    def resolve_language(self, language: str | None) -> str:
        """The language a call will use ("auto" = detect); BadRequestError when unsupported.

        English-only models take None, "auto" and "en", all meaning English.
        """
        language = (language or "auto").lower()
        if language == "auto":
            return "auto" if self.multilingual else "en"
        if language in self.languages:
            return language
        if not self.multilingual:
            raise BadRequestError(f"language {language!r}: this model is English-only")
        raise BadRequestError(f"unknown language {language!r}")

    async def run(self, audio: np.ndarray, options: DecodeOptions,
                  abort: threading.Event | None = None) -> Transcription:
        """:meth:`transcribe` in the engine's executor, off the event loop."""
        if self._closed:
            raise ModelError("engine is closed")
        with self._counts:
            self._queued += 1
        future = self._executor.submit(self._run_queued, audio, options, abort)
        future.add_done_callback(self._unqueue_cancelled)
        return await asyncio.wrap_future(future)

    def _unqueue_cancelled(self, future: Future) -> None:
        # A call cancelled while queued (its awaiting task was cancelled) never starts.
        if future.cancelled():
            with self._counts:
                self._queued -= 1

    def _run_queued(self, audio: np.ndarray, options: DecodeOptions,
                    abort: threading.Event | None) -> Transcription:
        with self._counts:
            self._queued -= 1
            self._running += 1
        try:
            return self.transcribe(audio, options, abort)
        except InferenceAborted:
            with self._counts:
                self._aborted += 1
            raise
        finally:
            with self._counts:
                self._running -= 1

    def transcribe(self, audio: np.ndarray, options: DecodeOptions,
                   abort: threading.Event | None = None) -> Transcription:
        """Transcribe float32 16 kHz mono ``audio``; blocks until a context is free.

        Raises :class:`InferenceAborted` if ``abort`` is set before or during
        the call (whisper.cpp checks it before and after each encoder pass and
        after each decoded token).
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise AudioFormatError(f"expected mono audio, got shape {audio.shape}")
        language = self.resolve_language(options.language)
        seconds = audio.size / SAMPLE_RATE
        audio_ctx = (sized_audio_ctx(seconds, options.audio_ctx_margin) if options.audio_ctx is None
                     else min(options.audio_ctx, MAX_AUDIO_CTX) or MAX_AUDIO_CTX)
        max_tokens = options.max_tokens or 16 + math.ceil(10 * min(seconds, 30.0))
        if self._closed:
            raise ModelError("engine is closed")
        ctx = self._pool.get()
        try:
            _check_abort(abort)
            t0 = time.perf_counter()
            probability = None
            if language == "auto":
                language, probability = self._detect(ctx, options, audio, audio_ctx)
                _check_abort(abort)
            params = self._params(options, audio_ctx, max_tokens, abort)
            params.language = language
            status = pw.whisper_full(ctx, params, audio, audio.size)
            _check_abort(abort)
            if status != 0:
                raise ModelError(f"whisper.cpp failed to transcribe (status {status})")
            words, avg_logprob = _words(ctx, seconds, options.edge_guard, bool(options.initial_prompt))
            elapsed = time.perf_counter() - t0
        finally:
            self._pool.put(ctx)
        return Transcription("".join(w.text for w in words).strip(), words, language, probability,
                             seconds, elapsed, avg_logprob, audio_ctx)

    def _params(self, options: DecodeOptions, audio_ctx: int, max_tokens: int,
                abort: threading.Event | None):
        p = pw.whisper_full_default_params(pw.WHISPER_SAMPLING_GREEDY)
        p.n_threads = self.threads
        p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = False
        p.no_context = True
        p.token_timestamps = True
        p.audio_ctx = audio_ctx
        p.max_tokens = max_tokens
        p.initial_prompt = options.initial_prompt or ""
        p.temperature = 0.0
        p.temperature_inc = options.temperature_increment
        p.greedy = {"best_of": options.fallback_samples}
        p.entropy_thold = options.entropy_threshold
        p.logprob_thold = options.logprob_threshold
        p.no_speech_thold = options.no_speech_threshold
        p.suppress_blank = options.suppress_blank
        p.suppress_nst = options.suppress_non_speech
        if abort is not None:
            p.set_abort_callback(abort.is_set)
            p.set_encoder_begin_callback(lambda _ctx: not abort.is_set())
        return p

    def _detect(self, ctx, options: DecodeOptions, audio: np.ndarray,
                audio_ctx: int) -> tuple[str, float]:
        """Detect the language over the same encoder window the transcription will use.

        whisper.cpp's detection encodes with the window size of the previous
        call on the context, so first a call that stops before the encoder
        (its encoder-begin callback says no) sets this call's window and mel.
        """
        prime = self._params(options, audio_ctx, 1, None)
        prime.language = "en"
        prime.set_encoder_begin_callback(lambda _ctx: False)
        pw.whisper_full(ctx, prime, audio, audio.size)
        probs = np.zeros(pw.whisper_lang_max_id() + 1, dtype=np.float32)
        lang_id = pw.whisper_lang_auto_detect(ctx, 0, self.threads, probs)
        if lang_id < 0:
            raise ModelError(f"whisper.cpp failed to detect the language (status {lang_id})")
        return pw.whisper_lang_str(lang_id), float(probs[lang_id])

    def close(self) -> None:
        """Free the contexts (idempotent).  Calls must not be in flight."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        for ctx in self._all:
            pw.whisper_free(ctx)
        self._all.clear()
        _engines.discard(self)


def _check_abort(abort: threading.Event | None) -> None:
    if abort is not None and abort.is_set():
        raise InferenceAborted("transcription aborted")


def _spread_collapsed(groups: list[tuple[bytearray, int, int, list[float]]], seconds: float) -> bool:
    """Re-time words whose times whisper lost; True if it did.

    With a prompt, whisper may emit no timestamp tokens at all, and the
    token-level times of everything after some point then pile up at one
    instant at the window's end.  Several words at one instant are words
    whose times were lost, not one word cut off at the edge: they are spread
    evenly from the last timed word to the end of the audio (and kept).
    """
    if len(groups) < 2:
        return False
    last = groups[-1][2]
    k = len(groups)
    while k > 0 and groups[k - 1][1] == groups[k - 1][2] == last:
        k -= 1
    if len(groups) - k < 2:
        return False
    start = groups[k - 1][2] if k > 0 else 0
    step = max(0.0, seconds * 100 - start) / (len(groups) - k)
    for j in range(k, len(groups)):
        raw, _, _, probs = groups[j]
        groups[j] = (raw, int(start + (j - k) * step), int(start + (j - k + 1) * step), probs)
    return True


def _words(ctx, seconds: float, edge_guard: float, prompted: bool = False) -> tuple[list[Word], float | None]:
    """Join the text tokens of all segments into words, without non-speech annotations.

    A token starting with a space starts a word.  A word is dropped when it has
    no letter or digit outside annotations, so ``[BLANK_AUDIO]`` and the
    three words of ``[ Silence ]`` go, ``you.`` stays.  Words from
    ``edge_guard`` seconds before the end on are dropped (see DecodeOptions).
    """
    eot = pw.whisper_token_eot(ctx)
    groups: list[tuple[bytearray, int, int, list[float]]] = []
    logprobs: list[float] = []
    for s in range(pw.whisper_full_n_segments(ctx)):
        for i in range(pw.whisper_full_n_tokens(ctx, s)):
            data = pw.whisper_full_get_token_data(ctx, s, i)
            if data.id >= eot:  # special and timestamp tokens
                continue
            piece = pw.whisper_token_to_bytes(ctx, data.id)
            logprobs.append(data.plog)
            if not groups or piece.startswith(b" "):
                groups.append((bytearray(piece), data.t0, data.t1, [data.p]))
            else:
                raw, t0, _, probs = groups[-1]
                raw += piece
                probs.append(data.p)
                groups[-1] = (raw, t0, data.t1, probs)
    retimed = prompted and _spread_collapsed(groups, seconds)
    texts = [raw.decode("utf-8", errors="replace") for raw, *_ in groups]
    full = "".join(texts)
    speech = bytearray(len(full))  # 1 where a character is outside every annotation
    speech[:] = b"\1" * len(full)
    for m in _ANNOTATION.finditer(full):
        speech[m.start():m.end()] = bytes(m.end() - m.start())
    words: list[Word] = []
    previous_end, offset = 0.0, 0
    for text, (_, t0, t1, probs) in zip(texts, groups):
        kept = any(c.isalnum() and speech[offset + k] for k, c in enumerate(text))
        offset += len(text)
        if not kept:
            continue
        if t0 / 100 >= seconds - edge_guard and not retimed:
            break
        start = min(max(t0 / 100, previous_end), seconds)
        end = min(max(t1 / 100, start), seconds)
        words.append(Word(text, start, end, float(np.mean(probs))))
        previous_end = end
    return words, (float(np.mean(logprobs)) if logprobs else None)
