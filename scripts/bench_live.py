#!/usr/bin/env python3
"""Live pipeline benchmark: real audio over N concurrent real-time sessions.

Starts ``lumen serve`` as a subprocess on a free loopback port, streams the
test recordings at real-time pace over N concurrent sessions, and prints:

Each of the N streams plays every file once, as one session per file.

* final latency p50/p95 — from the moment the last audio sample of a segment
  (its ``end``) was sent to the arrival of its final;
* word latency p50/p95 — the same for every word of every final (from the
  moment its last sample was sent): how long a word said stays unfinal, which
  does not depend on how the words are grouped into finals;
* partial cadence — median seconds between consecutive partials of a segment;
* streaming WER, and one-shot WER of the same files (bare whisper.cpp);
* server CPU seconds per audio second (RTF), CPU %, peak RSS;
* the bare whisper.cpp time for the same audio, so the overhead is a ratio.

Usage::

    python scripts/bench_live.py --sessions 1,2,4 [--files jfk.wav,sample.wav] [--model tiny.en]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np

from live_server import SECRET, live_server  # scripts/ is on sys.path when run as a script
from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.models import resolve_model
from lumen.audio.resampler import resample
from lumen.auth import mint_token
from lumen.client import (Closed, LumenClient, ServerError, SessionEnded, Transcript,
                          wav_bytes_per_second)

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
CHUNK_SECONDS = 0.1


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def read_audio(name: str) -> np.ndarray:
    """A test recording as 16 kHz mono float32 (resampled if need be)."""
    with wave.open(str(TESTDATA / name)) as wav:
        audio = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        return resample(audio, wav.getframerate())


def reference_text(name: str) -> str:
    """A recording's reference words, from its .txt, .jsonl (AMI) or .stm file."""
    stem = name.rsplit(".", 1)[0]
    if (TESTDATA / f"{stem}.txt").exists():
        return (TESTDATA / f"{stem}.txt").read_text()
    if (TESTDATA / f"{stem}.jsonl").exists():
        turns = [json.loads(line) for line in (TESTDATA / f"{stem}.jsonl").read_text().splitlines() if line]
        return " ".join(turn["text"] for turn in sorted(turns, key=lambda turn: turn["start"]))
    lines = (TESTDATA / f"{stem}.stm").read_text().splitlines()
    rows = sorted((float(l.split()[3]), " ".join(l.split()[5:])) for l in lines if l.strip())
    return " ".join(text for _, text in rows)


@dataclass
class SessionResult:
    latencies: list[float] = field(default_factory=list)
    word_latencies: list[float] = field(default_factory=list)
    cadences: list[float] = field(default_factory=list)
    text: str = ""
    audio_seconds: float = 0.0
    sent_seconds: float = 0.0
    close_code: int | None = None
    errors: list[str] = field(default_factory=list)


async def run_session(url: str, name: str) -> SessionResult:
    data = (TESTDATA / name).read_bytes()
    rate = wav_bytes_per_second(data)
    client = await LumenClient.connect(url, mint_token(SECRET, sub=f"bench-{os.getpid()}-{id(data)}"))
    result = SessionResult()
    sent_at: list[tuple[float, float]] = []  # (audio seconds covered, wall time sent)
    header = data.find(b"data") + 8  # the test WAVs are PCM with the data chunk last

    async def send() -> None:
        chunk = int(rate * CHUNK_SECONDS)
        began = time.monotonic()
        await client.send_audio(data[:header])
        for i, offset in enumerate(range(header, len(data), chunk)):
            await client.send_audio(data[offset:offset + chunk])
            sent_at.append(((offset + chunk - header) / rate, time.monotonic()))
            await asyncio.sleep(max(0.0, began + (i + 1) * CHUNK_SECONDS - time.monotonic()))
        result.sent_seconds = (len(data) - header) / rate
        await client.end()

    def sent_by(audio_time: float) -> float | None:
        """Wall time at which the audio up to ``audio_time`` had been sent."""
        return next((t for covered, t in sent_at if covered >= audio_time), None)

    sender = asyncio.ensure_future(send())
    last_partial: dict[int, float] = {}
    finals: list[str] = []
    async for event in client.events():
        now = time.monotonic()
        if isinstance(event, Transcript) and not event.is_final:
            if event.segment_id in last_partial:
                result.cadences.append(now - last_partial[event.segment_id])
            last_partial[event.segment_id] = now
        elif isinstance(event, Transcript) and event.text:
            finals.append(event.text)
            sent = sent_by(event.end)
            if sent is not None:
                result.latencies.append(now - sent)
            result.word_latencies.extend(now - t for t in map(sent_by, (w.end for w in event.words))
                                         if t is not None)
        elif isinstance(event, SessionEnded):
            result.audio_seconds = event.audio_seconds
        elif isinstance(event, ServerError):
            result.errors.append(event.code)
        elif isinstance(event, Closed):
            result.close_code = event.code
    await sender
    result.text = " ".join(finals)
    return result


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bare_whisper(model: str, files: list[str], threads: int) -> tuple[float, float, dict[str, str]]:
    """One-shot whisper.cpp over each file: (seconds, audio seconds, texts)."""
    engine = WhisperEngine(resolve_model(model), contexts=1, threads=threads)
    total, audio_total, texts = 0.0, 0.0, {}
    try:
        for name in files:
            audio = read_audio(name)
            began = time.perf_counter()
            texts[name] = engine.transcribe(audio, DecodeOptions()).text
            total += time.perf_counter() - began
            audio_total += audio.size / 16000
    finally:
        engine.close()
    return total, audio_total, texts


async def run_level(url: str, files: list[str], sessions: int) -> list[tuple[str, SessionResult]]:
    """``sessions`` concurrent streams; each plays every file once, one session per
    file, in its own rotated order (so every level measures all the files)."""

    async def stream(rotation: int) -> list[tuple[str, SessionResult]]:
        names = files[rotation % len(files):] + files[:rotation % len(files)]
        return [(name, await run_session(url, name)) for name in names]

    streams = await asyncio.gather(*(stream(i) for i in range(sessions)))
    return [pair for played in streams for pair in played]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,2,4", help="comma-separated concurrency levels")
    parser.add_argument("--files", default="jfk.wav,sample.wav")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    files = args.files.split(",")
    levels = [int(n) for n in args.sessions.split(",")]

    bare_seconds, bare_audio, bare_texts = bare_whisper(args.model, files, args.threads)
    one_shot = {f: jiwer.wer(normalize(reference_text(f)), normalize(bare_texts[f])) for f in files}

    with live_server("--model", args.model, "--threads", str(args.threads)) as (url, server):
        rows = []
        for n in levels:
            cpu0, _ = proc_stats(server.pid)
            wall0 = time.monotonic()
            results = asyncio.run(run_level(url, files, n))
            wall = time.monotonic() - wall0
            cpu1, rss = proc_stats(server.pid)
            latencies = [x for _, r in results for x in r.latencies]
            word_latencies = [x for _, r in results for x in r.word_latencies]
            cadences = [x for _, r in results for x in r.cadences]
            audio = sum(r.audio_seconds for _, r in results)
            by_file: dict[str, list[float]] = {}
            latency_by_file: dict[str, list[float]] = {}
            for name, r in results:
                by_file.setdefault(name, []).append(
                    jiwer.wer(normalize(reference_text(name)), normalize(r.text)))
                latency_by_file.setdefault(name, []).extend(r.latencies)
            stream_wer = statistics.mean(w for ws in by_file.values() for w in ws)
            per_file = " / ".join(f"{statistics.mean(by_file[f]):.3f}" for f in files)
            p50_per_file = " / ".join(f"{percentile(latency_by_file[f], 50):.2f}" for f in files)
            same_files_wer = statistics.mean(one_shot[name] for name, _ in results)
            rows.append((n, percentile(latencies, 50), p50_per_file, percentile(latencies, 95),
                         percentile(word_latencies, 50), percentile(word_latencies, 95),
                         statistics.median(cadences) if cadences else float("nan"),
                         stream_wer, per_file, same_files_wer, (cpu1 - cpu0) / audio,
                         100 * (cpu1 - cpu0) / wall, rss / 2**20))

    print(f"\nmodel {args.model}, {args.threads} threads, files {', '.join(files)}, "
          f"chunks of {CHUNK_SECONDS * 1000:.0f} ms at real-time pace\n")
    print(f"bare whisper.cpp one-shot: {bare_seconds:.2f} s for {bare_audio:.1f} s of audio "
          f"(RTF {bare_seconds / bare_audio:.3f}); one-shot WER "
          + ", ".join(f"{f} {w:.3f}" for f, w in one_shot.items()) + "\n")
    header = ("sessions", "final p50 s", "p50 per file", "final p95 s", "word p50 s", "word p95 s",
              "partial every s", "stream WER",
              "per file (" + " / ".join(files) + ")",
              "one-shot WER", "server RTF", "vs bare", "CPU %", "RSS MiB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for n, p50, p50_per_file, p95, w50, w95, cadence, swer, per_file, owr, rtf, cpu, rss in rows:
        print(f"{n} | {p50:.3f} | {p50_per_file} | {p95:.3f} | {w50:.2f} | {w95:.2f} | {cadence:.2f} | {swer:.3f} | {per_file} | {owr:.3f} | "
              f"{rtf:.3f} | {rtf / (bare_seconds / bare_audio):.2f}x | {cpu:.0f} | {rss:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
