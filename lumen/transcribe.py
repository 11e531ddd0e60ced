"""``lumen transcribe``: stream audio to a server, show the transcript live, save it.

Sources:

* an audio file in any format ``soundfile`` (libsndfile) reads — WAV in all
  its variants, FLAC, Ogg/Vorbis, Opus, MP3, AIFF, … — decoded here and sent
  as 16-bit PCM at the file's own rate and channels (the server resamples and
  down-mixes);
* headerless PCM (``--raw``, from a file or standard input) sent as it is,
  described by ``--sample-rate``, ``--encoding`` and ``--channels``; with
  ``-`` it is sent as it arrives, so a live capture can be piped in
  (``arecord -q -f S16_LE -r 16000 -c 1 -t raw | lumen transcribe - --raw``);
* ``-`` without ``--raw``: standard input read to its end, then decoded like a file.

Audio goes out at real-time pace (``--fast``: as fast as the connection
takes it).  The first Ctrl-C stops sending and waits for the last finals;
a second one closes the connection at once.

A session whose connection breaks, or whose server goes away (a restart:
close 1001), is resumed (``?resume=``, docs/store.md) for up to
``--reconnect`` seconds of retrying: the finals the server stored meanwhile
are fetched, and the audio from the resumed session's ``audio_offset`` on is
sent again (the last ``REPLAY_SECONDS`` of it are kept for that), so the
transcript has every word of the file however often the connection broke.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from lumen.client import (ClientError, Closed, LumenClient, ServerError, SessionEnded, SpeakersUpdated,
                          Transcript, fetch_transcript, stored_finals)
from lumen.errors import ConfigError
from lumen.terminal import LiveDisplay
from lumen.transcript import TranscriptRecord, output_format, save

#: Bytes per sample of each raw encoding the server accepts.
SAMPLE_BYTES = {"pcm_s16le": 2, "pcm_s24le": 3, "pcm_s32le": 4, "pcm_f32le": 4, "mulaw": 1, "alaw": 1}

#: What a close code means, for the message printed when a session ends abnormally.
CLOSE_MEANINGS = {1001: "server shutting down", 1006: "connection lost", 1007: "undecodable audio",
                  1008: "policy (idle, token expired, session too long)", 1009: "message too large",
                  1011: "server error", 1013: "server overloaded"}


#: Close codes after which a session is resumed: the server went away (1001) or the connection broke
#: (1006; ``None``: no close frame at all).
RESUMABLE_CLOSES = frozenset({1001, 1006, None})
#: HTTP statuses of a refused resume worth retrying: the old connection is still finishing (409), the
#: server is busy or restarting behind a proxy (502, 503, 504).
RETRY_STATUSES = frozenset({409, 502, 503, 504})
#: Seconds of sent audio kept to send again after a resume.  The server resumes at the end of the
#: audio it received, or at its last stored final's end if it died: seconds back, not minutes.
REPLAY_SECONDS = 120.0
#: Seconds between two attempts to resume.
RETRY_INTERVAL = 1.0


@dataclass(frozen=True)
class RawFormat:
    """Headerless PCM: what ``--raw`` sends and declares to the server."""

    sample_rate: int = 16000
    encoding: str = "pcm_s16le"
    channels: int = 1

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * SAMPLE_BYTES[self.encoding]


@dataclass
class Source:
    """Audio to send: its name, the session options that describe it, its chunks."""

    name: str
    options: dict[str, Any]
    bytes_per_second: float
    frame_bytes: int
    """Bytes of one sample of every channel."""
    chunks: Iterator[bytes]
    """Blocking reads of about ``chunk_seconds`` each."""
    _pending: asyncio.Future[bytes] | None = field(default=None, init=False, repr=False)

    async def read(self) -> bytes:
        """The next chunk (``b""`` at the end), read in a thread.

        A read under way when the caller is cancelled (its connection closed)
        is kept for the next call: its chunk has left ``chunks`` and would
        otherwise be lost to the resumed session.
        """
        if self._pending is None:
            self._pending = asyncio.ensure_future(asyncio.to_thread(next, self.chunks, b""))
        chunk = await asyncio.shield(self._pending)
        self._pending = None
        return chunk


class SentAudio:
    """The audio sent in a session: its length, and its last ``keep_seconds`` to send again."""

    def __init__(self, bytes_per_second: float, frame_bytes: int, keep_seconds: float = REPLAY_SECONDS) -> None:
        self._rate = bytes_per_second
        self._frame = frame_bytes
        self._keep = int(keep_seconds * bytes_per_second)
        self._chunks: deque[bytes] = deque()
        self._kept = 0
        self.total = 0
        """Bytes sent in all."""

    def add(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._kept += len(chunk)
        self.total += len(chunk)
        while self._kept - len(self._chunks[0]) >= self._keep:
            self._kept -= len(self._chunks.popleft())

    def since(self, seconds: float) -> bytes | None:
        """The audio sent from ``seconds`` on (whole frames); None when it is no longer kept."""
        start = round(seconds * self._rate / self._frame) * self._frame
        first = self.total - self._kept
        if start < first:
            return None
        return b"".join(self._chunks)[start - first:]


def open_source(path: str, raw: RawFormat | None, chunk_seconds: float) -> Source:
    """The audio at ``path`` (``-``: standard input) as a :class:`Source`."""
    name = "stdin" if path == "-" else Path(path).stem
    if raw is not None:
        try:
            stream: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        frame = raw.channels * SAMPLE_BYTES[raw.encoding]
        size = max(1, int(raw.sample_rate * chunk_seconds)) * frame
        options = {"sample_rate": raw.sample_rate, "encoding": raw.encoding, "channels": raw.channels}
        return Source(name, options, raw.bytes_per_second, frame, iter(lambda: stream.read(size), b""))
    import soundfile

    try:
        audio = soundfile.SoundFile(io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot read {path} as audio ({exc}); for headerless PCM use --raw "
                          "with --sample-rate/--encoding/--channels") from None
    frames = max(1, int(audio.samplerate * chunk_seconds))
    blocks = audio.blocks(blocksize=frames, dtype="int16", always_2d=True)
    options = {"sample_rate": audio.samplerate, "encoding": "pcm_s16le", "channels": audio.channels}
    return Source(name, options, audio.samplerate * audio.channels * 2, audio.channels * 2,
                  (block.tobytes() for block in blocks))


async def send_source(client: LumenClient, source: Source, realtime: bool, stop: asyncio.Event,
                      sent: SentAudio, replay: bytes = b"") -> None:
    """Send ``replay`` (audio a resumed session must hear again) at once, then every chunk
    (paced to real time if asked) until the end or ``stop``, then ``end``.

    ``end`` goes out however sending stopped (even on a read error), so the
    audio already sent still gets its finals.  A chunk joins ``sent`` before it
    goes out: if the connection breaks then, a resume sends it again.
    """
    began = time.monotonic()
    paced = 0.0
    piece = max(1, int(source.bytes_per_second) // source.frame_bytes) * source.frame_bytes  # ~1 s
    try:
        for offset in range(0, len(replay), piece):
            await client.send_audio(replay[offset:offset + piece])
        while not stop.is_set():
            chunk = await source.read()
            if not chunk:
                break
            sent.add(chunk)
            await client.send_audio(chunk)
            paced += len(chunk) / source.bytes_per_second
            if realtime:
                await asyncio.sleep(max(0.0, began + paced - time.monotonic()))
    except (WebSocketClosedError, StreamClosedError):
        return  # the server ended the session; its events say why
    finally:
        with contextlib.suppress(WebSocketClosedError, StreamClosedError):
            await client.end()


async def transcribe(source: Source, url: str, token: str, *, session_options: dict[str, Any],
                     realtime: bool, cafile: str | None, display: LiveDisplay,
                     outputs: Sequence[str] = (), out_format: str | None = None,
                     reconnect: float = 60.0) -> int:
    """Run one session, resuming it when it is cut off (for up to ``reconnect`` seconds of
    retrying each time; 0: never), then write the transcript to each of ``outputs``.

    Returns the exit status: 0 when the session ended normally, 1 on an error.
    """
    formats = {path: output_format(path, out_format) for path in outputs}
    options = {**source.options, **session_options}
    client = await LumenClient.connect(url, token, options, cafile=cafile)
    record = TranscriptRecord(client.session_id, client.started.get("model", ""))
    sent = SentAudio(source.bytes_per_second, source.frame_bytes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    connection = [client]  # the live one, for a second Ctrl-C

    def interrupt() -> None:
        if stop.is_set():
            connection[0].close()
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    replay = b""
    try:
        while True:
            outcome = await _run_connection(connection[0], source, realtime, stop, sent, replay, record,
                                            display)
            if outcome != _LOST or stop.is_set() or reconnect <= 0:
                status = 0 if outcome == _ENDED else 1
                break
            resumed = await _resume(url, token, options, record.session_id, cafile, reconnect, stop)
            if resumed is None:
                status = 1
                break
            connection[0] = resumed
            replay = await _catch_up(resumed, url, token, cafile, sent, record, display)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        display.close()
    if not save(record, formats, source.name, sys.stderr):
        status = 1
    return status


_ENDED, _LOST, _FAILED = "ended", "lost", "failed"


async def _run_connection(client: LumenClient, source: Source, realtime: bool, stop: asyncio.Event,
                          sent: SentAudio, replay: bytes, record: TranscriptRecord,
                          display: LiveDisplay) -> str:
    """One connection of the session: send, show and record until it closes.  Returns how it
    ended: ``_ENDED`` (normally), ``_LOST`` (cut off: resume it) or ``_FAILED``."""
    sender = asyncio.ensure_future(send_source(client, source, realtime, stop, sent, replay))
    failed, ended, outcome = False, None, _FAILED
    try:
        async for event in client.events():
            record.add(event)
            if isinstance(event, Transcript):
                (display.final if event.is_final else display.partial)(event)
            elif isinstance(event, SpeakersUpdated):
                display.speakers(event.labels)
            elif isinstance(event, ServerError) and event.code != "server_shutdown":
                display.close()
                print(f"error: {event.code}: {event.message}", file=sys.stderr)
                failed = True
            elif isinstance(event, SessionEnded):
                ended = event.reason
            elif isinstance(event, Closed):
                cut_off = ended in (None, "server_shutdown") and event.code in RESUMABLE_CLOSES
                outcome = _FAILED if failed else _LOST if cut_off else _ENDED if ended else _FAILED
                if outcome != _ENDED:
                    display.close()
                    meaning = CLOSE_MEANINGS.get(event.code or 1006, event.reason or "")
                    then = "; resuming the session" if outcome == _LOST else ""
                    print(f"connection closed: {event.code or 1006} ({meaning}){then}", file=sys.stderr)
    finally:
        sender.cancel()
        failure = (await asyncio.gather(sender, return_exceptions=True))[0]
    if isinstance(failure, Exception):
        print(f"error while sending audio: {failure}", file=sys.stderr)
        return _FAILED
    return outcome


async def _resume(url: str, token: str, options: dict[str, Any], session_id: str, cafile: str | None,
                  patience: float, stop: asyncio.Event) -> LumenClient | None:
    """A new connection to ``session_id``, retried for ``patience`` seconds while the server is
    away or still finishing the old one; None (and why, on stderr) if there is none."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await LumenClient.connect(url, token, {**options, "resume": session_id}, cafile=cafile)
        except ClientError as exc:
            if exc.status not in RETRY_STATUSES | {None} or time.monotonic() >= deadline or stop.is_set():
                print(f"cannot resume session {session_id}: {exc.summary}", file=sys.stderr)
                return None
        await asyncio.sleep(RETRY_INTERVAL)


async def _catch_up(client: LumenClient, url: str, token: str, cafile: str | None, sent: SentAudio,
                    record: TranscriptRecord, display: LiveDisplay) -> bytes:
    """After a resume: show and record the finals stored while the client was away, and return
    the audio to send again (from the resumed session's ``audio_offset``)."""
    offset = client.started["resumed_from"]["audio_offset"]
    try:
        stored = await fetch_transcript(url, client.session_id, token, cafile=cafile)
    except ClientError as exc:
        print(f"cannot fetch the finals sent while disconnected: {exc}", file=sys.stderr)
        stored = {"segments": []}
    record.resumed(offset, stored.get("turns"))
    known = {segment.id for segment in record.segments}
    for event in stored_finals(stored):
        if event.text and event.segment_id not in known:
            record.add(event)
            display.final(event)
    replay = sent.since(offset)
    if replay is None:
        replay = b""
        print(f"audio from {offset:.3f} s was no longer kept: not transcribed", file=sys.stderr)
    print(f"resumed session {client.session_id} at {offset:.3f} s of audio", file=sys.stderr)
    return replay
