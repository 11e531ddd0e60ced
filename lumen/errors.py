"""Project exception classes.

Every error Lumen raises on purpose is a :class:`LumenError`.  Each class
carries the protocol error ``code`` (the string a client sees in an ``error``
message) and the RFC 6455 ``close_code`` the session ends with, so the mapping
from failure to wire lives here and nowhere else.
"""

from __future__ import annotations


class LumenError(Exception):
    """Base class: ``code`` is the protocol error code, ``close_code`` the WebSocket close."""

    code = "internal_error"
    close_code = 1011


class ConfigError(LumenError):
    """A setting is missing, malformed or inconsistent (raised before the server starts)."""

    code = "config_error"


class AudioFormatError(LumenError, ValueError):
    """Audio bytes or declared audio options cannot be decoded."""

    code = "invalid_audio"
    close_code = 1007


class ModelError(LumenError):
    """A model cannot be found, converted, verified or loaded."""

    code = "model_error"
