"""Keeping a long-running server's memory flat: glibc's mmap threshold and
Python's cyclic garbage collector (docs/security.md, "Load and soak").

* :func:`fix_mmap_threshold` — freed blocks of a few hundred kB go back to
  the system instead of fragmenting glibc's heaps.
* :func:`freeze_startup` and :class:`SessionSweeper` — an ended session's
  memory is freed within a second instead of whenever Python's collector
  gets to its oldest generation.

A session's objects reference each other in cycles (the handler and the
session through bound-method callbacks, the recognizer and its futures, the
diarizer's regions), so only the cyclic collector frees them, together with
the audio and buffers they hold.  A session outlives many collections of the
young generations and ends up in the oldest, which Python collects only once
it has grown by a quarter of what it holds; with the modules' and models'
hundreds of thousands of objects there, ended sessions piled up for minutes
and RSS rose and fell in a saw-tooth whose troughs kept rising.  Freezing the
objects alive once the models are loaded (``gc.freeze``: they live as long as
the process) takes them out of every collection, so the full collection the
sweeper runs after sessions end scans only what came since.

Thread-safety: :class:`SessionSweeper` lives on the IOLoop.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import sys
import time

log = logging.getLogger(__name__)

#: Blocks from this size on get a mapping of their own, returned to the system when freed.
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> None:
    """Keep glibc from holding on to freed blocks of a few hundred kB.

    glibc raises its mmap threshold each time a mapped block is freed (up to
    32 MiB); from then on, the audio windows, mel and embedding batches and
    numpy temporaries of every session come from its heaps, whose freed space
    fragments and is seldom returned: RSS climbed 17 % over a 10-minute soak.
    Fixing the threshold at glibc's own initial value keeps those blocks
    mapped, and returned when freed.  Inherited by forked workers; left alone
    when ``MALLOC_MMAP_THRESHOLD_`` is set, and off glibc.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt to speak of)
        return
    m_mmap_threshold = -3  # <malloc.h>
    if not mallopt(m_mmap_threshold, MMAP_THRESHOLD):
        log.warning("could not fix the mmap threshold; memory may grow over long runs")


def freeze_startup() -> None:
    """Take every object alive now (modules, models, settings) out of the cyclic
    collector's scans for good; call it once the server is built."""
    gc.collect()  # what start-up left as garbage goes first, rather than staying forever
    gc.freeze()


class SessionSweeper:
    """Runs a full garbage collection ``delay`` seconds after a session ends
    (one for all the sessions that end within that time)."""

    def __init__(self, delay: float = 0.5) -> None:
        self.delay = delay
        self._due: asyncio.TimerHandle | None = None

    def session_ended(self) -> None:
        if self._due is None:
            self._due = asyncio.get_running_loop().call_later(self.delay, self._collect)

    def _collect(self) -> None:
        self._due = None
        started = time.perf_counter()
        found = gc.collect()
        log.debug("collected %d objects of ended sessions in %.1f ms", found,
                  1000 * (time.perf_counter() - started))
