"""An async Python client for the Live API (Tornado's WebSocket client).

One :class:`LumenClient` is one session.  Send audio and read events at the
same time — results stream back while audio is still being sent::

    import asyncio
    from lumen.client import LumenClient, SpeakersUpdated, Transcript, stream_file

    async def main(token: str, pcm: bytes) -> dict[int, str | None]:  # 16 kHz mono s16le
        client = await LumenClient.connect("ws://localhost:8000/ws/transcribe", token,
                                           {"sample_rate": 16000, "encoding": "pcm_s16le"})

        async def send() -> None:
            await stream_file(client, pcm, bytes_per_second=32000)  # at real-time pace
            await client.end()                   # the last finals, session.ended, close

        sender = asyncio.ensure_future(send())
        speakers: dict[int, str | None] = {}     # segment_id -> speaker, as corrected
        async for event in client.events():      # always ends with Closed
            if isinstance(event, Transcript) and event.is_final:
                speakers[event.segment_id] = event.speaker
                print(f"{event.start:7.2f} {event.speaker}: {event.text}")
            elif isinstance(event, SpeakersUpdated):
                speakers.update(event.labels)
        await sender
        return speakers

* ``connect`` raises :class:`ClientError` (with the HTTP ``status`` and the
  server's error ``code``) when the handshake is refused or the server cannot
  be reached.  ``wss://`` URLs are verified against the system's CAs, or only
  against ``cafile`` (a private CA) when given.
* ``finalize()`` asks for finals of everything sent so far; ``end()`` asks for
  the last finals, ``session.ended`` and the close.
* :meth:`LumenClient.events` yields :class:`Transcript`, :class:`SpeakersUpdated`,
  :class:`SpeakerTurns` (with ``speaker_turns=true``: ``timeline = event.apply(timeline)``
  keeps the live who-spoke-when), :class:`ServerError`, :class:`SessionEnded`,
  and always ends with :class:`Closed`.
* A connection that was lost can be continued within the server's
  ``resume_grace``: ``connect(url, token, {"resume": session_id})``
  (``started["resumed_from"]`` says where); :func:`fetch_transcript`
  returns a session's stored finals, :func:`list_sessions` the user's stored
  sessions and :func:`delete_session` deletes one (docs/store.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from lumen.errors import LumenError
from lumen.tls import client_context


class ClientError(LumenError):
    """The server refused the connection (``status``, ``code``), could not be reached,
    or broke the protocol."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or "client_error"

    @property
    def summary(self) -> str:
        """The message, with the HTTP status and error code when the server refused."""
        return f"{self} (HTTP {self.status}, {self.code})" if self.status else str(self)


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float
    speaker: str | None = None
    """Who said it (diarized sessions); ``speakers.updated`` may correct it."""


@dataclass(frozen=True)
class Transcript:
    """A partial (``is_final=False``, replaced by the next of its segment) or a final."""

    segment_id: int
    is_final: bool
    text: str
    start: float
    end: float
    speaker: str | None
    words: list[Word]
    language: str
    lag: float
    terms: list[dict[str, Any]] | None = None
    """Medical terms of a final (sessions with ``terms`` on): ``{text, start, end, category, code, name}``."""
    language_probability: float | None = None
    """How sure the detection of ``language`` was (``language=auto``); None when given."""


@dataclass(frozen=True)
class SpeakersUpdated:
    """New speakers for finals already received: ``[{"segment_id": 3, "speaker": "S2",
    "word_speakers": ["S1", "S2"]}, …]``; the session's last one also has ``turns``, its
    whole timeline ``[{start, end, speaker}]``."""

    segments: list[dict[str, Any]]
    turns: list[dict[str, Any]] | None = None

    @property
    def labels(self) -> dict[int, str]:
        """``segment_id`` -> its new speaker."""
        return {entry["segment_id"]: entry["speaker"] for entry in self.segments}

    @property
    def word_labels(self) -> dict[int, list[str | None]]:
        """``segment_id`` -> the new speaker of each of its words, in order (when given)."""
        return {entry["segment_id"]: entry["word_speakers"] for entry in self.segments
                if entry.get("word_speakers") is not None}


@dataclass(frozen=True)
class SpeakerTurns:
    """The live speaker timeline from ``since`` on (sessions with ``speaker_turns``):
    ``turns`` ``[{start, end, speaker}]`` replace every turn the client holds after ``since``."""

    since: float
    turns: list[dict[str, Any]]

    def apply(self, timeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``timeline`` (the turns as last known) with this update applied."""
        kept = [dict(turn, end=min(turn["end"], self.since)) for turn in timeline if turn["start"] < self.since]
        return kept + [dict(turn) for turn in self.turns]


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


Event = Transcript | SpeakersUpdated | SpeakerTurns | ServerError | SessionEnded | Closed


def parse_event(message: Mapping[str, Any]) -> Event | None:
    """A server message as a typed event (``None`` for types this client does not know)."""
    kind = message.get("type")
    if kind == "transcript":
        words = [Word(w["text"], w["start"], w["end"], w["confidence"], w.get("speaker"))
                 for w in message["words"]]
        return Transcript(message["segment_id"], message["is_final"], message["text"],
                          message["start"], message["end"], message.get("speaker"), words,
                          message["language"], message.get("lag", 0.0), message.get("terms"),
                          message.get("language_probability"))
    if kind == "speakers.updated":
        return SpeakersUpdated(message["segments"], message.get("turns"))
    if kind == "speakers.turns":
        return SpeakerTurns(message["since"], message["turns"])
    if kind == "error":
        return ServerError(message["code"], message["message"])
    if kind == "session.ended":
        return SessionEnded(message["audio_seconds"], message["segments"], message["reason"])
    return None


def _refusal(exc: HTTPClientError) -> ClientError:
    body = exc.response.body if exc.response is not None else b""
    try:
        detail = json.loads(body)
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    return ClientError(detail.get("message", str(exc)), status=exc.code, code=detail.get("error"))


@dataclass
class LumenClient:
    """One session.  Create with :meth:`connect`."""

    connection: WebSocketClientConnection
    session_id: str
    started: dict[str, Any]
    """The ``session.started`` message (``user``, ``model``, ``config``, ``expires_at``)."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Every JSON message received after ``session.started``, in order."""

    @classmethod
    async def connect(cls, url: str, token: str | None, options: Mapping[str, Any] | None = None,
                      *, token_in_query: bool = False, cafile: str | None = None,
                      timeout: float = 30.0) -> "LumenClient":
        """Open a session at ``url`` (``ws://`` or ``wss://``) with the query ``options``.

        The token goes in the ``Authorization`` header, or in ``?token=`` with
        ``token_in_query`` (what browsers must do).
        """
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (options or {}).items()}
        headers = {}
        if token is not None and token_in_query:
            query["token"] = token
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        full_url = url + ("?" + urlencode(query) if query else "")
        tls = client_context(cafile) if url.startswith("wss:") else None
        request = HTTPRequest(full_url, headers=headers, connect_timeout=timeout,
                              request_timeout=timeout, ssl_options=tls)
        try:
            connection = await websocket_connect(request, max_message_size=64 * 1024 * 1024)
        except HTTPClientError as exc:
            raise _refusal(exc) from None
        except OSError as exc:  # refused, unreachable, TLS verification failed
            raise ClientError(f"cannot connect to {url}: {exc}") from None
        first = await asyncio.wait_for(connection.read_message(), timeout)
        if first is None:
            raise ClientError("server closed the connection before session.started")
        if isinstance(first, bytes):
            raise ClientError("server sent a binary message")
        started = json.loads(first)
        if started.get("type") != "session.started":
            raise ClientError(f"expected session.started, got {started.get('type')!r}")
        return cls(connection, started["session_id"], started)

    async def send_audio(self, data: bytes) -> None:
        await self.connection.write_message(data, binary=True)

    async def send_control(self, kind: str) -> None:
        """Send ``finalize``, ``end`` or ``keepalive``."""
        await self.connection.write_message(json.dumps({"type": kind}))

    async def configure(self, keyterms: list[str]) -> None:
        """Replace the session's key terms (from the next decode on)."""
        await self.connection.write_message(json.dumps({"type": "configure", "keyterms": keyterms}))

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
    """Bytes per second of audio of a PCM WAV file (for pacing)."""
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getframerate() * wav.getnchannels() * wav.getsampwidth()


async def fetch_transcript(url: str, session_id: str, token: str, *, cafile: str | None = None,
                           timeout: float = 30.0) -> dict[str, Any]:
    """The stored transcript of ``session_id`` (``GET /v1/sessions/{id}/transcript``) from the
    server whose WebSocket ``url`` is given; :class:`ClientError` (``status``, ``code``) if refused."""
    return await _rest(url, "GET", f"{_session_path(session_id)}/transcript", token, cafile, timeout)


def stored_finals(stored: Mapping[str, Any]) -> list[Transcript]:
    """The finals of a stored transcript (:func:`fetch_transcript`) as events, as sent, with
    their speakers as last corrected."""
    return [event for event in map(parse_event, stored["segments"]) if isinstance(event, Transcript)]


async def list_sessions(url: str, token: str, *, limit: int = 50, before: float | None = None,
                        cafile: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """A page of the token user's stored sessions, newest first (``GET /v1/sessions``):
    ``{"sessions": [...], "next_before"}``; pass ``next_before`` as ``before`` for the next page."""
    query = {"limit": limit, **({"before": before} if before is not None else {})}
    return await _rest(url, "GET", f"/v1/sessions?{urlencode(query)}", token, cafile, timeout)


async def delete_session(url: str, session_id: str, token: str, *, cafile: str | None = None,
                         timeout: float = 30.0) -> None:
    """Delete an ended session of the token user with its transcript (``DELETE /v1/sessions/{id}``)."""
    await _rest(url, "DELETE", _session_path(session_id), token, cafile, timeout)


def _session_path(session_id: str) -> str:
    # Quoted: "ID?x" is not session ID with a query string.
    return f"/v1/sessions/{quote(session_id, safe='')}"


async def _rest(url: str, method: str, path: str, token: str, cafile: str | None,
                timeout: float) -> dict[str, Any]:
    """``method path`` on the server whose WebSocket ``url`` is given; the JSON answer ({} if none)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    target = urlunsplit((scheme, parts.netloc, "", "", "")) + path
    tls = client_context(cafile) if scheme == "https" else None
    request = HTTPRequest(target, method=method, headers={"Authorization": f"Bearer {token}"},
                          connect_timeout=timeout, request_timeout=timeout, ssl_options=tls)
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as exc:
        raise _refusal(exc) from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {target}: {exc}") from None
    return json.loads(response.body) if response.body else {}
