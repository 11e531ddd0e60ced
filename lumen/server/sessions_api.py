"""The stored sessions over HTTP (``/v1/sessions``): list, fetch a transcript, delete.

Every route takes the same bearer token as the WebSocket (``Authorization``
header, or ``?token=``) and works on the token user's (``sub``) sessions
only: another user's session and an unknown id get the same 404, so ids
cannot be probed.  With the store off (``database_url = none``) there is
nothing to list and every id is unknown.  See docs/store.md.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from lumen import protocol
from lumen.auth import Principal
from lumen.errors import BadRequestError, LumenError, SessionNotFoundError
from lumen.server.http import ContextHandler
from lumen.server.refusals import write_refusal
from lumen.server.ws import bearer_token
from lumen.store.base import SessionRecord, SessionSummary, TranscriptStore
from lumen.store.worker import StoreWorker

log = logging.getLogger(__name__)

#: Sessions in one page of a listing: the default, and the most a client may ask for.
DEFAULT_PAGE, MAX_PAGE = 50, 500


class _StoreHandler(ContextHandler):
    """Authenticates the request and finds the store; refusals answer with their status."""

    def authorize(self) -> tuple[Principal, StoreWorker | None]:
        token = bearer_token(self.request.headers.get("Authorization"), self.get_query_argument("token", None))
        return self.context.verifier.verify(token), self.context.session_services.store

    def refuse(self, what: str, exc: LumenError) -> None:
        log.info("%s refused: %s (%s)", what, exc.code, exc)
        write_refusal(self, exc)

    def describe(self, record: SessionRecord) -> dict[str, Any]:
        """The fields of a stored session that every answer shares."""
        grace = self.context.session_services.settings.resume_grace
        resumable_until = record.resumable_until(grace) if grace > 0 else None
        return {
            "session_id": record.session_id, "user": record.user, "model": record.model,
            "options": record.options, "created_at": protocol.t(record.created_at),
            "ended_at": None if record.ended_at is None else protocol.t(record.ended_at),
            "audio_seconds": protocol.t(record.audio_seconds), "status": record.status,
            "end_reason": record.end_reason, "connections": record.connections,
            "resumable_until": None if resumable_until is None else protocol.t(resumable_until),
        }


class SessionsHandler(_StoreHandler):
    """``GET /v1/sessions[?limit=N&before=T]``: the user's sessions, newest first, a page at a time.

    ``before`` is the ``next_before`` of the previous page (a ``created_at``);
    each session comes without its finals, with ``segments``, its count of
    non-empty ones.
    """

    async def get(self) -> None:
        try:
            principal, store = self.authorize()
            protocol.refuse_repeated(self.request.query_arguments)
            limit = _number(self.get_query_argument("limit", str(DEFAULT_PAGE)), "limit", int)
            before = self.get_query_argument("before", None)
            before_value = None if before is None else _number(before, "before", float)
            if not 1 <= limit <= MAX_PAGE:
                raise BadRequestError(f"limit must be 1-{MAX_PAGE}, got {limit}")
            # One more than a page: whether there is a next page at all.
            page: list[SessionSummary] = [] if store is None else await store.call(
                lambda s: s.list_sessions(principal.sub, limit + 1, before_value))
        except LumenError as exc:
            self.refuse("session list", exc)
            return
        more, page = len(page) > limit, page[:limit]
        self.write_json(200, {
            "sessions": [{**self.describe(s.record), "segments": s.segments} for s in page],
            # Unrounded: a rounded-up cursor would list its own session again.
            "next_before": page[-1].record.created_at if more else None,
        })


class SessionHandler(_StoreHandler):
    """``DELETE /v1/sessions/{id}``: delete an ended session with its transcript (204).

    A live session is refused with 409 (``session_active``): its connection
    would go on writing it.  A deleted session can no longer be resumed.
    """

    async def delete(self, session_id: str) -> None:
        try:
            principal, store = self.authorize()
            _check_id(session_id, store)
            await store.call(lambda s: s.delete_session(session_id, principal.sub))
        except LumenError as exc:
            self.refuse("session delete", exc)
            return
        log.info("session deleted by its user", extra={"session_id": session_id, "user": principal.sub})
        self.set_status(204)
        self.finish()


class TranscriptHandler(_StoreHandler):
    """``GET /v1/sessions/{id}/transcript``: a session's stored finals and speaker timeline.

    A live session answers with the finals stored so far.
    """

    async def get(self, session_id: str) -> None:
        try:
            principal, store = self.authorize()
            _check_id(session_id, store)
            record, finals, turns = await store.call(lambda s: _read(s, session_id))
            if record is None or record.user != principal.sub:
                raise SessionNotFoundError(f"no session {session_id} of yours is stored")
        except LumenError as exc:
            self.refuse("transcript", exc)
            return
        self.write_json(200, {**self.describe(record), "segments": finals, "turns": turns})


_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _check_id(session_id: str, store: StoreWorker | None) -> None:
    """404 before the store is asked: no transcripts kept, or no session can have this id
    (PostgreSQL refuses some characters in a query with an error, not an empty answer)."""
    if store is None:
        raise SessionNotFoundError("this server keeps no transcripts (database_url is none)")
    if not protocol.is_session_id(session_id):
        raise SessionNotFoundError(f"no session {session_id[:64]!r}: a session id is 32 hex digits")


def _read(store: TranscriptStore, session_id: str) -> tuple[SessionRecord | None, list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    record = store.get_session(session_id)
    if record is None:
        return None, [], []
    return record, store.finals(session_id), store.turns(session_id)


def _number(text: str, name: str, kind: type[int] | type[float]) -> Any:
    # Plain ASCII digits (and a decimal point for a float): int() and float() also take
    # "5_0", " 50", other scripts' digits, "nan" and "1e3".
    if not (_INTEGER if kind is int else _DECIMAL).fullmatch(text):
        raise BadRequestError(f"{name} must be a plain {'integer' if kind is int else 'number'}, "
                              f"got {text[:40]!r}")
    value = kind(text)
    if not math.isfinite(value):
        raise BadRequestError(f"{name} must be finite, got {text[:40]!r}")
    return value
