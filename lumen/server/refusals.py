"""The HTTP answer to a refused request, shared by the WebSocket handshake and the REST routes.

Status from the error class, ``{"error": code, "message": …}`` as the body,
the ``WWW-Authenticate`` challenge RFC 6750 asks for on 401/403 token
failures, and ``Retry-After`` when waiting will help.
"""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from lumen.errors import AuthError, CapacityError, LumenError, SessionActiveError

#: Seconds a 429/503/409 client is told to wait before retrying.
RETRY_AFTER_SECONDS = 5


def write_refusal(handler: RequestHandler, exc: LumenError) -> None:
    """Finish ``handler``'s request with ``exc``'s status and JSON body."""
    status = getattr(exc, "status", 500)
    handler.set_status(status)
    handler.set_header("Content-Type", "application/json")
    handler.set_header("Cache-Control", "no-store")
    if isinstance(exc, AuthError) and status == 401:
        challenge = 'Bearer realm="lumen"'
        if exc.code != "missing_token":
            challenge += ', error="invalid_token"'
        handler.set_header("WWW-Authenticate", challenge)
    elif isinstance(exc, AuthError):
        handler.set_header("WWW-Authenticate", 'Bearer realm="lumen", error="insufficient_scope"')
    if isinstance(exc, (CapacityError, SessionActiveError)):
        handler.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
    handler.finish(json.dumps({"error": exc.code, "message": exc.public_message}))
