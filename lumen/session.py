"""One live transcription session, and the limits on how many may run.

A :class:`Session` owns the audio pipeline of one WebSocket connection::

    bytes ─► AudioDecoder ─► StreamResampler ─► [FrontEnd] ─► VadSegmenter ─► StreamingRecognizer
                                                               └► LiveSpeakers (diarization) ─► labels

and turns the pipeline's events into protocol messages.  It knows nothing of
Tornado: the handler gives it a ``send`` and a ``close`` callable.

Ending a session always goes the same way, whatever the reason (client
``end``, idle timeout, token expiry, bad audio, server shutdown):
everything already received is decoded, resampled, segmented and
recognised, its finals are sent, then ``error`` (for abnormal ends),
``session.ended`` and the close.  Nothing accepted is dropped.

A client that goes away (or is cut off for not reading) can no longer
receive anything.  Its finals are still made when something outlives the
connection to keep them (the session has a transcript store's recorder);
otherwise the session is *aborted*: inference in flight stops at whisper's
next abort check and queued work is dropped, so a vanished client costs
no further CPU.

The front end (``denoise``, :class:`FrontEndLane`) runs in an executor, one
chunk after another; what follows it (and a ``finalize`` sent meanwhile)
waits for its chunks, in order.

Thread-safety: a session lives on the IOLoop thread; only inference (in the
engine's executor) and the front end (in ``frontend_executor``) run elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lumen import protocol
from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.streaming import StreamingOptions, StreamingRecognizer, TranscriptEvent, keyterm_prompt
from lumen.audio.decoder import AudioDecoder, RawFormat
from lumen.audio.frontend_lane import FrontEndLane
from lumen.audio.resampler import StreamResampler
from lumen.audio.vad import VadOptions, VadSegmenter
from lumen.auth import Principal
from lumen.config import Settings
from lumen.diarization import Diarizer, LabelChange
from lumen.diarization.live import LiveSpeakers
from lumen.errors import (AudioFormatError, BadRequestError, CapacityError, LumenError,
                          SessionPolicyError, UserLimitError)
from lumen.store.base import RESUMABLE_REASONS
from lumen.store.recorder import SessionRecorder
from lumen.store.worker import StoreWorker
from lumen.terms import SharedVocabulary, TimedWord

log = logging.getLogger(__name__)

TARGET_RATE = 16000


def ring_seconds(max_lag: float, front_end: bool) -> float:
    """Capacity (seconds) of a session's ring of untranscribed audio.

    After each message the session ends (1013) if the recognizer is more
    than ``max_lag`` behind (or, with the front end, its queue is longer),
    and a message may hold at most ``max_lag`` of audio: the recognizer can
    then be handed twice ``max_lag`` (three times with the front end's
    queue) before the ending session flushes, plus the pre-roll and the
    previous final's context before the oldest pending audio.
    """
    return (3 if front_end else 2) * max_lag + 10.0


class SessionLimits:
    """Counts live sessions per server and per user (``sub``); used at the handshake."""

    def __init__(self, max_sessions: int, max_per_user: int) -> None:
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self._per_user: Counter[str] = Counter()

    @property
    def active(self) -> int:
        return sum(self._per_user.values())

    def acquire(self, sub: str) -> None:
        """Reserve a slot for ``sub`` or raise :class:`CapacityError` / :class:`UserLimitError`."""
        if self.active >= self.max_sessions:
            raise CapacityError(f"server is at its limit of {self.max_sessions} sessions; retry later")
        if self._per_user[sub] >= self.max_per_user:
            raise UserLimitError(f"user already has {self.max_per_user} open sessions")
        self._per_user[sub] += 1

    def release(self, sub: str) -> None:
        self._per_user[sub] -= 1
        if self._per_user[sub] <= 0:
            del self._per_user[sub]


@dataclass
class SessionServices:
    """What a session needs from the server, shared by all sessions."""

    settings: Settings
    engine: WhisperEngine
    model_name: str
    diarizer: Diarizer | None = None
    """None when the server runs without diarization."""
    vocabulary: SharedVocabulary | None = None
    """The medical term index, loaded on first use; None: no session may ask for terms."""
    store: StoreWorker | None = None
    """The transcript store; None when ``database_url`` is ``none``."""
    frontend_executor: Executor | None = None
    """Where the sessions' front ends (``denoise``) run; None: the loop's default executor."""


class Session:
    """See the module docstring."""

    def __init__(self, services: SessionServices, principal: Principal,
                 options: protocol.SessionOptions, send: Callable[[str], None],
                 close: Callable[[int, str], None], recorder: SessionRecorder | None = None) -> None:
        # With a store, the recorder holds the id (a new one, or the resumed session's).
        self.id = recorder.session_id if recorder is not None else uuid.uuid4().hex
        self._recorder = recorder
        resume = recorder.resume_point if recorder is not None else None
        # A resumed session's times and segment ids continue from where it stopped.
        self._time_offset = resume.audio_offset if resume is not None else 0.0
        self._segment_base = resume.next_segment_id if resume is not None else 0
        self._segments_before = resume.segments if resume is not None else 0
        self.principal = principal
        self.options = options
        self._services = services
        self._settings = services.settings
        self._send_raw = send
        self._close_raw = close
        self._connected = True
        self._ending: asyncio.Task[None] | None = None
        raw = RawFormat(encoding=options.encoding, sample_rate=options.sample_rate,
                        channels=options.channels)
        self._decoder = AudioDecoder(raw)
        self._resampler: StreamResampler | None = None
        self._decoded_samples = 0
        self._vad = VadSegmenter(VadOptions(aggressiveness=self._settings.vad_aggressiveness,
                                            endpoint_silence=self._settings.endpoint_silence))
        wants_denoise = options.denoise if options.denoise is not None else self._settings.denoise
        self._frontend = (FrontEndLane(services.frontend_executor, self._feed_clean, self._on_frontend_failure)
                          if wants_denoise else None)
        self._speakers: LiveSpeakers | None = None
        self._stored_voices: dict[str, np.ndarray] | None = None
        if options.diarize and services.diarizer is not None:
            # A resumed session's speakers keep their labels: a returning voice is
            # recognised, and a new one never takes an earlier speaker's label.
            diarizer = services.diarizer.session(voices=resume.voices if resume is not None else None,
                                                 taken=resume.speakers if resume is not None else (),
                                                 **options.speaker_overrides())
            self._speakers = LiveSpeakers(services.diarizer, diarizer, on_changes=self._on_speaker_changes)
        wants_terms = options.terms if options.terms is not None else self._settings.terms
        self._vocabulary = services.vocabulary if wants_terms else None
        if self._vocabulary is not None:
            self._vocabulary.get()  # start loading now, not at the first final
        language = options.language
        self._recognizer = StreamingRecognizer(
            services.engine,
            DecodeOptions(language=language, initial_prompt=keyterm_prompt(options.keyterms)),
            StreamingOptions(interim_results=options.interim_results,
                             partial_interval=self._settings.partial_interval,
                             max_segment=self._settings.max_segment,
                             max_lag=self._settings.max_lag,
                             ring_seconds=ring_seconds(self._settings.max_lag, self._frontend is not None)),
            emit=self._on_transcript,
            on_failure=self._on_recognizer_failure,
            split=self._speakers.split if self._speakers is not None else None)
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._timers: list[asyncio.TimerHandle] = []
        self._idle: asyncio.TimerHandle | None = None
        self._arm_timers()
        self.ended = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Send ``session.started``: the first message of every session."""
        config = self.options.to_dict()
        config["diarize"] = self._speakers is not None
        config["speaker_turns"] = self.options.speaker_turns and self._speakers is not None
        config["terms"] = self._vocabulary is not None
        config["denoise"] = self._frontend is not None
        resume = self._recorder.resume_point if self._recorder is not None else None
        resumed_from = None if resume is None else {
            "audio_offset": protocol.t(resume.audio_offset), "next_segment_id": resume.next_segment_id,
            "segments": resume.segments, "connection": resume.connection}
        self._send(protocol.session_started(self.id, self.principal.sub, self._services.model_name,
                                            config, self.principal.expires_at, resumed_from))
        log.info("session started", extra={"session_id": self.id, "user": self.principal.sub})
        if time.time() >= self._deadline:  # a resume past the limit: ending now, before any audio
            self._too_long()

    def _arm_timers(self) -> None:
        settings = self._settings
        # (with the clock skew the handshake allowed: a token it took is not expired at once)
        remaining_token = self.principal.expires_at + settings.jwt_leeway - time.time()
        self._timers.append(self._loop.call_later(
            max(0.0, remaining_token),
            self._policy_end, "token_expired", "the token expired; reconnect with a fresh token"))
        # A resumed session's limit counts from its first connection (resuming does not reset it).
        began = self._recorder.resume_point.created_at \
            if self._recorder is not None and self._recorder.resume_point is not None else time.time()
        self._deadline = began + settings.max_session_seconds
        remaining = self._deadline - time.time()
        if remaining > 0:  # (a resume past it is ended by start(), before any audio)
            self._timers.append(self._loop.call_later(remaining, self._too_long))
        self._touch()

    def _too_long(self) -> None:
        self._policy_end("session_too_long",
                         f"sessions are limited to {self._settings.max_session_seconds:.0f} s")

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self._loop.call_later(self._settings.idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        if not self._recognizer.idle or (self._frontend is not None and self._frontend.queued_samples):
            self._touch()  # still transcribing what came: the client waits for results, it is not idle
            return
        self._policy_end("idle_timeout", f"no audio or keepalive for {self._settings.idle_timeout:.0f} s")

    def _policy_end(self, code: str, message: str) -> None:
        self.end(SessionPolicyError(code, message))

    def when_ended(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the session has fully ended (finals processed)."""
        waiter = self._loop.create_task(self.ended.wait())
        waiter.add_done_callback(lambda _: callback())

    # -- inputs from the handler ----------------------------------------------
    def on_audio(self, data: bytes) -> None:
        """A binary frame: decode, resample, segment, recognise (asynchronously)."""
        if self._ending is not None:
            return
        self._touch()
        if self._refuse_size("audio", len(data)):
            return
        try:
            pcm, bad = self._decoder.feed(data), None
        except AudioFormatError as exc:
            pcm, bad = exc.decoded, exc  # (the decoder's errors always carry the samples before them)
        seconds = pcm.size / (self._decoder.sample_rate or TARGET_RATE)
        if seconds > self._settings.max_lag:
            # More than the session may be ahead of transcription at all (the
            # recognizer's ring is sized for max_lag ahead plus one such message).
            self._too_large(f"audio message of {seconds:.1f} s exceeds max_lag ({self._settings.max_lag:.0f} s); "
                            "send audio in messages of 20 ms to 5 s")
            return
        self._push(pcm)  # (with bad bytes after it: the good audio before them)
        if bad is not None:
            self.end(bad)
            return
        frontend_lag = self._frontend.queued_samples / TARGET_RATE if self._frontend is not None else 0.0
        if self._recognizer.overloaded or frontend_lag > self._settings.max_lag:
            self.end(SessionPolicyError(
                "overloaded", f"transcription is more than {self._settings.max_lag:.0f} s behind "
                "the audio; the server is overloaded", protocol.CLOSE_OVERLOADED))

    def _refuse_size(self, kind: str, size: int) -> bool:
        """End the session if a message is over ``max_frame_bytes``; True if it was."""
        if size <= self._settings.max_frame_bytes:
            return False
        self._too_large(f"{kind} message of {size} bytes exceeds the limit of "
                        f"{self._settings.max_frame_bytes} bytes")
        return True

    def _too_large(self, message: str) -> None:
        self.end(SessionPolicyError("frame_too_large", message, protocol.CLOSE_TOO_BIG))

    def on_text(self, text: str) -> None:
        """A text frame: a control message."""
        if self._ending is not None or self._refuse_size("text", len(text.encode())):
            return
        try:
            message = protocol.parse_client_message(text)
        except BadRequestError as exc:
            # A malformed control message does not cost the client its session.
            self._send(protocol.error("bad_message", str(exc)))
            return
        self._touch()
        kind = message.type
        if kind == "configure" and message.keyterms is not None:
            self._recognizer.set_prompt(keyterm_prompt(message.keyterms))
            log.info("keyterms now %d", len(message.keyterms), extra={"session_id": self.id})
        elif kind == "finalize":
            if self._frontend is not None:  # after the audio the front end still holds
                self._frontend.then(lambda: self._recognizer.finalize(speech_continues=self._vad.in_speech))
            else:
                self._recognizer.finalize(speech_continues=self._vad.in_speech)
        elif kind == "end":
            self.end(None, reason="client_end")

    def on_connection_closed(self, reason: str = "client_closed") -> None:
        """The client went away or was cut off: finish or abort (see the module docstring)."""
        self._connected = False
        self.end(None, reason=reason, abort=self._recorder is None)

    # -- the pipeline ---------------------------------------------------------
    def _push(self, pcm: np.ndarray) -> None:
        if pcm.size == 0:
            return
        self._decoded_samples += pcm.size
        if self._resampler is None:
            assert self._decoder.sample_rate is not None
            self._resampler = StreamResampler(self._decoder.sample_rate, TARGET_RATE)
        self._feed16k(self._resampler.process(pcm))

    def _feed16k(self, audio: np.ndarray) -> None:
        if self._frontend is not None:
            if audio.size:
                self._frontend.push(audio)
        else:
            self._feed_clean(audio)

    def _feed_clean(self, audio: np.ndarray) -> None:
        """16 kHz audio after the front end (if any): to the VAD, recognizer, diarizer."""
        if audio.size:
            events = self._vad.feed(audio)
            self._recognizer.push(audio, events)
            if self._speakers is not None:
                self._speakers.feed(audio, events)

    async def _on_transcript(self, event: TranscriptEvent) -> None:
        offset = self._time_offset
        segment_id = self._segment_base + event.segment_id
        spans = [(w.start, w.end) for w in event.words]
        speaker, speakers = None, [None] * len(spans)
        if self._speakers is not None and spans:
            speaker, speakers = self._speakers.label(spans)
        words = [{"text": w.text.strip(), "start": protocol.t(offset + w.start),
                  "end": protocol.t(offset + w.end), "confidence": round(w.probability, 3),
                  "speaker": who}
                 for w, who in zip(event.words, speakers)]
        terms = None
        if event.is_final and self._vocabulary is not None:
            index = await asyncio.wrap_future(self._vocabulary.get())
            terms = index.find([TimedWord(w.text, offset + w.start, offset + w.end) for w in event.words])
        message = protocol.transcript(self.id, segment_id, event.is_final, event.text,
                                      offset + event.start, offset + event.end, speaker, words,
                                      event.language, event.language_probability, event.lag, terms)
        if event.is_final:
            if self._recorder is not None:
                # durable before the client sees it, with the voices it was labelled with
                await self._recorder.final(message, self._new_voices())
            if self._speakers is not None and spans:
                self._speakers.sent(segment_id, spans, speakers)
        self._send(message)

    def _new_voices(self) -> dict[str, np.ndarray] | None:
        """The speakers' voiceprints to store for a resume, when they changed since last stored."""
        if self._speakers is None or self._recorder is None or not self._settings.resume_grace:
            return None
        voices = self._speakers.voices()
        if not voices or voices is self._stored_voices:
            return None
        self._stored_voices = voices
        return voices

    def _on_speaker_changes(self, changes: list[LabelChange]) -> None:
        assert self._speakers is not None
        updated = self._speakers.corrections(changes)
        if updated:
            self._send_speakers(updated)
        if self.options.speaker_turns:
            change = self._speakers.timeline_changes(self._time_offset)
            if change is not None:
                self._send(protocol.speaker_turns(self.id, *change))

    def _send_speakers(self, corrections: list[dict[str, object]],
                       turns: list[dict[str, object]] | None = None) -> None:
        """``speakers.updated`` to the client, and the same corrections and timeline to the store."""
        if self._recorder is not None:
            if corrections:
                self._recorder.speakers(corrections)
            if turns is not None:
                self._recorder.turns(turns)
        self._send(protocol.speakers_updated(self.id, corrections, turns))

    def _on_recognizer_failure(self, exc: BaseException) -> None:
        self.end(LumenError(f"transcription failed: {exc}"))

    def _on_frontend_failure(self, exc: BaseException) -> None:
        self.end(exc if isinstance(exc, LumenError) else LumenError(f"audio front end failed: {exc}"))

    # -- ending ---------------------------------------------------------------
    @property
    def audio_seconds(self) -> float:
        rate = self._decoder.sample_rate
        return self._decoded_samples / rate if rate else 0.0

    def end(self, error: LumenError | None, reason: str | None = None, abort: bool = False) -> None:
        """Start ending the session (idempotent); see the module docstring.

        ``abort``: nobody will read the result; stop inference instead of finishing it.
        """
        if self._ending is None:
            reason = reason or (error.code if error else "end")
            self._ending = self._loop.create_task(self._abort(reason) if abort else self._end(error, reason))

    async def cut(self) -> None:
        """Abort now, even while ending (the server's shutdown grace is over):
        inference in flight stops at whisper's next abort check; nothing more is sent."""
        await self._abort("shutdown_grace")

    def _cancel_timers(self) -> None:
        for timer in [*self._timers, self._idle]:
            if timer is not None:
                timer.cancel()

    async def _abort(self, reason: str) -> None:
        self._cancel_timers()
        if self._frontend is not None:
            self._frontend.cancel()
        await self._recognizer.abort()
        if self._speakers is not None:
            self._speakers.cancel()
        log.info("session aborted: %s, %.3f s of audio, %d segments", reason, self.audio_seconds,
                 self._recognizer.segments, extra={"session_id": self.id})
        self.ended.set()

    async def _end(self, error: LumenError | None, reason: str) -> None:
        self._cancel_timers()
        try:
            bad_end = await self._flush_input()  # (the front end's tail included)
            if bad_end is not None and error is None:
                error, reason = bad_end, bad_end.code
            await self._recognizer.finish()
        except Exception as exc:  # the recognizer already reported it
            log.debug("recognizer ended with %r", exc, extra={"session_id": self.id})
            error = error or LumenError(f"transcription failed: {exc}")
        if self._speakers is not None:
            try:
                # The last corrections, with the final speaker timeline.
                changes = await self._speakers.finish()
                self._send_speakers(self._speakers.corrections(changes),
                                    self._speakers.timeline(self._time_offset))
                if reason in RESUMABLE_REASONS and (voices := self._new_voices()) is not None:
                    self._recorder.voices(voices)
            except Exception:  # labels are a bonus: never lose the session's end over them
                log.exception("final diarization failed", extra={"session_id": self.id})
        # A resumed session's totals count all its connections.
        audio_seconds = self._time_offset + self.audio_seconds
        if self._recorder is not None:
            await self._recorder.end(reason, audio_seconds)
        if error is not None:
            self._send(protocol.error(error.code, error.public_message))
        self._send(protocol.session_ended(self.id, audio_seconds,
                                          self._segments_before + self._recognizer.segments, reason))
        code = error.close_code if error is not None else protocol.CLOSE_NORMAL
        if self._connected:
            self._close_raw(code, reason)
        log.info("session ended: %s, %.3f s of audio, %d segments", reason, self.audio_seconds,
                 self._recognizer.segments, extra={"session_id": self.id})
        self.ended.set()

    async def _flush_input(self) -> AudioFormatError | None:
        """Push out what the decoder, resampler and front end still hold; close open speech.

        Returns the decoder's error when the stream was bad or ended inside a
        WAV header: the audio accepted before it is flushed all the same.
        """
        try:
            self._push(self._decoder.finish())
            bad_end = None
        except AudioFormatError as exc:
            bad_end = exc
        if self._resampler is not None:
            self._feed16k(self._resampler.flush())
        if self._frontend is not None:
            await self._frontend.finish()
        events = self._vad.flush()
        self._recognizer.push(np.zeros(0, dtype=np.float32), events)
        if self._speakers is not None:
            self._speakers.flush(events)
        return bad_end

    def _send(self, message: str) -> None:
        if self._connected:
            self._send_raw(message)
