"""Project exception classes.

Every error Lumen raises on purpose is a :class:`LumenError`.  Each class
carries the protocol error ``code`` (the string a client sees in an ``error``
message) and the RFC 6455 ``close_code`` the session ends with, so the mapping
from failure to wire lives here and nowhere else.
"""

from __future__ import annotations

from typing import Any


class LumenError(Exception):
    """Base class: ``code`` is the protocol error code, ``close_code`` the WebSocket close."""

    code = "internal_error"
    close_code = 1011

    @property
    def public_message(self) -> str:
        """What the client is told (the log has ``str(self)``)."""
        return str(self)


class ConfigError(LumenError):
    """A setting is missing, malformed or inconsistent (raised before the server starts)."""

    code = "config_error"


class AudioFormatError(LumenError, ValueError):
    """Audio bytes or declared audio options cannot be decoded.

    ``decoded``: from :meth:`AudioDecoder.feed`, the samples (an ``np.ndarray``,
    maybe empty) decoded from the same bytes before the bad ones: accepted
    audio, still to be transcribed; None for errors in declared options.
    """

    code = "invalid_audio"
    close_code = 1007

    def __init__(self, message: str, decoded: Any = None) -> None:
        super().__init__(message)
        self.decoded = decoded


class ModelError(LumenError):
    """A model cannot be found, converted, verified or loaded."""

    code = "model_error"


class InferenceAborted(LumenError):
    """A transcription was stopped by its caller's abort event."""

    code = "aborted"


class FrontEndError(LumenError, ValueError):
    """The audio front end's options are invalid or its noise suppressor cannot be loaded."""

    code = "frontend_error"


class DiarizationError(LumenError):
    """The speaker encoder's weights cannot be found or loaded."""

    code = "diarization_error"


class AuthError(LumenError):
    """The handshake's credentials are refused; ``status`` is the HTTP status."""

    status = 401
    code = "invalid_token"
    close_code = 1008


class MissingTokenError(AuthError):
    code = "missing_token"


class InvalidTokenError(AuthError):
    code = "invalid_token"


class TokenExpiredError(AuthError):
    code = "token_expired"


class InsufficientScopeError(AuthError):
    status = 403
    code = "insufficient_scope"


class OriginNotAllowedError(LumenError):
    """A browser page from an origin not in ``allowed_origins`` tried to open a session."""

    status = 403
    code = "origin_not_allowed"
    close_code = 1008


class BadRequestError(LumenError, ValueError):
    """A handshake query parameter or a client message is malformed (HTTP 400)."""

    status = 400
    code = "bad_request"
    close_code = 1008


class CapacityError(LumenError):
    """The server or this user has no session left (HTTP 503 / 429 at the handshake)."""

    status = 503
    code = "server_busy"
    close_code = 1013


class ShuttingDownError(CapacityError):
    """The server is stopping: HTTP 503 at the handshake (another worker or its restart
    will take it), close 1001 for a live session once its finals are out."""

    code = "server_shutdown"
    close_code = 1001


class UserLimitError(CapacityError):
    status = 429
    code = "too_many_sessions"
    close_code = 1008


class SessionPolicyError(LumenError):
    """A live session broke a limit: idle, too long, token expired, frame too large."""

    close_code = 1008

    def __init__(self, code: str, message: str, close_code: int = 1008) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


class RingOverflowError(LumenError):
    """An audio ring buffer with the ``error`` policy had no room for a write."""

    code = "overloaded"
    close_code = 1013


class StoreError(LumenError):
    """The transcript store cannot be opened, read or written (HTTP 503 at a handshake)."""

    status = 503
    code = "store_unavailable"
    close_code = 1011

    @property
    def public_message(self) -> str:
        # str(self) names the database (its host, user, what it refused): for the log only.
        return "the transcript store is unavailable; try again later"


class SessionNotFoundError(LumenError):
    """No stored session has this id for this user (another user's session looks the same)."""

    status = 404
    code = "session_not_found"
    close_code = 1008


class SessionActiveError(LumenError):
    """A resume named a session that is still running (its audio may still be finishing)."""

    status = 409
    code = "session_active"
    close_code = 1008


class SessionGoneError(LumenError):
    """A resume named a session that ended for good (``end``, or an end that is not resumable)."""

    status = 410
    code = "session_finished"
    close_code = 1008


class ResumeExpiredError(SessionGoneError):
    """A resume came after the session's ``resume_grace`` had passed."""

    code = "resume_expired"
