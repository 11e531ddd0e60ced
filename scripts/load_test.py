#!/usr/bin/env python3
"""Load and soak test: N concurrent real-time sessions of real audio for M minutes.

Starts ``lumen serve`` as a subprocess on a free loopback port.  Each of N
streams opens sessions back to back, each playing one test recording at
real-time pace in 100 ms chunks (the files in turn), until M minutes have
passed; then the streams finish their current file and stop.  Reported:

* handshakes attempted / accepted;
* final latency p50/p95/p99 (from sending a final's last audio to receiving it);
* partial cadence (median seconds between partials of a segment);
* errors by close code (anything but 1000) and sessions that lost audio
  (``session.ended.audio_seconds`` ≠ audio sent);
* server CPU (% of one core) and RSS sampled every few seconds.

Modes::

    python scripts/load_test.py --sessions 4 --minutes 2           # one load level
    python scripts/load_test.py --find-max --minutes 1             # N = 1, 2, 3 ... until a level fails
    python scripts/load_test.py --soak --sessions 3 --minutes 10   # RSS growth over a long run

A level *passes* with zero errors, zero lost audio and final p95 ≤ ``--p95``
(default 1.5 s).  ``--soak`` reports RSS growth from the end of the first
minute (model, diarizer and allocator warm) to the end, and passes below 5 %.
Everything stops by itself; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench_live import SessionResult, percentile, proc_stats, run_session  # scripts/ is on sys.path
from live_server import live_server

from lumen.client import ClientError

SAMPLE_EVERY = 5.0  # seconds between RSS/CPU samples


@dataclass
class LevelResult:
    sessions: int
    minutes: float
    handshakes: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    results: list[SessionResult] = field(default_factory=list)
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    """(seconds since start, server CPU seconds, RSS bytes)."""

    @property
    def latencies(self) -> list[float]:
        return [x for r in self.results for x in r.latencies]

    @property
    def errors(self) -> Counter[str]:
        counts: Counter[str] = Counter(f"refused {reason}" for reason in self.refused.elements())
        for r in self.results:
            if r.close_code != 1000:
                counts[f"{r.close_code} {','.join(r.errors) or 'no error message'}"] += 1
        return counts

    @property
    def lost(self) -> int:
        """Sessions whose server-side audio total differs from what was sent."""
        return sum(1 for r in self.results if r.close_code == 1000
                   and abs(r.audio_seconds - r.sent_seconds) > 0.001)

    def passes(self, p95_target: float) -> bool:
        return not self.errors and not self.lost and percentile(self.latencies, 95) <= p95_target


class Sampler:
    """Samples the server's CPU time and RSS every :data:`SAMPLE_EVERY` seconds in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = time.monotonic()

    def _run(self) -> None:
        while True:
            cpu, rss = proc_stats(self.pid)
            self.samples.append((time.monotonic() - self._began, cpu, rss))
            if self._stop.wait(SAMPLE_EVERY):
                cpu, rss = proc_stats(self.pid)
                self.samples.append((time.monotonic() - self._began, cpu, rss))
                return

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def run_level(url: str, files: list[str], sessions: int, minutes: float) -> LevelResult:
    level = LevelResult(sessions, minutes)
    deadline = time.monotonic() + minutes * 60

    async def stream(index: int) -> None:
        turn = index
        while time.monotonic() < deadline:
            name = files[turn % len(files)]
            turn += 1
            level.handshakes += 1
            try:
                level.results.append(await run_session(url, name))
            except ClientError as exc:
                level.refused[exc.code or str(exc.status)] += 1
                await asyncio.sleep(1.0)

    await asyncio.gather(*(stream(i) for i in range(sessions)))
    return level


def measure(url: str, pid: int, files: list[str], sessions: int, minutes: float) -> LevelResult:
    with Sampler(pid) as sampler:
        level = asyncio.run(run_level(url, files, sessions, minutes))
    level.samples = sampler.samples
    return level


def cpu_percent(level: LevelResult) -> float:
    (t0, c0, _), (t1, c1, _) = level.samples[0], level.samples[-1]
    return 100 * (c1 - c0) / (t1 - t0)


def print_levels(levels: list[LevelResult], p95_target: float) -> None:
    header = ("sessions", "minutes", "handshakes ok", "finals", "final p50 s", "p95 s", "p99 s",
              "partial every s", "errors by close code", "lost audio", "CPU %", "RSS MiB (max)",
              f"pass (p95 ≤ {p95_target} s)")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for level in levels:
        cadences = [x for r in level.results for x in r.cadences]
        latencies = level.latencies
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(level.errors.items())) or "none"
        print(f"{level.sessions} | {level.minutes:g} | {level.handshakes - sum(level.refused.values())}"
              f"/{level.handshakes} | {len(latencies)} | {percentile(latencies, 50):.2f} | "
              f"{percentile(latencies, 95):.2f} | {percentile(latencies, 99):.2f} | "
              f"{statistics.median(cadences) if cadences else float('nan'):.2f} | {errors} | "
              f"{level.lost} | {cpu_percent(level):.0f} | "
              f"{max(rss for *_, rss in level.samples) / 2**20:.0f} | "
              f"{'yes' if level.passes(p95_target) else 'no'}")


def print_soak(level: LevelResult) -> bool:
    """RSS per minute and the growth after the first minute; True when under 5 %."""
    print("\nminute | server RSS MiB | CPU % over the minute")
    print("--- | --- | ---")
    previous = level.samples[0]
    by_minute = []
    for t, cpu, rss in level.samples:
        if t - previous[0] >= 60 or (t, cpu, rss) == level.samples[-1]:
            by_minute.append((t, rss))
            print(f"{t / 60:.1f} | {rss / 2**20:.1f} | {100 * (cpu - previous[1]) / (t - previous[0]):.0f}")
            previous = (t, cpu, rss)
    warm = next((rss for t, rss in by_minute if t >= 60), by_minute[0][1])
    final = level.samples[-1][2]
    growth = 100 * (final - warm) / warm
    print(f"\nRSS after the first minute {warm / 2**20:.1f} MiB, at the end {final / 2**20:.1f} MiB: "
          f"growth {growth:+.1f} % ({'under' if growth < 5 else 'NOT under'} 5 %)")
    return growth < 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--find-max", action="store_true", help="raise N from 1 until a level fails")
    mode.add_argument("--soak", action="store_true", help="one long level; report RSS growth")
    parser.add_argument("--sessions", type=int, default=2, help="N (fixed level and soak)")
    parser.add_argument("--max-sessions", type=int, default=12, help="highest N tried by --find-max")
    parser.add_argument("--minutes", type=float, default=1.0, help="M, per level")
    parser.add_argument("--p95", type=float, default=1.5, help="final-latency p95 target in seconds")
    parser.add_argument("--files", default="jfk.wav,sample.wav")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    files = args.files.split(",")

    with live_server("--model", args.model, "--threads", str(args.threads)) as (url, server):
        levels: list[LevelResult] = []
        if args.find_max:
            for n in range(1, args.max_sessions + 1):
                levels.append(measure(url, server.pid, files, n, args.minutes))
                print_levels(levels[-1:], args.p95)
                if levels[-1].errors or levels[-1].lost or percentile(levels[-1].latencies, 95) > 10:
                    break  # past saturation: a higher N only fails harder
        else:
            levels.append(measure(url, server.pid, files, args.sessions, args.minutes))

    print(f"\nmodel {args.model}, {args.threads} threads, files {', '.join(files)}, "
          "100 ms chunks at real-time pace\n")
    print_levels(levels, args.p95)
    if args.find_max:
        passing = [level.sessions for level in levels if level.passes(args.p95)]
        clean = [level.sessions for level in levels if not level.errors and not level.lost]
        print(f"\nhighest N with p95 ≤ {args.p95} s and no errors: {max(passing) if passing else 'none'}; "
              f"highest N without errors or lost audio: {max(clean) if clean else 'none'}")
        return 0 if passing else 1
    if args.soak:
        return 0 if print_soak(levels[0]) and not levels[0].errors and not levels[0].lost else 1
    return 0 if levels[0].passes(args.p95) else 1


if __name__ == "__main__":
    sys.exit(main())
