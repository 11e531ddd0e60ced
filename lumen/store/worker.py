"""Runs a :class:`TranscriptStore` on one dedicated thread, off the IOLoop.

A commit syncs to disk (milliseconds, more on a busy disk), which must not
stall every session's audio on the IOLoop.  One thread owns the connection
(SQLite connections are bound to their thread) and runs calls in the order
they were made, so a session's row is written before its finals, its finals
in order, and a read sees every write queued before it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

from lumen.store.base import TranscriptStore
from lumen.store.url import StoreLocation

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreWorker:
    """The store at ``location``, opened on its own thread (raises :class:`StoreError` now if it
    cannot be opened)."""

    def __init__(self, location: StoreLocation) -> None:
        from lumen.store import open_store

        self.location = location
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lumen-store")
        try:
            self._store = self._executor.submit(open_store, location).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    async def call(self, operation: Callable[[TranscriptStore], T]) -> T:
        """Run ``operation(store)`` on the store's thread after everything queued before it."""
        return await asyncio.wrap_future(self._executor.submit(operation, self._store))

    def submit(self, operation: Callable[[TranscriptStore], object], what: str) -> None:
        """Queue ``operation(store)`` without waiting; a failure is logged (``what`` names it)."""
        future = self._executor.submit(operation, self._store)
        future.add_done_callback(lambda done: _log_failure(done, what))

    def close(self) -> None:
        """Finish the queued calls, then close the connection and the thread."""
        self._executor.submit(self._store.close)
        self._executor.shutdown(wait=True)


def _log_failure(future: Future[object], what: str) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("transcript store: %s failed: %s", what, future.exception())
