"""Writes one live session to the transcript store as it goes.

The session row is written at the handshake (or claimed again, for a
resume), so a store that does not work refuses the connection up front.
Each final is committed *before* it is sent: a client never holds a final
the store lacks, whenever the server dies.  (The reverse gap is at most the
one final being sent at the instant of a kill: committed, never delivered.)
Speaker corrections, the final speaker timeline, the voiceprints a resume
needs and the end are written in order after it.

A store failure during a session is logged and the live transcript goes on:
the client still gets every message; only the stored copy misses what failed.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Iterable, Mapping

from lumen.errors import StoreError
from lumen.store.base import ResumePoint, SessionRecord, StoredFinal, server_key
from lumen.store.worker import StoreWorker

log = logging.getLogger(__name__)


class SessionRecorder:
    """The store side of one connection; make it with :meth:`begin` or :meth:`resume`."""

    def __init__(self, worker: StoreWorker, session_id: str, resume_point: ResumePoint | None) -> None:
        self._worker = worker
        self.session_id = session_id
        self.resume_point = resume_point
        """Where this connection continues a stored session; ``None`` for a new session."""

    @classmethod
    async def begin(cls, worker: StoreWorker, user: str, model: str, options: dict[str, Any],
                    port: int) -> "SessionRecorder":
        """Store a new session, active on the server at ``port``, or raise :class:`StoreError`."""
        record = SessionRecord(uuid.uuid4().hex, user, model, options, created_at=time.time(),
                               server=server_key(port))
        await worker.call(lambda store: store.create_session(record))
        return cls(worker, record.session_id, None)

    @classmethod
    async def resume(cls, worker: StoreWorker, session_id: str, user: str, grace: float,
                     port: int) -> "SessionRecorder":
        """Claim ``user``'s ended session ``session_id`` for the server at ``port``, or raise why
        not (404/409/410, StoreError)."""
        point = await worker.call(lambda store: store.claim_resume(
            session_id, user, time.time(), grace, server_key(port)))
        log.info("session resumed (connection %d, audio from %.3f s, segments from %d)",
                 point.connection, point.audio_offset, point.next_segment_id,
                 extra={"session_id": session_id, "user": user})
        return cls(worker, session_id, point)

    async def final(self, message: str, voices: Mapping[str, Iterable[float]] | None = None) -> None:
        """Commit a final's ``transcript`` message (with the speakers' voiceprints, when
        given); returns once it is durable."""
        final = StoredFinal.from_message(message)
        try:
            await self._worker.call(lambda store: store.add_final(self.session_id, final, voices))
        except StoreError as exc:
            log.error("final %d not stored: %s", final.segment_id, exc,
                      extra={"session_id": self.session_id})

    def speakers(self, corrections: list[dict[str, Any]]) -> None:
        """Queue a ``speakers.updated`` correction (written after the finals it names)."""
        self._worker.submit(lambda store: store.update_speakers(self.session_id, corrections),
                            f"speaker correction of session {self.session_id}")

    def turns(self, turns: list[dict[str, Any]]) -> None:
        """Queue this connection's final speaker timeline (session time)."""
        connection = self.resume_point.connection if self.resume_point is not None else 1
        self._worker.submit(lambda store: store.set_turns(self.session_id, connection, turns),
                            f"speaker timeline of session {self.session_id}")

    def voices(self, voices: Mapping[str, Iterable[float]]) -> None:
        """Queue the speakers' voiceprints for a resume (before :meth:`end`, which drops
        them when its reason is not resumable)."""
        self._worker.submit(lambda store: store.set_voices(self.session_id, voices),
                            f"speaker voiceprints of session {self.session_id}")

    async def end(self, reason: str, audio_seconds: float) -> None:
        """Mark the connection's end (``reason`` decides whether it may be resumed)."""
        try:
            await self._worker.call(
                lambda store: store.end_session(self.session_id, time.time(), reason, audio_seconds))
        except StoreError as exc:
            log.error("session end not stored: %s", exc, extra={"session_id": self.session_id})

    def abandon(self) -> None:
        """The handshake failed after the row was written: end it as a lost connection."""
        offset = self.resume_point.audio_offset if self.resume_point is not None else 0.0
        self._worker.submit(
            lambda store: store.end_session(self.session_id, time.time(), "client_closed", offset),
            f"end of abandoned session {self.session_id}")
