"""The embedded backend: one SQLite file in WAL mode (the default store).

``synchronous=FULL`` syncs the write-ahead log at every commit, so a final is
on disk before the client sees it: it survives the server being killed and
also a power cut.  WAL lets the HTTP reads and several server processes
(``workers``) share the file; ``busy_timeout`` makes a writer wait for
another's commit instead of failing.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from lumen.errors import StoreError
from lumen.store.base import TranscriptStore

log = logging.getLogger(__name__)

#: Seconds a write waits for another process's transaction before failing.
BUSY_TIMEOUT_SECONDS = 30.0


class SqliteStore(TranscriptStore):
    """A :class:`TranscriptStore` in the SQLite file at ``path`` (created with its directory)."""

    errors = (sqlite3.Error,)

    def __init__(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite transcript store {path}: {exc}") from exc
        super().__init__(connection, f"sqlite:{path}")
