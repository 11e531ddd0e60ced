"""Memory of `lumen serve --workers 2`: the supervisor and each worker, idle and after a session.

Starts the real command on a free loopback port (with and without diarization),
reads RSS, peak RSS (VmHWM) and PSS from /proc, streams one recording through a
worker, reads them again, and prints a table (the figures in docs/deployment.md).

    python scripts/bench_memory.py [--model tiny.en] [--audio ../shared/testdata/sample.wav]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lumen.auth import mint_token
from lumen.client import LumenClient, wav_bytes_per_second

ROOT = Path(__file__).resolve().parents[1]


def memory(pid: int) -> dict[str, int]:
    """RSS, VmHWM and PSS of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) // 1024
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            values["Pss"] = int(line.split()[1]) // 1024
    return values


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def session(url: str, token: str, data: bytes) -> None:
    client = await LumenClient.connect(url, token)
    await client.send_audio(data)
    await client.end()
    async for _ in client.events():
        pass


def measure(model: str, audio: Path, diarization: bool) -> list[tuple[str, str, dict[str, int]]]:
    secret = secrets.token_urlsafe(48)
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("lumen")), "serve", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "2", "--model", model,
         "--diarization" if diarization else "--no-diarization", "--log-format", "text"],
        stderr=log, env={**os.environ, "LUMEN_JWT_SECRET": secret})
    rows = []
    try:
        while Path(log.name).read_text().count(" ready (model ") < 2:  # each worker says so
            assert process.poll() is None, Path(log.name).read_text()
            time.sleep(0.5)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=60).read()
        label = "with diarization" if diarization else "no diarization"
        rows.append(("supervisor", label, memory(process.pid)))
        workers = children(process.pid)
        rows += [(f"worker {n}, idle", label, memory(pid)) for n, pid in enumerate(workers, 1)]
        data = audio.read_bytes()
        wav_bytes_per_second(data)  # fails early on a non-PCM WAV
        asyncio.run(session(f"ws://127.0.0.1:{port}/ws/transcribe", mint_token(secret, "bench"), data))
        busiest = max(workers, key=lambda pid: memory(pid)["VmHWM"])
        rows.append((f"worker after a {audio.name} session", label, memory(busiest)))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--audio", type=Path, default=ROOT / ".." / "shared" / "testdata" / "sample.wav")
    args = parser.parse_args()
    rows = measure(args.model, args.audio, False) + measure(args.model, args.audio, True)
    print("| process | setting | RSS MB | peak RSS MB | PSS MB |\n|---|---|---|---|---|")
    for name, label, values in rows:
        print(f"| {name} | {label} | {values['VmRSS']} | {values['VmHWM']} | {values['Pss']} |")


if __name__ == "__main__":
    main()
