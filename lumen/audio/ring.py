"""A ring buffer of float32 audio (``core/ring.c``).

Fixed capacity, one producer thread and one consumer thread may use it at
once.  When a write does not fit, the policy decides, never silently:

* ``"error"`` raises :class:`~lumen.errors.RingOverflowError` and writes nothing;
* ``"drop_oldest"`` discards the oldest samples and counts them in :attr:`AudioRing.dropped`.

Positions are absolute sample counts since creation (:attr:`written`,
:attr:`consumed`), which callers use as timestamps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lumen import _core
from lumen.errors import RingOverflowError


class AudioRing:
    """See the module docstring."""

    def __init__(self, capacity: int, overflow: Literal["error", "drop_oldest"] = "error") -> None:
        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        if overflow not in ("error", "drop_oldest"):
            raise ValueError(f"overflow must be 'error' or 'drop_oldest', got {overflow!r}")
        self.overflow = overflow
        self._native = _core.Ring(int(capacity), overflow == "drop_oldest")

    @property
    def capacity(self) -> int:
        return self._native.capacity

    @property
    def written(self) -> int:
        """Samples ever written."""
        return self._native.written

    @property
    def consumed(self) -> int:
        """Samples ever consumed or dropped: the absolute index of the oldest available sample."""
        return self._native.consumed

    @property
    def dropped(self) -> int:
        """Samples discarded by the ``drop_oldest`` policy."""
        return self._native.dropped

    def __len__(self) -> int:
        return self._native.available

    def write(self, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected 1-D samples, got shape {samples.shape}")
        if not self._native.write(samples):
            raise RingOverflowError(
                f"ring buffer full: {len(self)} of {self.capacity} samples used, "
                f"{samples.size} more do not fit")

    def read(self, n: int, advance: int | None = None) -> np.ndarray:
        """Up to ``n`` of the oldest samples, then consume ``advance`` (default ``n``).

        ``advance < n`` reads overlapping windows; ``advance=0`` only peeks;
        ``read(0, advance=k)`` discards ``k`` samples.  A read never consumes
        past the window it returns, so samples a producer thread adds
        between the peek and the advance are not skipped unseen.
        """
        if n < 0 or (advance is not None and advance < 0):
            raise ValueError("n and advance must not be negative")
        if n == 0:
            self._native.advance(advance or 0)
            return np.zeros(0, dtype=np.float32)
        window = self._native.peek(n)
        self._native.advance(window.size if advance is None else min(advance, window.size))
        return window
