"""What the handlers share: settings, verifier, engine, limits, metrics, live sessions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lumen.auth import TokenVerifier
from lumen.metrics import ServerMetrics
from lumen.server.memory import SessionSweeper
from lumen.session import Session, SessionLimits, SessionServices

log = logging.getLogger(__name__)


@dataclass
class ServerContext:
    """One per server process; lives on the IOLoop thread."""

    verifier: TokenVerifier
    session_services: SessionServices
    limits: SessionLimits
    metrics: ServerMetrics
    sessions: set[Session] = field(default_factory=set)
    handshakes: int = 0
    """Handshakes under way (from ``prepare`` to ``open`` or failure): a
    stopping server waits for them, so none opens a session it forgets."""
    stopping: bool = False
    """SIGTERM came: new handshakes are refused (503 ``server_shutdown``)."""
    sweeper: SessionSweeper = field(default_factory=SessionSweeper)
