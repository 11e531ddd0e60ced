#!/usr/bin/env python
"""What storing a final costs, and why store writes run on their own thread.

  python scripts/bench_store.py [--finals 300] [--postgres]

For each backend (an SQLite file in WAL mode with synchronous=FULL, and with
--postgres a throw-away local PostgreSQL cluster from Debian's package), it
commits --finals realistic final messages (20 words, ~1.6 KB) one after the
other, as a session does, in two ways:

  inline  the commit runs on the IOLoop (what Lumen does not do);
  thread  the commit runs on the store's worker thread and the IOLoop awaits it
          (what Lumen does: lumen/store/worker.py);
  none    no commit at all: the timer's lateness from the machine alone (the reference).

Columns: the commit latency a final waits before it is sent (p50/p95/max),
and how late a 1 ms timer on the IOLoop fires meanwhile (p99/max): every
session's audio, partials and finals wait that long.
Performance claims live here, never in tests: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lumen.store import SessionRecord, StoredFinal, open_store, parse_database_url  # noqa: E402
from lumen.store.worker import StoreWorker  # noqa: E402

SESSION = "b" * 32


def message(segment_id: int) -> str:
    words = [{"text": f"word{i}", "start": segment_id * 5 + i * 0.2, "end": segment_id * 5 + i * 0.2 + 0.15,
              "confidence": 0.9} for i in range(20)]
    return json.dumps({"type": "transcript", "session_id": SESSION, "segment_id": segment_id,
                       "is_final": True, "text": " ".join(w["text"] for w in words),
                       "start": words[0]["start"], "end": words[-1]["end"], "speaker": "S1",
                       "words": words, "language": "en", "lag": 0.1})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, mode: str, count: int) -> tuple[list[float], list[float]]:
    """Commit ``count`` finals; (commit latencies, timer delays), in seconds."""
    location = parse_database_url(url)
    worker = StoreWorker(location)
    inline = open_store(location) if mode == "inline" else None
    await worker.call(lambda s: s.create_session(SessionRecord(SESSION, "bench", "tiny.en", {}, time.time())))
    delays: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            began = time.perf_counter()
            await asyncio.sleep(0.001)
            delays.append(time.perf_counter() - began - 0.001)

    tick = asyncio.ensure_future(ticker())
    latencies = []
    for segment_id in range(count):
        final = StoredFinal.from_message(message(segment_id))
        began = time.perf_counter()
        if inline is not None:
            inline.add_final(SESSION, final)
        elif mode == "none":
            pass
        else:
            await worker.call(lambda s, f=final: s.add_final(SESSION, f))
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(0.002)  # the loop does other work between finals
    running = False
    await tick
    if inline is not None:
        inline.close()
    worker.close()
    return latencies, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--finals", type=int, default=300)
    parser.add_argument("--postgres", action="store_true",
                        help="also measure a throw-away local PostgreSQL cluster")
    args = parser.parse_args()
    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        backends = []
        if args.postgres:
            from store_support import PostgresCluster

            cluster = PostgresCluster().start()
            backends.append(("postgresql (local socket)", cluster))
        print(f"{args.finals} finals per run\n")
        print("| backend | mode | commit p50 ms | commit p95 ms | commit max ms | IOLoop timer late p99 ms | max ms |")
        print("|---|---|---|---|---|---|---|")
        try:
            for mode in ("none", "inline", "thread"):
                runs = [("sqlite (WAL, synchronous=FULL)", f"sqlite:{tmp}/{mode}.sqlite3")]
                if mode != "none":
                    runs += [(name, c.create_database()) for name, c in backends]
                for name, url in runs:
                    latencies, delays = asyncio.run(run(url, mode, args.finals))
                    name = "(no store)" if mode == "none" else name
                    ms = [1000 * x for x in latencies]
                    late = [1000 * x for x in delays]
                    print(f"| {name} | {mode} | {statistics.median(ms):.2f} | {percentile(ms, 0.95):.2f} | "
                          f"{max(ms):.2f} | {percentile(late, 0.99):.2f} | {max(late):.2f} |", flush=True)
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
