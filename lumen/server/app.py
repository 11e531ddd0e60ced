"""Builds the Tornado application: shared context, routes, access log."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from tornado.web import Application, RequestHandler

from lumen.asr.engine import WhisperEngine
from lumen.asr.models import resolve_model
from lumen.audio.frontend import FrontEnd
from lumen.auth import TokenVerifier
from lumen.config import Settings
from lumen.diarization import Diarizer
from lumen.metrics import MeteredEngine, ServerMetrics
from lumen.server.context import ServerContext
from lumen.server.http import WEB_DIR, DemoHandler, HealthHandler, MetricsHandler, ReadyHandler
from lumen.server.sessions_api import SessionHandler, SessionsHandler, TranscriptHandler
from lumen.server.memory import freeze_startup
from lumen.server.ws import TranscribeHandler
from lumen.session import SessionLimits, SessionServices
from lumen.store.url import parse_database_url
from lumen.store.worker import StoreWorker
from lumen.terms import SharedVocabulary

log = logging.getLogger(__name__)
access_log = logging.getLogger("lumen.access")

_TOKEN_IN_QUERY = re.compile(r"(?i)([?&]token=)[^&]*")


def redact(uri: str) -> str:
    """``uri`` with any ``token=`` value replaced, for logs."""
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", uri)


def _log_request(handler: RequestHandler) -> None:
    """Tornado's access log line, minus the token a query string may carry."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request = handler.request
    access_log.log(level, "%d %s %s (%s) %.2fms", status, request.method, redact(request.uri or ""),
                   request.remote_ip, 1000.0 * request.request_time())


def build_context(settings: Settings, engine: WhisperEngine | None = None,
                  diarizer: Diarizer | None = None) -> ServerContext:
    """Verify settings, load the models, and make the shared server context.

    ``engine`` and ``diarizer`` may be given to share them between servers (tests).
    """
    verifier = TokenVerifier(settings)
    if engine is None:
        model_path = resolve_model(settings.model)
        engine = WhisperEngine(model_path, contexts=settings.contexts, threads=settings.threads)
    model_name = Path(settings.model).name if Path(settings.model).suffix else settings.model
    if diarizer is None and settings.diarization:
        diarizer = Diarizer(max_workers=settings.diarization_workers)
    limits = SessionLimits(settings.max_sessions, settings.max_sessions_per_user)
    metrics = ServerMetrics(model_name, lambda: limits.active, lambda: engine.queue_depth,
                            arrival_horizon=2 * settings.max_lag + settings.max_segment)
    # The metered engine records each inference of this server only (tests share an engine).
    metered = cast(WhisperEngine, MeteredEngine(engine, metrics))
    vocabulary = SharedVocabulary(settings.terms_file)
    if settings.terms_file:
        vocabulary.check()  # a bad list stops the server now, not a session later
    if settings.terms:
        vocabulary.get()  # most sessions will want it: load it now, in its thread
    location = parse_database_url(settings.database_url)
    store = StoreWorker(location) if location is not None else None
    if settings.denoise:
        FrontEnd().close()  # a missing or broken noise suppressor stops the server now
    frontend_executor = ThreadPoolExecutor(settings.denoise_workers, thread_name_prefix="lumen-frontend")
    services = SessionServices(settings=settings, engine=metered, model_name=model_name,
                               diarizer=diarizer, vocabulary=vocabulary, store=store,
                               frontend_executor=frontend_executor)
    context = ServerContext(verifier=verifier, session_services=services, limits=limits, metrics=metrics)
    freeze_startup()  # the models and modules stay; the collector need not scan them again
    return context


def make_app(context: ServerContext) -> Application:
    settings = context.session_services.settings
    route_args = {"context": context}
    return Application(
        [
            (r"/ws/transcribe", TranscribeHandler, route_args),
            (r"/healthz", HealthHandler, route_args),
            (r"/readyz", ReadyHandler, route_args),
            (r"/metrics", MetricsHandler, route_args),
            (r"/v1/sessions", SessionsHandler, route_args),
            (r"/v1/sessions/([^/]+)", SessionHandler, route_args),
            (r"/v1/sessions/([^/]+)/transcript", TranscriptHandler, route_args),
            (r"/()", DemoHandler, {"path": str(WEB_DIR), "default_filename": "index.html"}),
            (r"/web/(.+)", DemoHandler, {"path": str(WEB_DIR)}),
        ],
        log_function=_log_request,
        # Frames up to twice the limit reach the session, which answers with an
        # `error` message and 1009 after flushing; larger ones are cut by Tornado
        # itself (1009 without a message) so they are never buffered whole.
        websocket_max_message_size=2 * settings.max_frame_bytes,
        # Pings find dead peers (a laptop that slept) so their sessions end.
        websocket_ping_interval=30,
        websocket_ping_timeout=30,
    )
