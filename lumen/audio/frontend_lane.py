"""Runs a session's audio front end off the IOLoop, in order.

:class:`~lumen.audio.frontend.FrontEnd` costs about 17 ms of CPU per 100 ms
chunk (DeepFilterNet 3), too long to run on the IOLoop between frames, so
each session queues its chunks here; they are cleaned in an executor one
after another and handed back on the loop in the order they came.  Control
actions (a client's ``finalize``) are queued too, so they take effect after
the audio sent before them.

Thread-safety: a lane lives on the IOLoop thread; only ``FrontEnd`` calls
run in the executor, never two of one lane at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import Executor
from typing import Callable

import numpy as np

from lumen.audio.frontend import FrontEnd

log = logging.getLogger(__name__)


class FrontEndLane:
    """Runs one session's :class:`FrontEnd` off the IOLoop, one chunk at a time.

    Chunks and actions (callables) are queued in order; each chunk is cleaned
    in ``executor`` and its output handed to ``deliver`` on the loop, and an
    action runs once every chunk queued before it has been delivered.  A
    failure is reported to ``on_failure`` once; later input is dropped.
    """

    def __init__(self, executor: Executor | None, deliver: Callable[[np.ndarray], None],
                 on_failure: Callable[[BaseException], None]) -> None:
        self._executor = executor
        self._deliver = deliver
        self._on_failure = on_failure
        self._front: FrontEnd | None = None  # made in the executor: loading the model takes ~0.4 s
        self._items: deque[np.ndarray | Callable[[], object]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._failed = False
        self._finished = False
        self.queued_samples = 0
        """16 kHz samples waiting for the front end (counts towards the session's lag)."""

    def push(self, audio: np.ndarray) -> None:
        self.queued_samples += audio.size
        self._enqueue(audio)

    def then(self, action: Callable[[], object]) -> None:
        """Run ``action`` after every chunk queued so far has been delivered."""
        self._enqueue(action)

    def _enqueue(self, item: np.ndarray | Callable[[], object]) -> None:
        if self._failed:
            return
        self._items.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _process(self, audio: np.ndarray) -> np.ndarray:
        if self._front is None:
            self._front = FrontEnd()
        return self._front.process(audio)

    def _flush(self) -> np.ndarray:
        return self._front.flush() if self._front is not None else np.zeros(0, dtype=np.float32)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._items and not self._failed:
            item = self._items.popleft()
            if callable(item):
                item()
                continue
            try:
                out = await loop.run_in_executor(self._executor, self._process, item)
            except Exception as exc:
                self._fail(exc)
                return
            self.queued_samples -= item.size
            self._deliver(out)

    def _fail(self, exc: BaseException) -> None:
        self._failed = True
        self._items.clear()
        log.error("audio front end failed: %s", exc)
        self._on_failure(exc)

    async def finish(self) -> None:
        """Deliver everything queued, then the front end's held-back tail."""
        while self._task is not None and not self._task.done():
            await self._task
        if self._failed or self._finished:
            return
        self._finished = True
        try:
            tail = await asyncio.get_running_loop().run_in_executor(self._executor, self._flush)
        except Exception as exc:
            self._fail(exc)
            return
        self._deliver(tail)

    def cancel(self) -> None:
        """Drop queued input (a chunk being cleaned finishes in the executor, unused)."""
        self._failed = True
        self._items.clear()
        if self._task is not None:
            self._task.cancel()
