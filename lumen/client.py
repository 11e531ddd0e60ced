"""An async Python client for the Live API (Tornado's WebSocket client).

Example::

    client = await LumenClient.connect("ws://localhost:8000/ws/transcribe", token)
    await client.send_audio(wav_bytes)
    await client.end()
    async for event in client.events():
        if isinstance(event, Transcript) and event.is_final:
            print(event.speaker, event.start, event.text)

``events()`` ends after ``session.ended`` or when the server closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import wave
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping
from urllib.parse import urlencode

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from lumen.errors import LumenError


class ClientError(LumenError):
    """The server refused the connection (``status``, ``code``) or broke the protocol."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or "client_error"


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    segment_id: int
    is_final: bool
    text: str
    start: float
    end: float
    speaker: str | None
    words: list[Word]
    language: str
    lag: float


@dataclass(frozen=True)
class SpeakersUpdated:
    segments: list[dict[str, Any]]


@dataclass(frozen=True)
class ServerError:
    code: str
    message: str


@dataclass(frozen=True)
class SessionEnded:
    audio_seconds: float
    segments: int
    reason: str


@dataclass(frozen=True)
class Closed:
    """The connection closed (always the last event)."""

    code: int | None
    reason: str | None


Event = Transcript | SpeakersUpdated | ServerError | SessionEnded | Closed


def parse_event(message: Mapping[str, Any]) -> Event | None:
    """A server message as a typed event (``None`` for types this client does not know)."""
    kind = message.get("type")
    if kind == "transcript":
        words = [Word(w["text"], w["start"], w["end"], w["confidence"]) for w in message["words"]]
        return Transcript(message["segment_id"], message["is_final"], message["text"],
                          message["start"], message["end"], message.get("speaker"), words,
                          message["language"], message.get("lag", 0.0))
    if kind == "speakers.updated":
        return SpeakersUpdated(message["segments"])
    if kind == "error":
        return ServerError(message["code"], message["message"])
    if kind == "session.ended":
        return SessionEnded(message["audio_seconds"], message["segments"], message["reason"])
    return None


@dataclass
class LumenClient:
    """One session.  Create with :meth:`connect`."""

    connection: WebSocketClientConnection
    session_id: str
    started: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Every JSON message received, in order (handy for tests and logs)."""

    @classmethod
    async def connect(cls, url: str, token: str | None, options: Mapping[str, Any] | None = None,
                      token_in_query: bool = False, timeout: float = 30.0) -> "LumenClient":
        """Open a session; raises :class:`ClientError` when the handshake is refused."""
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (options or {}).items()}
        headers = {}
        if token is not None and token_in_query:
            query["token"] = token
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        full_url = url + ("?" + urlencode(query) if query else "")
        request = HTTPRequest(full_url, headers=headers, connect_timeout=timeout, request_timeout=timeout)
        try:
            connection = await websocket_connect(request, max_message_size=64 * 1024 * 1024)
        except HTTPClientError as exc:
            body = exc.response.body if exc.response is not None else b""
            try:
                detail = json.loads(body)
            except ValueError:
                detail = {}
            raise ClientError(detail.get("message", str(exc)), status=exc.code,
                              code=detail.get("error")) from None
        first = await asyncio.wait_for(connection.read_message(), timeout)
        if first is None:
            raise ClientError("server closed the connection before session.started")
        started = json.loads(first)
        if started.get("type") != "session.started":
            raise ClientError(f"expected session.started, got {started.get('type')!r}")
        return cls(connection, started["session_id"], started)

    async def send_audio(self, data: bytes) -> None:
        await self.connection.write_message(data, binary=True)

    async def send_control(self, kind: str) -> None:
        """Send ``finalize``, ``end`` or ``keepalive``."""
        await self.connection.write_message(json.dumps({"type": kind}))

    async def finalize(self) -> None:
        await self.send_control("finalize")

    async def end(self) -> None:
        await self.send_control("end")

    async def events(self) -> AsyncIterator[Event]:
        """Typed events until the connection closes (the last one is :class:`Closed`)."""
        while True:
            raw = await self.connection.read_message()
            if raw is None:
                yield Closed(self.connection.close_code, self.connection.close_reason)
                return
            if isinstance(raw, bytes):
                raise ClientError("server sent a binary message")
            message = json.loads(raw)
            self.messages.append(message)
            event = parse_event(message)
            if event is not None:
                yield event

    def close(self) -> None:
        self.connection.close()


async def stream_file(client: LumenClient, data: bytes, bytes_per_second: float,
                      chunk_seconds: float = 0.1, realtime: bool = True) -> None:
    """Send ``data`` in chunks of ``chunk_seconds``, at real-time pace if asked."""
    chunk = max(1, int(bytes_per_second * chunk_seconds))
    began = time.monotonic()
    for i, offset in enumerate(range(0, len(data), chunk)):
        await client.send_audio(data[offset:offset + chunk])
        if realtime:
            due = began + (i + 1) * chunk_seconds
            await asyncio.sleep(max(0.0, due - time.monotonic()))


def wav_bytes_per_second(data: bytes) -> float:
    """Bytes per second of audio of a WAV file (for pacing)."""
    import io

    with wave.open(io.BytesIO(data)) as wav:
        return wav.getframerate() * wav.getnchannels() * wav.getsampwidth()


async def transcribe_file(path: str, url: str, token: str, realtime: bool = True,
                          chunk_seconds: float = 0.1) -> int:
    """What ``lumen transcribe`` does: stream a WAV file, print finals as they come."""
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    try:
        rate = wav_bytes_per_second(data)
    except (wave.Error, EOFError):
        print(f"lumen transcribe: {path} is not a WAV file", file=sys.stderr)
        return 2
    client = await LumenClient.connect(url, token)
    sender = asyncio.ensure_future(_send_then_end(client, data, rate, chunk_seconds, realtime))
    status = 0
    async for event in client.events():
        if isinstance(event, Transcript) and event.is_final and event.text:
            speaker = f"[{event.speaker}] " if event.speaker else ""
            print(f"{event.start:8.2f} {event.end:8.2f}  {speaker}{event.text}", flush=True)
        elif isinstance(event, ServerError):
            print(f"error: {event.code}: {event.message}", file=sys.stderr)
            status = 1
    await sender
    return status


async def _send_then_end(client: LumenClient, data: bytes, rate: float, chunk_seconds: float,
                         realtime: bool) -> None:
    await stream_file(client, data, rate, chunk_seconds, realtime)
    await client.end()
