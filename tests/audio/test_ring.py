"""AudioRing: both overflow policies, absolute counters, overlapping
windows, and a producer thread against a consumer thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lumen.audio.ring import AudioRing
from lumen.errors import RingOverflowError


def ramp(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)


def test_error_policy_refuses_whole_writes():
    ring = AudioRing(10)
    ring.write(ramp(0, 7))
    with pytest.raises(RingOverflowError, match="ring buffer full: 7 of 10 samples used, 4 more do not fit"):
        ring.write(ramp(7, 4))
    assert len(ring) == 7 and ring.written == 7 and ring.dropped == 0
    ring.write(ramp(7, 3))
    np.testing.assert_array_equal(ring.read(10), ramp(0, 10))
    with pytest.raises(RingOverflowError):
        ring.write(ramp(0, 11))     # more than the capacity never fits
    assert RingOverflowError.code == "overloaded"
    assert (ring.written, ring.consumed, len(ring)) == (10, 10, 0)


def test_drop_oldest_counts_what_it_discards():
    ring = AudioRing(8, overflow="drop_oldest")
    ring.write(ramp(0, 6))
    ring.write(ramp(6, 5))
    assert (ring.dropped, ring.consumed, len(ring)) == (3, 3, 8)
    np.testing.assert_array_equal(ring.read(8, advance=0), ramp(3, 8))
    ring.write(ramp(11, 21))    # larger than the ring: only the newest 8 stay
    assert (ring.written, ring.consumed, ring.dropped) == (32, 24, 24)
    np.testing.assert_array_equal(ring.read(100), ramp(24, 8))
    ring.write(ramp(32, 8))
    assert ring.dropped == 24   # consumed samples are never counted as dropped


def test_windows_overlap_and_positions_are_timestamps():
    ring = AudioRing(1000)
    ring.write(ramp(0, 800))
    # Windows of 400 with a 160 hop, as a framing consumer reads them.
    for k in range(3):
        start = ring.consumed
        assert start == 160 * k
        np.testing.assert_array_equal(ring.read(400, advance=160), ramp(start, 400))
    assert len(ring) == 800 - 480
    # read(0, advance=k) discards; advance=0 only peeks; a short ring returns what it has.
    assert ring.read(0, advance=20).size == 0
    np.testing.assert_array_equal(ring.read(5, advance=0), ramp(500, 5))
    np.testing.assert_array_equal(ring.read(1000), ramp(500, 300))
    assert ring.read(10).size == 0
    assert (ring.written, ring.consumed) == (800, 800)


def test_wraparound_keeps_every_sample_in_order():
    rng = np.random.default_rng(3)
    ring = AudioRing(97)
    written = read = 0
    for _ in range(3000):
        n = int(rng.integers(0, 97 - len(ring) + 1))
        ring.write(ramp(written, n))
        written += n
        got = ring.read(int(rng.integers(0, 98)), advance=int(rng.integers(0, 98)))
        np.testing.assert_array_equal(got, ramp(read, got.size))
        read = ring.consumed
    assert ring.written == written and len(ring) == written - read


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="capacity must be a positive integer, got 0"):
        AudioRing(0)
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        AudioRing(10.5)
    with pytest.raises(ValueError, match="overflow must be 'error' or 'drop_oldest', got 'block'"):
        AudioRing(10, overflow="block")
    ring = AudioRing(10)
    with pytest.raises(ValueError, match=r"expected 1-D samples, got shape \(2, 2\)"):
        ring.write(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must not be negative"):
        ring.read(-1)
    ring.write(np.array([0.25, 0.5]))       # float64 is converted
    assert ring.read(2).dtype == np.float32


def test_producer_and_consumer_threads():
    """Writes release the GIL; the consumer must see every sample once, in order."""
    total, ring = 400_000, AudioRing(4096)
    errors: list[str] = []

    def produce() -> None:
        rng = np.random.default_rng(5)
        sent = 0
        while sent < total:
            n = min(int(rng.integers(1, 800)), total - sent)
            try:
                ring.write(ramp(sent, n))
                sent += n
            except RingOverflowError:
                threading.Event().wait(0.0001)

    thread = threading.Thread(target=produce)
    thread.start()
    received = 0
    while received < total and not errors:
        window = ring.read(1500, advance=1000)
        if window.size == 0:
            continue
        if not np.array_equal(window, ramp(received, window.size)):
            errors.append(f"window at {received} is not the ramp")
        received = ring.consumed
    thread.join()
    assert not errors
    assert (ring.written, ring.consumed, ring.dropped) == (total, total, 0)
