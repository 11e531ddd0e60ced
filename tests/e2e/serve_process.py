"""``lumen serve`` as a real subprocess: for tests of the command itself (workers, signals, TLS).

Most end-to-end tests run the app in a thread (support.py); these start the
installed ``lumen`` command, as an operator would, with the test model and
no diarization (to start fast).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from support import SECRET
from tornado.testing import bind_unused_port

#: Seconds a server may take to import, load its model and answer /readyz on a loaded machine.
START_SECONDS = 180
LUMEN = str(Path(sys.executable).with_name("lumen"))


def free_port() -> int:
    sock, port = bind_unused_port()
    sock.close()
    return port


def run_lumen(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
              **kwargs) -> subprocess.CompletedProcess:
    """Run ``lumen ARGS`` to its end (text output captured)."""
    return subprocess.run([LUMEN, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kwargs)


class ServeProcess:
    """``lumen serve --host 127.0.0.1 --port <free>`` with the test model; see :meth:`start`."""

    def __init__(self, model: Path, workdir: Path, *args: str, port: int | None = None,
                 tls_ca: Path | None = None, diarization: bool = False) -> None:
        self.port = port or free_port()
        self.tls_ca = tls_ca
        self.args = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--model", str(model),
                     *([] if diarization else ["--no-diarization"]), "--threads", "2", *args]
        self.stderr_path = workdir / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"{'https' if self.tls_ca else 'http'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls_ca else 'ws'}://127.0.0.1:{self.port}/ws/transcribe"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def start(self) -> "ServeProcess":
        """Start the server and wait until /readyz answers 200."""
        return self.launch().wait_ready()

    def launch(self) -> "ServeProcess":
        """Start the server process (several can load at once); then :meth:`wait_ready`."""
        with self.stderr_path.open("w") as log:
            # Its own process group, so that a stuck server and its workers can all be killed.
            self.process = subprocess.Popen([LUMEN, *self.args], stdout=subprocess.DEVNULL, stderr=log,
                                            env={**os.environ, "LUMEN_JWT_SECRET": SECRET},
                                            start_new_session=True)
        return self

    def wait_ready(self) -> "ServeProcess":
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"lumen serve exited:\n{self.stderr}"
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:  # not listening yet, or listening but still loading (timeout)
                pass
            time.sleep(0.2)
        raise AssertionError(f"lumen serve never became ready:\n{self.stderr}")

    def get(self, path: str) -> tuple[int, bytes]:
        """A GET on the server: (status, body)."""
        context = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else None
        try:
            with urllib.request.urlopen(self.http + path, timeout=10, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 120) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it does not exit (the test then fails on its own checks)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def json_logs(self) -> list[dict]:
        """Every standard-error line, each parsed as a JSON object (fails on any other line)."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.strip()]
