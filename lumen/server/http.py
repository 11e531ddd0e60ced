"""Plain HTTP endpoints: liveness, readiness, metrics and the browser demo (the stored
sessions' routes are in :mod:`lumen.server.sessions_api`)."""

from __future__ import annotations

import json
from pathlib import Path

from tornado.web import RequestHandler, StaticFileHandler

from lumen.server.context import ServerContext

#: The browser demo: static files, no build step (``lumen/web``).
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


class ContextHandler(RequestHandler):
    """A handler that reads the server's shared context."""

    def initialize(self, context: ServerContext) -> None:
        self.context = context

    def write_json(self, status: int, body: dict[str, object]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class HealthHandler(ContextHandler):
    """``/healthz``: the process is up and its IOLoop answers."""

    def get(self) -> None:
        self.write_json(200, {"status": "ok"})


class ReadyHandler(ContextHandler):
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


class MetricsHandler(ContextHandler):
    """``/metrics``: the server's metrics in Prometheus' text format (or OpenMetrics if asked)."""

    def get(self) -> None:
        body, content_type = self.context.metrics.exposition(self.request.headers.get("Accept"))
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


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
