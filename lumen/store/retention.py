"""Deleting transcripts once they are older than the retention period (``retention_days``).

Each server process (each worker) runs a :class:`RetentionSweeper`: one
purge as it starts serving and one every ``PURGE_INTERVAL_SECONDS``, on the
store's thread.  Workers or servers sharing a database purge the same rows
harmlessly (a DELETE of what is already gone deletes nothing).  Only ended
sessions are purged, by the time their last connection ended; a session's
finals and speaker timeline go with it.
"""

from __future__ import annotations

import logging
import time

from tornado.ioloop import PeriodicCallback

from lumen.store.base import TranscriptStore
from lumen.store.worker import StoreWorker

log = logging.getLogger(__name__)

#: Seconds between two purges.
PURGE_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86400.0


def purge_expired(store: TranscriptStore, retention_days: float, now: float) -> int:
    """Delete the sessions that ended more than ``retention_days`` before ``now``; how many."""
    purged = store.purge(now - retention_days * DAY_SECONDS)
    if purged:
        log.info("retention: deleted %d session(s) that ended over %g day(s) ago", purged, retention_days)
    return purged


class RetentionSweeper:
    """Purges ``worker``'s store now and then every hour (see the module docstring); call
    :meth:`start` on the IOLoop."""

    def __init__(self, worker: StoreWorker, retention_days: float) -> None:
        self._worker = worker
        self._days = retention_days
        self._timer = PeriodicCallback(self._purge, PURGE_INTERVAL_SECONDS * 1000)

    def start(self) -> None:
        self._purge()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _purge(self) -> None:
        now = time.time()
        self._worker.submit(lambda store: purge_expired(store, self._days, now), "retention purge")
