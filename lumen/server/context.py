"""What the handlers share: settings, verifier, engine, limits, live sessions."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from lumen.auth import TokenVerifier
from lumen.session import Session, SessionLimits, SessionServices

log = logging.getLogger(__name__)


@dataclass
class ServerContext:
    """One per server process; lives on the IOLoop thread."""

    verifier: TokenVerifier
    session_services: SessionServices
    limits: SessionLimits
    sessions: set[Session] = field(default_factory=set)
    refusals: Counter[str] = field(default_factory=Counter)

    def metrics_refused(self, reason: str) -> None:
        self.refusals[reason] += 1
