"""Support for end-to-end tests: a real Lumen server on loopback, in its own thread and IOLoop.

Clients in the tests are real WebSocket clients (``lumen.client``) running in
the test's own event loop; only the model is shared between servers, to load
it once per test run.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from lumen.asr.engine import WhisperEngine
from lumen.client import Event, LumenClient, SpeakersUpdated, Transcript, fetch_transcript, stream_file
from lumen.config import Settings
from lumen.diarization import Diarizer
from lumen.server.app import build_context, make_app
from lumen.server.context import ServerContext

SECRET = "e2e-secret-" + "x" * 32


class LiveServer:
    """Runs the app on 127.0.0.1:<free port> until :meth:`stop`."""

    def __init__(self, settings: Settings, engine: WhisperEngine, diarizer: Diarizer | None) -> None:
        self.settings = settings
        self.engine = engine
        self.diarizer = diarizer
        self.context: ServerContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lumen-test-server", daemon=True)
        sock, self.port = bind_unused_port()
        self._sock = sock

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/transcribe"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self.context = build_context(self.settings, engine=self.engine, diarizer=self.diarizer)
        self._server = HTTPServer(make_app(self.context))
        self._server.add_sockets([self._sock])
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def start(self) -> "LiveServer":
        self._thread.start()
        assert self._ready.wait(30), "server did not start"
        return self

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's loop and return its result (for inspecting state)."""
        assert self._loop is not None
        future: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(_call(fn), self._loop)
        return future.result(10)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no session is open any more."""
        deadline = time.monotonic() + timeout
        while self.call(lambda: self.context.limits.active) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._server.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _call(fn: Any) -> Any:
    return fn()


def speak(sentences: list[str], directory: Path) -> bytes:
    """The sentences spoken by Debian's espeak-ng (synthetic speech: there is no recorded
    clinical speech in the test data), as one WAV with a second of silence around each."""
    if shutil.which("espeak-ng") is None:
        raise AssertionError("espeak-ng is missing: scripts/setup_env.sh test installs it")
    parts, rate = [], 22050
    for i, sentence in enumerate(sentences):
        path = directory / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), sentence], check=True)
        audio, rate = read_wav(path)
        parts += [np.zeros(rate, np.float32), audio]
    return wav_bytes(np.concatenate(parts + [np.zeros(rate, np.float32)]), rate)


def pcm_s16(audio: np.ndarray) -> bytes:
    """float32 samples (interleaved if several channels) as raw 16-bit little-endian PCM."""
    return np.clip(audio * 32768, -32768, 32767).astype("<i2").tobytes()


def wav_bytes(audio: np.ndarray, rate: int, channels: int = 1) -> bytes:
    """float32 samples (frames × channels) as a 16-bit WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm_s16(audio))
    return buffer.getvalue()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        return data, wav.getframerate()


async def collect(client: LumenClient) -> list[Event]:
    """Every event of a session until the connection closes."""
    return [event async for event in client.events()]


async def stream_session(url: str, token: str, data: bytes, bytes_per_second: float,
                         options: dict[str, Any] | None = None, chunk_seconds: float = 1.0,
                         realtime: bool = False) -> tuple[LumenClient, list[Event]]:
    """Open a session, stream ``data``, send ``end``, return every event."""
    client = await LumenClient.connect(url, token, options)
    receiver = asyncio.ensure_future(collect(client))
    await stream_file(client, data, bytes_per_second, chunk_seconds, realtime)
    await client.end()
    events = await asyncio.wait_for(receiver, 120)
    return client, events


def fetch(server: LiveServer, session_id: str, token: str) -> dict[str, Any]:
    """The stored transcript of a session (``GET /v1/sessions/{id}/transcript``)."""
    return asyncio.run(fetch_transcript(server.url, session_id, token))


def wait_ended(server: LiveServer, session_id: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
    """The stored session once its connection has ended (a closed client's audio still finishes)."""
    deadline = time.monotonic() + timeout
    while (stored := fetch(server, session_id, token))["status"] != "ended":
        assert time.monotonic() < deadline, stored
        time.sleep(0.1)
    return stored


async def stream_resumed(url: str, token: str, session_id: str, audio: np.ndarray, rate: int,
                         bytes_per_second: float) -> tuple[LumenClient, list[Event]]:
    """Resume ``session_id``, stream ``audio`` (the whole recording, mono at ``rate``) from the
    ``audio_offset`` the server gives, send ``end``; every event of the resumed connection."""
    client = await LumenClient.connect(url, token, {"resume": session_id})
    offset = client.started["resumed_from"]["audio_offset"]
    receiver = asyncio.ensure_future(collect(client))
    await stream_file(client, wav_bytes(audio[int(offset * rate):], rate), bytes_per_second, 0.5)
    await client.end()
    return client, await asyncio.wait_for(receiver, 120)


def final_speakers(events: list[Event]) -> dict[int, str | None]:
    """segment_id -> speaker of each final with text, after every ``speakers.updated`` correction."""
    speakers = {e.segment_id: e.speaker for e in finals(events) if e.text}
    for event in events:
        if isinstance(event, SpeakersUpdated):
            speakers.update(event.labels)
    return speakers


def finals(events: list[Event]) -> list[Transcript]:
    return [e for e in events if isinstance(e, Transcript) and e.is_final]


def final_text(events: list[Event]) -> str:
    return " ".join(e.text for e in finals(events) if e.text)


def normalize(text: str) -> str:
    """Lower-case, punctuation stripped, single spaces (for WER)."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalize(reference), normalize(hypothesis))


def handshake(server: LiveServer, query: str = "", headers: dict[str, str] | None = None):
    """A raw WebSocket upgrade request; returns (status, response, json body or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    all_headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    all_headers.update(headers or {})
    connection.request("GET", "/ws/transcribe" + query, headers=all_headers)
    response = connection.getresponse()
    body = response.read() if response.status != 101 else b""
    connection.close()
    return response.status, response, json.loads(body) if body else None
