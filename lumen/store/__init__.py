"""The durable transcript store: every session's finals, for fetching and resuming.

* :func:`open_store` opens the store a ``database_url`` names (SQLite or PostgreSQL);
* :class:`~lumen.store.worker.StoreWorker` runs it on one ordered thread, off the IOLoop;
* :class:`~lumen.store.recorder.SessionRecorder` writes one session as it goes.

See ``docs/store.md``.
"""

from __future__ import annotations

import logging
import time

from lumen.store.base import (RESUMABLE_REASONS, ResumePoint, SessionRecord, StoredFinal,
                              TranscriptStore, server_key)
from lumen.store.url import StoreLocation, data_dir, parse_database_url

log = logging.getLogger(__name__)


def open_store(location: StoreLocation) -> TranscriptStore:
    """Open (and create the tables of) the store at ``location``; :class:`StoreError` if it cannot."""
    if location.kind == "postgres":
        from lumen.store.postgres import PostgresStore

        return PostgresStore(location.target, location.describe())
    from lumen.store.sqlite import SqliteStore

    return SqliteStore(location.target)


def recover_sessions(location: StoreLocation, server: str) -> int:
    """Before ``server`` (:func:`server_key`) serves: end the sessions it left active when it
    died, so they can be resumed."""
    store = open_store(location)
    try:
        lost = store.recover(time.time(), server)
    finally:
        store.close()
    if lost:
        log.warning("%d session(s) were cut off when the server last stopped; resumable as server_lost",
                    lost)
    log.info("transcript store: %s", location.describe())
    return lost


__all__ = ["RESUMABLE_REASONS", "ResumePoint", "SessionRecord", "StoreLocation", "StoredFinal",
           "TranscriptStore", "data_dir", "open_store", "parse_database_url",
           "recover_sessions", "server_key"]
