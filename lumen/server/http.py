"""Plain HTTP endpoints: liveness, readiness, metrics, stored transcripts and the browser demo."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tornado.web import RequestHandler, StaticFileHandler

from lumen import protocol
from lumen.errors import LumenError, SessionNotFoundError
from lumen.server.context import ServerContext
from lumen.server.refusals import write_refusal
from lumen.server.ws import bearer_token
from lumen.store.base import SessionRecord, TranscriptStore

log = logging.getLogger(__name__)

#: The browser demo: static files, no build step (``lumen/web``).
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


class _ContextHandler(RequestHandler):
    """A handler that reads the server's shared context."""

    def initialize(self, context: ServerContext) -> None:
        self.context = context

    def write_json(self, status: int, body: dict[str, object]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class HealthHandler(_ContextHandler):
    """``/healthz``: the process is up and its IOLoop answers."""

    def get(self) -> None:
        self.write_json(200, {"status": "ok"})


class ReadyHandler(_ContextHandler):
    """``/readyz``: the model is loaded and a session can still be opened (else 503)."""

    def get(self) -> None:
        limits = self.context.limits
        capacity = limits.max_sessions - limits.active
        ready = capacity > 0
        self.write_json(200 if ready else 503, {
            "status": "ready" if ready else "full",
            "model": self.context.session_services.model_name,
            "sessions": limits.active,
            "capacity": capacity,
        })


class MetricsHandler(_ContextHandler):
    """``/metrics``: the server's metrics in Prometheus' text format (or OpenMetrics if asked)."""

    def get(self) -> None:
        body, content_type = self.context.metrics.exposition(self.request.headers.get("Accept"))
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class TranscriptHandler(_ContextHandler):
    """``GET /v1/sessions/{id}/transcript``: a session's stored finals, for the user who made it.

    The same bearer token as the WebSocket (header, or ``?token=``).  An
    unknown id and another user's session get the same 404, so ids cannot be
    probed.  A live session answers with the finals stored so far.
    """

    async def get(self, session_id: str) -> None:
        try:
            token = bearer_token(self.request.headers.get("Authorization"),
                                 self.get_query_argument("token", None))
            principal = self.context.verifier.verify(token)
            store = self.context.session_services.store
            if store is None:
                raise SessionNotFoundError("this server keeps no transcripts (database_url is none)")
            record, finals, turns = await store.call(lambda s: _read(s, session_id))
            if record is None or record.user != principal.sub:
                raise SessionNotFoundError(f"no session {session_id} of yours is stored")
        except LumenError as exc:
            log.info("transcript refused: %s (%s)", exc.code, exc)
            write_refusal(self, exc)
            return
        grace = self.context.session_services.settings.resume_grace
        resumable_until = record.resumable_until(grace) if grace > 0 else None
        self.write_json(200, {
            "session_id": record.session_id, "user": record.user, "model": record.model,
            "options": record.options, "created_at": protocol.t(record.created_at),
            "ended_at": None if record.ended_at is None else protocol.t(record.ended_at),
            "audio_seconds": protocol.t(record.audio_seconds), "status": record.status,
            "end_reason": record.end_reason, "connections": record.connections,
            "resumable_until": None if resumable_until is None else protocol.t(resumable_until),
            "segments": finals, "turns": turns,
        })


def _read(store: TranscriptStore, session_id: str) -> tuple[SessionRecord | None, list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    record = store.get_session(session_id)
    if record is None:
        return None, [], []
    return record, store.finals(session_id), store.turns(session_id)


class DemoHandler(StaticFileHandler):
    """The browser demo's files, with a policy that lets the page talk only to this server."""

    def set_extra_headers(self, path: str) -> None:
        # 'self' covers same-origin ws:// and wss:// in current browsers; the
        # explicit schemes are for older ones.  The token may sit in the URL's
        # fragment, which is never sent; no-referrer keeps the page URL to itself.
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; connect-src 'self' ws: wss:; "
                        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-cache")
