"""Logging set-up: human-readable text or one JSON object per line.

``lumen --log-format json`` (or ``LUMEN_LOG_FORMAT=json``) writes each record
as a JSON object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``pid``, every ``extra`` field the code passed (``session_id``, ``user``, …)
and ``exception`` when there is one.  ``auto`` (the default) picks text when
standard error is a terminal and JSON otherwise (a container, a service
manager, a pipe into a log shipper).

Whatever the format, every line is redacted as it is written: a JWT never
reaches a log, whichever logger (ours, Tornado's, a library's) tried to write
one.  The access log also blanks ``token=`` query values itself.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import TextIO

FORMATS = ("auto", "text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Three base64url parts, the first a JSON object ("eyJ" is base64 of '{"').
_JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]+")

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact_tokens(text: str) -> str:
    """``text`` with anything shaped like a JWT replaced."""
    return _JWT.sub("[redacted-jwt]", text)


class TextFormatter(logging.Formatter):
    """The classic one-line text format, redacted."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact_tokens(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring for the fields), redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # A JWT has no character JSON escapes, so redacting the line is exact.
        return redact_tokens(json.dumps(entry, default=str, ensure_ascii=False))


def make_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (standard error by default) writing ``log_format``, with redaction."""
    stream = stream if stream is not None else sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    if log_format not in ("text", "json"):
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure(level: str = "INFO", log_format: str = "auto") -> None:
    """Send every logger's records to standard error in ``log_format`` at ``level``."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
