"""The transcript store: records, and the SQL every backend shares.

A session is one row in ``lumen_sessions``; each final it sent is one row in
``lumen_segments`` holding the final's exact JSON message (``payload``) beside
the columns queries need, so fields that later work adds to finals are kept
without a schema change.  ``speakers.updated`` corrections rewrite the
``speaker`` column, which wins over the payload's when the transcript is read,
and the payload's word speakers when they name them.

``lumen_turns`` holds each connection's speaker timeline (the ``turns`` of its
last ``speakers.updated``), one row per connection, written when the
connection ends; a table of its own, so databases made before it gain it by
``CREATE TABLE IF NOT EXISTS`` like the others.

``lumen_voices`` holds a resumable session's speaker voiceprints (each
label's embedding centroid, committed with each final and written again when
a connection ends, so even a server killed between two finals leaves the
voices its last final was labelled with), so a resumed
connection gives a returning voice its label again.  They are biometric
data and kept no longer than a resume needs them: a session that ends for
good drops them in the same transaction, and :meth:`TranscriptStore.forget_voices`
drops those whose resume grace has passed.

``lumen_sessions.audio_seconds`` is the audio the stored transcript covers:
while a connection is live it is the end of the last stored final (so a
server killed mid-session leaves a resumable point its finals reach); when
the connection ends it becomes all the audio received.

Backends (:mod:`lumen.store.sqlite`, :mod:`lumen.store.postgres`) only open
the connection and name their error classes; the SQL here runs on both
(``?`` placeholders are rewritten for psycopg).

Thread-safety: none; a store is used from one thread (see
:mod:`lumen.store.worker`).
"""

from __future__ import annotations

import json
import logging
import math
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from lumen.errors import (ResumeExpiredError, SessionActiveError, SessionGoneError,
                          SessionNotFoundError, StoreError)

log = logging.getLogger(__name__)

ACTIVE = "active"
ENDED = "ended"
#: End reason of sessions found still active when the server starts: the server died under them.
SERVER_LOST = "server_lost"
#: End reasons after which a session may be resumed within ``resume_grace``: the
#: connection was lost (``client_closed``, ``idle_timeout`` when a network stalls),
#: the server went away (``server_shutdown``, ``server_lost``), or the client must
#: reconnect with a fresh token (``token_expired``).  A client ``end`` and the limits
#: (``session_too_long``, bad audio, overload) end a session for good.
RESUMABLE_REASONS = frozenset({"client_closed", "idle_timeout", "token_expired",
                               "server_shutdown", SERVER_LOST})

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lumen_sessions (
        id TEXT PRIMARY KEY,
        user_sub TEXT NOT NULL,
        model TEXT NOT NULL,
        options TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        audio_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        end_reason TEXT,
        connections INTEGER NOT NULL DEFAULT 1,
        server TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS lumen_sessions_status ON lumen_sessions (status, server)",
    "CREATE INDEX IF NOT EXISTS lumen_sessions_user ON lumen_sessions (user_sub, created_at)",
    "CREATE INDEX IF NOT EXISTS lumen_sessions_ended ON lumen_sessions (status, ended_at)",
    """CREATE TABLE IF NOT EXISTS lumen_segments (
        session_id TEXT NOT NULL REFERENCES lumen_sessions (id) ON DELETE CASCADE,
        segment_id INTEGER NOT NULL,
        start_s DOUBLE PRECISION NOT NULL,
        end_s DOUBLE PRECISION NOT NULL,
        text TEXT NOT NULL,
        speaker TEXT,
        payload TEXT NOT NULL,
        PRIMARY KEY (session_id, segment_id))""",
    """CREATE TABLE IF NOT EXISTS lumen_turns (
        session_id TEXT NOT NULL REFERENCES lumen_sessions (id) ON DELETE CASCADE,
        connection INTEGER NOT NULL,
        turns TEXT NOT NULL,
        PRIMARY KEY (session_id, connection))""",
    """CREATE TABLE IF NOT EXISTS lumen_voices (
        session_id TEXT PRIMARY KEY REFERENCES lumen_sessions (id) ON DELETE CASCADE,
        voices TEXT NOT NULL)""",
)

_SESSION_COLUMNS = ("id, user_sub, model, options, created_at, ended_at, audio_seconds, status, "
                    "end_reason, connections, server")


def server_key(port: int) -> str:
    """Names the ``lumen serve`` that runs a session: ``host:port``.  A server that could bind
    that address is the only one live there, so it may end what a dead predecessor left."""
    return f"{socket.gethostname()}:{port}"


@dataclass(frozen=True)
class SessionRecord:
    """One stored session."""

    session_id: str
    user: str
    """The token ``sub`` that opened it; only this user may read or resume it."""
    model: str
    options: dict[str, Any]
    """The options of its first connection (``session.started``'s ``config``)."""
    created_at: float
    """Unix seconds of its first connection."""
    ended_at: float | None = None
    """Unix seconds its last connection ended; ``None`` while one is live."""
    audio_seconds: float = 0.0
    """Audio the stored transcript covers (see the module docstring)."""
    status: str = ACTIVE
    """``active`` while a connection is live, else ``ended``."""
    end_reason: str | None = None
    """``session.ended``'s ``reason`` of the last connection, or ``server_lost``."""
    connections: int = 1
    """Connections so far: 1 + the resumes."""
    server: str = ""
    """:func:`server_key` of the server running (or that last ran) its connection."""

    def resumable_until(self, grace: float) -> float | None:
        """Unix seconds until which a resume is accepted, or ``None`` if it is not resumable."""
        if self.status != ENDED or self.end_reason not in RESUMABLE_REASONS or self.ended_at is None:
            return None
        return self.ended_at + grace


@dataclass(frozen=True)
class SessionSummary:
    """A stored session in a listing: its record and how many non-empty finals it has."""

    record: SessionRecord
    segments: int


def _record(row: Sequence[Any]) -> SessionRecord:
    """The :class:`SessionRecord` of a row of ``_SESSION_COLUMNS``."""
    (sid, user, model, options, created_at, ended_at, audio_seconds, status, end_reason,
     connections, server) = row
    return SessionRecord(sid, user, model, json.loads(options), created_at, ended_at,
                         audio_seconds, status, end_reason, connections, server)


def _voices(payload: str) -> dict[str, list[float]]:
    """Stored voiceprints, without any that is not a non-zero vector of finite numbers."""
    voices = {}
    for name, voice in json.loads(payload).items():
        if (isinstance(voice, list) and voice and all(isinstance(x, (int, float)) for x in voice)
                and all(math.isfinite(x) for x in voice) and any(voice)):
            voices[name] = voice
        else:
            log.warning("stored voiceprint %r is malformed; ignored", name)
    return voices


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed connection continues."""

    session_id: str
    audio_offset: float
    """Session audio time at which this connection's audio starts."""
    next_segment_id: int
    """The segment id of this connection's first segment."""
    segments: int
    """Non-empty finals the session has already (``session.ended`` counts the whole session)."""
    connection: int
    """This connection's number (2 for the first resume)."""
    created_at: float
    """When the session's first connection was accepted (Unix seconds): ``max_session_seconds``
    counts from there, across resumes."""
    voices: dict[str, list[float]] = field(default_factory=dict)
    """The speakers' voiceprints as the last connection left them (label -> centroid)."""
    speakers: tuple[str, ...] = ()
    """Every speaker label the stored finals use (new voices must not take one)."""


@dataclass(frozen=True)
class StoredFinal:
    """One final as sent: its JSON message and the fields the store indexes."""

    segment_id: int
    start: float
    end: float
    text: str
    speaker: str | None
    payload: str

    @classmethod
    def from_message(cls, message: str) -> "StoredFinal":
        body = json.loads(message)
        return cls(body["segment_id"], body["start"], body["end"], body["text"], body.get("speaker"),
                   message)


class TranscriptStore:
    """Sessions and their finals in one SQL database (see the module docstring)."""

    #: The backend's DB-API error base class(es), turned into :class:`StoreError`.
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, connection: Any, description: str) -> None:
        self._conn = connection
        self.description = description
        with self._transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)

    # -- what a backend adapts --------------------------------------------------
    def _sql(self, statement: str) -> str:
        """``statement`` in the backend's placeholder style (``?`` here)."""
        return statement

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor in a transaction committed on success; database errors become StoreError."""
        try:
            cursor = self._conn.cursor()
            try:
                yield cursor
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            finally:
                cursor.close()
        except self.errors as exc:
            raise StoreError(f"transcript store {self.description}: {exc}") from exc

    def _execute(self, cursor: Any, statement: str, *params: Any) -> Any:
        cursor.execute(self._sql(statement), params)
        return cursor

    # -- writes -----------------------------------------------------------------
    def create_session(self, record: SessionRecord) -> None:
        with self._transaction() as cursor:
            self._execute(cursor, f"INSERT INTO lumen_sessions ({_SESSION_COLUMNS}) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          record.session_id, record.user, record.model, json.dumps(record.options),
                          record.created_at, record.ended_at, record.audio_seconds, record.status,
                          record.end_reason, record.connections, record.server)

    def add_final(self, session_id: str, final: StoredFinal,
                  voices: Mapping[str, Iterable[float]] | None = None) -> None:
        """Store a final and move the session's covered audio to its end, in one commit,
        with the speakers' ``voices`` (label -> centroid) when given."""
        with self._transaction() as cursor:
            if voices is not None:
                self._write_voices(cursor, session_id, voices)
            self._execute(cursor, "INSERT INTO lumen_segments "
                          "(session_id, segment_id, start_s, end_s, text, speaker, payload) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          session_id, final.segment_id, final.start, final.end, final.text,
                          final.speaker, final.payload)
            self._execute(cursor, "UPDATE lumen_sessions SET audio_seconds = ? "
                          "WHERE id = ? AND audio_seconds < ?", final.end, session_id, final.end)

    def update_speakers(self, session_id: str, corrections: Sequence[Mapping[str, Any]]) -> None:
        """Apply the entries of a ``speakers.updated`` message (``segment_id``,
        ``speaker``, optionally ``word_speakers``) to stored finals."""
        with self._transaction() as cursor:
            for entry in corrections:
                segment_id, speaker = int(entry["segment_id"]), entry["speaker"]
                row = None
                if entry.get("word_speakers") is not None:
                    row = self._execute(cursor, "SELECT payload FROM lumen_segments WHERE session_id = ? "
                                        "AND segment_id = ?", session_id, segment_id).fetchone()
                if row is None:
                    self._execute(cursor, "UPDATE lumen_segments SET speaker = ? "
                                  "WHERE session_id = ? AND segment_id = ?", speaker, session_id, segment_id)
                    continue
                final = json.loads(row[0])
                for word, who in zip(final.get("words", []), entry["word_speakers"]):
                    word["speaker"] = who
                self._execute(cursor, "UPDATE lumen_segments SET speaker = ?, payload = ? "
                              "WHERE session_id = ? AND segment_id = ?", speaker, json.dumps(final), session_id,
                              segment_id)

    def set_turns(self, session_id: str, connection: int, turns: Sequence[Mapping[str, Any]]) -> None:
        """Store (or replace) the speaker timeline of one connection of a session."""
        with self._transaction() as cursor:
            self._execute(cursor, "DELETE FROM lumen_turns WHERE session_id = ? AND connection = ?",
                          session_id, connection)
            self._execute(cursor, "INSERT INTO lumen_turns (session_id, connection, turns) VALUES (?, ?, ?)",
                          session_id, connection, json.dumps(list(turns)))

    def set_voices(self, session_id: str, voices: Mapping[str, Iterable[float]]) -> None:
        """Store (or replace) a session's speaker voiceprints (label -> centroid)."""
        with self._transaction() as cursor:
            self._write_voices(cursor, session_id, voices)

    def _write_voices(self, cursor: Any, session_id: str, voices: Mapping[str, Iterable[float]]) -> None:
        payload = json.dumps({name: [round(float(x), 6) for x in voice] for name, voice in voices.items()})
        self._execute(cursor, "DELETE FROM lumen_voices WHERE session_id = ?", session_id)
        self._execute(cursor, "INSERT INTO lumen_voices (session_id, voices) VALUES (?, ?)",
                      session_id, payload)

    def end_session(self, session_id: str, ended_at: float, reason: str, audio_seconds: float) -> None:
        """Mark a connection's end; a ``reason`` that is not resumable also drops the voiceprints."""
        with self._transaction() as cursor:
            self._execute(cursor, "UPDATE lumen_sessions SET status = ?, ended_at = ?, end_reason = ?, "
                          "audio_seconds = ? WHERE id = ?",
                          ENDED, ended_at, reason, audio_seconds, session_id)
            if reason not in RESUMABLE_REASONS:
                self._execute(cursor, "DELETE FROM lumen_voices WHERE session_id = ?", session_id)

    def forget_voices(self, ended_before: float) -> int:
        """Drop the voiceprints of sessions that ended before ``ended_before`` (Unix seconds:
        now less the resume grace); how many."""
        with self._transaction() as cursor:
            return int(self._execute(
                cursor, "DELETE FROM lumen_voices WHERE session_id IN (SELECT id FROM lumen_sessions "
                "WHERE status = ? AND ended_at < ?)", ENDED, ended_before).rowcount)

    def recover(self, now: float, server: str) -> int:
        """End the sessions ``server`` left active when it died (``server_lost``); how many.

        ``lumen serve`` calls it once it holds its address and before its
        workers start, so none of them is live; other servers' are untouched.
        """
        with self._transaction() as cursor:
            self._execute(cursor, "UPDATE lumen_sessions SET status = ?, ended_at = ?, end_reason = ? "
                          "WHERE status = ? AND server = ?", ENDED, now, SERVER_LOST, ACTIVE, server)
            return int(cursor.rowcount)

    def claim_resume(self, session_id: str, user: str, now: float, grace: float,
                     server: str) -> ResumePoint:
        """Make an ended session of ``user`` active again on ``server``, or raise why it cannot be
        resumed.

        The claim is one conditional UPDATE, so of two racing resumes (even in
        two server processes) exactly one wins; the other sees ``session_active``.
        """
        record = self.get_session(session_id)
        if record is None or record.user != user:
            raise SessionNotFoundError(f"no session {session_id} of yours is stored")
        if record.status == ACTIVE:
            raise SessionActiveError(f"session {session_id} is still active; retry once it has ended")
        until = record.resumable_until(grace)
        if until is None:
            raise SessionGoneError(f"session {session_id} ended with {record.end_reason!r}, "
                                   "which cannot be resumed")
        if now > until:
            raise ResumeExpiredError(f"session {session_id} ended {now - (record.ended_at or now):.0f} s ago; "
                                     f"it could be resumed for {grace:.0f} s")
        with self._transaction() as cursor:
            claimed = self._execute(
                cursor, "UPDATE lumen_sessions SET status = ?, ended_at = NULL, end_reason = NULL, "
                "connections = connections + 1, server = ? WHERE id = ? AND status = ?",
                ACTIVE, server, session_id, ENDED).rowcount
            if claimed != 1:
                raise SessionActiveError(f"session {session_id} was just resumed by another connection")
            next_id, segments = self._execute(
                cursor, "SELECT COALESCE(MAX(segment_id) + 1, 0), "
                "COUNT(CASE WHEN text <> '' THEN 1 END) FROM lumen_segments WHERE session_id = ?",
                session_id).fetchone()
            speakers = self._execute(cursor, "SELECT DISTINCT speaker FROM lumen_segments "
                                     "WHERE session_id = ? AND speaker IS NOT NULL", session_id).fetchall()
            voices = self._read_voices(cursor, session_id)
        return ResumePoint(session_id, record.audio_seconds, int(next_id), int(segments),
                           record.connections + 1, record.created_at, voices,
                           tuple(sorted(name for (name,) in speakers)))

    def delete_session(self, session_id: str, user: str) -> None:
        """Delete an ended session of ``user`` with everything stored of it, or raise why not.

        The status is part of the DELETE, so a session resumed meanwhile is not deleted.
        """
        record = self.get_session(session_id)
        if record is None or record.user != user:
            raise SessionNotFoundError(f"no session {session_id} of yours is stored")
        with self._transaction() as cursor:
            deleted = self._execute(cursor, "DELETE FROM lumen_sessions WHERE id = ? AND status = ?",
                                    session_id, ENDED).rowcount
        if deleted != 1:
            raise SessionActiveError(f"session {session_id} is live; it can be deleted once it has ended")

    def purge(self, ended_before: float) -> int:
        """Delete the sessions that ended before ``ended_before`` (Unix seconds); how many.
        Live sessions are never purged."""
        with self._transaction() as cursor:
            return int(self._execute(cursor, "DELETE FROM lumen_sessions WHERE status = ? AND ended_at < ?",
                                     ENDED, ended_before).rowcount)

    # -- reads ------------------------------------------------------------------
    def get_session(self, session_id: str) -> SessionRecord | None:
        with self._transaction() as cursor:
            row = self._execute(cursor, f"SELECT {_SESSION_COLUMNS} FROM lumen_sessions WHERE id = ?",
                                session_id).fetchone()
        return None if row is None else _record(row)

    def list_sessions(self, user: str, limit: int, before: float | None = None) -> list[SessionSummary]:
        """``user``'s sessions, newest first: at most ``limit``, created before ``before``
        (Unix seconds; None: the newest)."""
        with self._transaction() as cursor:
            rows = self._execute(
                cursor, f"SELECT {_SESSION_COLUMNS}, (SELECT COUNT(*) FROM lumen_segments WHERE "
                "session_id = lumen_sessions.id AND text <> '') FROM lumen_sessions "
                "WHERE user_sub = ? AND created_at < ? ORDER BY created_at DESC LIMIT ?",
                user, float("inf") if before is None else before, limit).fetchall()
        return [SessionSummary(_record(row[:-1]), int(row[-1])) for row in rows]

    def finals(self, session_id: str) -> list[dict[str, Any]]:
        """The session's finals in order, as sent, with corrected speakers."""
        with self._transaction() as cursor:
            rows = self._execute(cursor, "SELECT payload, speaker FROM lumen_segments "
                                 "WHERE session_id = ? ORDER BY segment_id", session_id).fetchall()
        finals = []
        for payload, speaker in rows:
            final = json.loads(payload)
            final["speaker"] = speaker
            finals.append(final)
        return finals

    def voices(self, session_id: str) -> dict[str, list[float]]:
        """The session's stored voiceprints (empty when it has none)."""
        with self._transaction() as cursor:
            return self._read_voices(cursor, session_id)

    def _read_voices(self, cursor: Any, session_id: str) -> dict[str, list[float]]:
        row = self._execute(cursor, "SELECT voices FROM lumen_voices WHERE session_id = ?",
                            session_id).fetchone()
        return _voices(row[0]) if row else {}

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        """The session's speaker timeline: its connections' timelines in order (each is
        in session time, after the previous one's audio)."""
        with self._transaction() as cursor:
            rows = self._execute(cursor, "SELECT turns FROM lumen_turns WHERE session_id = ? "
                                 "ORDER BY connection", session_id).fetchall()
        return [turn for (turns,) in rows for turn in json.loads(turns)]

    def close(self) -> None:
        try:
            self._conn.close()
        except self.errors as exc:  # closing is best-effort: the process is going away
            log.warning("closing transcript store %s: %s", self.description, exc)
