"""Run ``lumen serve`` as a subprocess on a free loopback port (for benchmarks and evaluations)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from typing import Iterator

SECRET = "script-secret-" + "z" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(*flags: str, timeout: float = 120.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yields ``(ws_url, process)``; tokens are minted with :data:`SECRET`."""
    port = free_port()
    env = dict(os.environ, LUMEN_JWT_SECRET=SECRET, LUMEN_MAX_SESSIONS_PER_USER="64",
               LUMEN_MAX_SESSIONS="64")
    process = subprocess.Popen([sys.executable, "-m", "lumen.cli", "serve", "--log-level", "WARNING",
                                "--host", "127.0.0.1", "--port", str(port), *flags], env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("lumen serve did not start")
                time.sleep(0.2)
        yield f"ws://127.0.0.1:{port}/ws/transcribe", process
    finally:
        process.terminate()
        process.wait(60)
