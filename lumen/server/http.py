"""Plain HTTP endpoints: liveness and readiness."""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from lumen.server.context import ServerContext


class _JsonHandler(RequestHandler):
    def initialize(self, context: ServerContext) -> None:
        self.context = context

    def write_json(self, status: int, body: dict[str, object]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class HealthHandler(_JsonHandler):
    """``/healthz``: the process is up and its IOLoop answers."""

    def get(self) -> None:
        self.write_json(200, {"status": "ok"})


class ReadyHandler(_JsonHandler):
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
