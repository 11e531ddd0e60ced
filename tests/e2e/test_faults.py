"""Faults and losses: clients that stop reading or vanish, a failing worker, every second kept.

Real server, real model, real audio.  The one stand-in is the failing
worker: a whisper call cannot be made to raise on demand, so
:class:`FailingEngine` raises in an executor thread for the sessions that
ask for it (its only behaviour of its own), and passes every other call to
the real engine.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import struct
import time
from typing import Any

import numpy as np
import pytest
from support import (SECRET, LiveServer, collect, final_text, finals, read_wav, stream_session,
                     wav_bytes, wer)

from lumen.asr.engine import DecodeOptions, Transcription, WhisperEngine
from lumen.auth import mint_token
from lumen.client import Closed, LumenClient, ServerError, SessionEnded
from lumen.config import Settings


def session_lines(caplog, kind: str = "session") -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "lumen.session" and r.getMessage().startswith(kind)]


# -- a client that stops reading ---------------------------------------------
def masked_text_frame(payload: bytes) -> bytes:
    """One client → server text frame (clients must mask, RFC 6455 §5.3)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def test_a_client_that_stops_reading_is_cut_off(make_server, caplog):
    """Each bad text message earns an ``error`` reply; a client that sends many and
    reads none makes the server's unsent output grow until the limit drops it."""
    limit = 64 * 1024
    server = make_server(max_send_buffer=limit, diarization=False)
    caplog.set_level(logging.INFO)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the kernel holds little
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/transcribe?token={mint_token(SECRET, sub='stalled')} HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    frame = masked_text_frame(b"not json, and never read")
    sock.settimeout(30)
    sent = 0
    try:
        for _ in range(100_000):  # ~10 MB of error replies asked for
            sock.sendall(frame * 10)
            sent += 10
    except OSError:
        pass  # the server dropped us: what the test waits for
    sock.close()
    server.wait_idle()
    assert any("client_too_slow" in line for line in session_lines(caplog)), session_lines(caplog)
    slow = [r for r in caplog.records if r.getMessage().startswith("client does not read")]
    assert len(slow) == 1
    unsent = int(slow[0].getMessage().split(": ")[1].split()[0])
    assert limit < unsent < limit + 1024, "dropped as soon as the limit was passed"
    body = server.call(lambda: server.context.metrics.exposition(None)[0]).decode()
    assert 'lumen_session_errors_total{close_code="1008",code="client_too_slow"} 1.0' in body
    assert sent < 100_000 * 10, "the connection was dropped before the client was done"
    _, events = asyncio.run(stream_session(server.url, mint_token(SECRET, sub="next"),
                                           b"\0" * 32000, 32000))
    assert isinstance(events[-1], Closed) and events[-1].code == 1000, "the server serves on"


# -- a client that vanishes mid-inference ----------------------------------------
def test_a_vanished_client_has_its_inference_aborted(make_server, testdata, caplog):
    """With the transcript store off, nobody could ever read its finals."""
    server = make_server(diarization=False, database_url="none")
    caplog.set_level(logging.INFO)
    engine: WhisperEngine = server.engine
    audio, rate = read_wav(testdata / "sample.wav")
    before = engine.aborted

    async def scenario() -> None:
        client = await LumenClient.connect(server.url, mint_token(SECRET, sub="vanishing"))
        await client.send_audio(wav_bytes(audio, rate))  # 30 s at once: minutes of work queued
        deadline = time.monotonic() + 60
        while engine.busy == 0:  # a whisper call of this session is running
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        client.close()

    asyncio.run(scenario())
    server.wait_idle(30)
    deadline = time.monotonic() + 30
    while engine.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.aborted == before + 1, "the running call stopped at whisper's abort check"
    assert engine.busy == 0 and engine.queue_depth == 0, "nothing of it is left queued"
    aborted = session_lines(caplog, "session aborted")
    assert len(aborted) == 1 and "client_closed" in aborted[0] and "30.000 s of audio" in aborted[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- a worker that raises ------------------------------------------------------
class FailingEngine:
    """The real engine, except that calls for ``language="en"`` raise in a worker thread."""

    def __init__(self, engine: WhisperEngine) -> None:
        self._engine = engine

    async def run(self, audio: np.ndarray, options: DecodeOptions, abort: Any = None) -> Transcription:
        if options.language == "en":
            def fail() -> Transcription:
                raise RuntimeError("injected worker failure")
            return await asyncio.get_running_loop().run_in_executor(None, fail)
        return await self._engine.run(audio, options, abort)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def test_a_worker_exception_ends_that_session_with_1011_and_no_other(engine, testdata, caplog):
    settings = Settings(jwt_secret=SECRET, threads=2, diarization=False)
    server = LiveServer(settings, FailingEngine(engine), None).start()  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    audio, rate = read_wav(testdata / "jfk.wav")
    data = wav_bytes(audio, rate)
    try:
        async def scenario():
            healthy = asyncio.ensure_future(stream_session(
                server.url, mint_token(SECRET, sub="healthy"), data, rate * 2, realtime=True))
            await asyncio.sleep(1.0)
            failing = await stream_session(server.url, mint_token(SECRET, sub="failing"), data,
                                           rate * 2, options={"language": "en"})
            return (await healthy)[1], failing[1]

        healthy, failing = asyncio.run(scenario())
        errors = [e for e in failing if isinstance(e, ServerError)]
        assert [e.code for e in errors] == ["internal_error"]
        assert "injected worker failure" in errors[0].message
        assert isinstance(failing[-1], Closed) and failing[-1].code == 1011
        assert [e for e in failing if isinstance(e, SessionEnded)], "session.ended still comes"
        assert not [e for e in healthy if isinstance(e, ServerError)]
        assert isinstance(healthy[-1], Closed) and healthy[-1].code == 1000
        assert wer((testdata / "jfk.txt").read_text(), final_text(healthy)) <= 0.10
        _, after = asyncio.run(stream_session(server.url, mint_token(SECRET, sub="after"), data,
                                              rate * 2))
        assert "country" in final_text(after), "the server serves on"
    finally:
        server.stop()


# -- nothing accepted is lost ----------------------------------------------------
def stm_utterances(path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=5)
        rows.append((float(parts[3]), float(parts[4]), parts[5]))
    return rows


@pytest.mark.parametrize("chunk_seconds", [0.02, 5.0], ids=["20ms", "5s"])
def test_every_second_and_every_utterance_of_sample_wav_arrives(server, token, testdata, chunk_seconds):
    """``audio_seconds`` is all the audio sent, and every spoken utterance of the
    reference is covered by a final's words (sent as fast as the client can)."""
    audio, rate = read_wav(testdata / "sample.wav")
    data = wav_bytes(audio, rate)
    _, events = asyncio.run(stream_session(server.url, token, data, rate * 2,  # partials: beside the point
                                           {"interim_results": "false"}, chunk_seconds=chunk_seconds))
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].audio_seconds == round(audio.size / rate, 3)
    words = [w for f in finals(events) for w in f.words]
    missed = [(start, end, text) for start, end, text in stm_utterances(testdata / "sample.stm")
              if not any(w.start < end + 0.3 and start - 0.3 < w.end for w in words)]
    assert not missed, f"utterances without a final word: {missed}"


def test_a_session_whose_setup_fails_gets_1011_and_frees_its_slot(make_server, token, monkeypatch):
    """Found by an audit: an exception while the session was being built (after the
    upgrade) left the client without a close frame, its slot taken (after four, the
    user got 429) and its stored row active."""
    server = make_server(diarization=False)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected setup failure")

    monkeypatch.setattr("lumen.server.ws.Session", broken)

    async def attempt() -> Any:
        try:
            await LumenClient.connect(server.url, token)
        except Exception as exc:  # no session.started: what is tested
            return exc
        return None

    for _ in range(5):  # more than max_sessions_per_user (4)
        failure = asyncio.run(attempt())
        assert failure is not None and "429" not in str(failure), failure
    server.wait_idle(10)
    assert server.call(lambda: server.context.limits.active) == 0
    monkeypatch.undo()

    async def serves() -> list[Any]:  # and it serves again
        client = await LumenClient.connect(server.url, token)
        await client.end()
        return await asyncio.wait_for(collect(client), 30)

    assert isinstance(asyncio.run(serves())[-1], Closed)
