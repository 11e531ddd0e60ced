"""Deleting what the store no longer needs: transcripts older than ``retention_days``,
and speaker voiceprints once a session can no longer be resumed (``resume_grace``).

Each server process (each worker) with a store runs a :class:`RetentionSweeper`:
one sweep as it starts serving and one every ``resume_grace`` seconds (at least
a minute, at most ``PURGE_INTERVAL_SECONDS``), on the store's thread.  Workers
or servers sharing a database purge the same rows harmlessly (a DELETE of what
is already gone deletes nothing).  Only ended sessions are purged, by the time
their last connection ended; a session's finals, speaker timeline and
voiceprints go with it.
"""

from __future__ import annotations

import logging
import time

from tornado.ioloop import PeriodicCallback

from lumen.store.base import TranscriptStore
from lumen.store.worker import StoreWorker

log = logging.getLogger(__name__)

#: Most seconds between two sweeps.
PURGE_INTERVAL_SECONDS = 3600.0
#: Fewest seconds between two sweeps.
MIN_INTERVAL_SECONDS = 60.0
DAY_SECONDS = 86400.0


def purge_expired(store: TranscriptStore, retention_days: float, resume_grace: float, now: float) -> int:
    """Drop the voiceprints of sessions that ended over ``resume_grace`` seconds before ``now``,
    and, when ``retention_days`` is set, delete the sessions that ended more than that before
    ``now``; how many sessions were deleted."""
    forgotten = store.forget_voices(now - resume_grace)
    if forgotten:
        log.info("resume grace passed: dropped the voiceprints of %d session(s)", forgotten)
    if not retention_days:
        return 0
    purged = store.purge(now - retention_days * DAY_SECONDS)
    if purged:
        log.info("retention: deleted %d session(s) that ended over %g day(s) ago", purged, retention_days)
    return purged


class RetentionSweeper:
    """Sweeps ``worker``'s store now and then periodically (see the module docstring); call
    :meth:`start` on the IOLoop."""

    def __init__(self, worker: StoreWorker, retention_days: float, resume_grace: float) -> None:
        self._worker = worker
        self._days = retention_days
        self._grace = resume_grace
        interval = min(PURGE_INTERVAL_SECONDS, max(MIN_INTERVAL_SECONDS, resume_grace))
        self._timer = PeriodicCallback(self._purge, interval * 1000)

    def start(self) -> None:
        self._purge()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _purge(self) -> None:
        now = time.time()
        self._worker.submit(lambda store: purge_expired(store, self._days, self._grace, now), "retention purge")
