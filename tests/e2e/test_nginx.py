"""Real nginx (Debian's) in front of two ``lumen serve`` processes, configured from docs/deployment.md.

The nginx block of the deployment doc is the single source: this test takes
it verbatim and only swaps its example addresses, ports and file paths for
loopback ones (each swap must match exactly once, so the doc cannot drift
away from what is tested).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serve_process import ServeProcess, free_port
from support import SECRET, collect, final_text, finals, read_wav, stream_session, wav_bytes
from test_tls import Pki, pki  # noqa: F401 (pki is a fixture)

from lumen.auth import mint_token
from lumen.client import Closed, LumenClient, ServerError

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
START_SECONDS = 60


def documented_config() -> str:
    """The ```nginx block after the marker in docs/deployment.md."""
    text = DOC.read_text()
    marker = text.index("<!-- nginx-config")
    match = re.compile(r"```nginx\n(.*?)```", re.S).search(text, marker)
    assert match, "docs/deployment.md has the nginx block after its marker"
    return match.group(1)


def swap(config: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert config.count(old) == 1, f"{old!r} occurs once in the documented config"
        config = config.replace(old, new)
    return config


@dataclass
class Proxy:
    http_port: int
    https_port: int
    backends: list[ServeProcess]
    workdir: Path

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws/transcribe"

    @property
    def wss(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ws/transcribe"

    @property
    def access_log(self) -> str:
        return (self.workdir / "lumen-access.log").read_text()


def get(port: int, path: str, source: str = "127.0.0.1") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def sessions_started(backend: ServeProcess) -> float:
    status, body = backend.get("/metrics")
    assert status == 200
    return next(sample.value for family in text_string_to_metric_families(body.decode())
                for sample in family.samples if sample.name == "lumen_sessions_started_total")


@pytest.fixture(scope="module")
def proxy(tiny_model, pki: Pki, tmp_path_factory) -> Iterator[Proxy]:  # noqa: F811
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.access(nginx, os.X_OK), "install Debian's nginx (setup_env.sh test)"
    workdir = tmp_path_factory.mktemp("nginx")
    backends = [ServeProcess(tiny_model, workdir, "--proxy-headers").launch() for _ in range(2)]
    http_port, https_port = free_port(), free_port()
    site = swap(documented_config(), {
        "server 10.0.0.11:8000": f"server 127.0.0.1:{backends[0].port}",
        "server 10.0.0.12:8000": f"server 127.0.0.1:{backends[1].port}",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/ssl/lumen/fullchain.pem": str(pki.cert),
        "/etc/ssl/lumen/privkey.pem": str(pki.key),
        "/var/log/nginx/lumen-access.log": str(workdir / "lumen-access.log"),
    })
    temp_paths = "\n".join(f"    {kind}_temp_path {workdir / kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} info;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n{temp_paths}\n{site}\n}}\n")
    command = [nginx, "-p", str(workdir), "-e", str(workdir / "error.log"),
               "-c", str(workdir / "nginx.conf")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen([*command, "-g", "daemon off;"])
    try:
        for backend in backends:
            backend.wait_ready()
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if get(http_port, "/healthz") == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.2)
        yield Proxy(http_port, https_port, backends, workdir)
    finally:
        server.send_signal(signal.SIGQUIT)  # graceful
        server.wait(30)
        for backend in backends:
            backend.stop()


def test_sessions_through_nginx_over_ws_and_wss_spread_over_both_servers(proxy, pki, testdata):  # noqa: F811
    audio, rate = read_wav(testdata / "jfk.wav")
    data = wav_bytes(audio, rate)
    token = mint_token(SECRET, sub="proxied")

    async def two_sessions():
        # Both open at once: least_conn sends the second to the other server.
        first = await LumenClient.connect(proxy.wss, token, cafile=str(pki.ca))
        second = await LumenClient.connect(proxy.ws, token, token_in_query=True)
        results = []
        for client in (first, second):
            receiver = asyncio.ensure_future(collect(client))
            await client.send_audio(data)
            await client.end()
            results.append(await asyncio.wait_for(receiver, 120))
        return results

    for events in asyncio.run(two_sessions()):
        assert "country" in final_text(events).lower()
        assert isinstance(events[-1], Closed) and events[-1].code == 1000
    assert [sessions_started(backend) for backend in proxy.backends] == [1, 1]

    assert get(proxy.http_port, "/metrics") == 403, "metrics are scraped from each server"
    assert get(proxy.http_port, "/", source="127.0.0.2") == 200
    deadline = time.monotonic() + 30  # the access line is written just after the response
    while not any("(127.0.0.2)" in backend.stderr for backend in proxy.backends):
        assert time.monotonic() < deadline, \
            "with --proxy-headers the server logs the client's address, not nginx's"
        time.sleep(0.1)
    log = proxy.access_log
    assert '"GET /ws/transcribe HTTP/1.1" 101' in log
    assert token not in log and token.split(".")[2] not in log


def test_rolling_restart_behind_nginx(proxy, testdata):
    """SIGTERM the server holding a session: the client gets its finals and 1001 through
    nginx, and the next session goes to the other server."""
    audio, rate = read_wav(testdata / "jfk.wav")
    token = mint_token(SECRET, sub="restart")
    head = wav_bytes(audio[: 5 * rate], rate)

    async def interrupted():
        client = await LumenClient.connect(proxy.ws, token)
        receiver = asyncio.ensure_future(collect(client))
        await client.send_audio(head)
        holding = [b for b in proxy.backends
                   if b"lumen_sessions_active 1.0" in (await asyncio.to_thread(b.get, "/metrics"))[1]]
        assert len(holding) == 1
        holding[0].signal(signal.SIGTERM)
        return holding[0], await asyncio.wait_for(receiver, 120)

    stopped, events = asyncio.run(interrupted())
    assert stopped.wait() == 0
    assert finals(events) and "fellow americans" in final_text(events).lower()
    assert [e.code for e in events if isinstance(e, ServerError)] == ["server_shutdown"]
    assert isinstance(events[-1], Closed) and events[-1].code == 1001

    _, events = asyncio.run(stream_session(proxy.ws, token, wav_bytes(audio, rate), rate * 2))
    assert "country" in final_text(events).lower() and events[-1].code == 1000
