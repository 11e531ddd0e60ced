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
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from lumen.client import (Closed, LumenClient, ServerError, SessionEnded, SpeakersUpdated,
                          Transcript)
from lumen.errors import ConfigError
from lumen.terminal import LiveDisplay
from lumen.transcript import TranscriptRecord, output_format, save

#: Bytes per sample of each raw encoding the server accepts.
SAMPLE_BYTES = {"pcm_s16le": 2, "pcm_s24le": 3, "pcm_s32le": 4, "pcm_f32le": 4, "mulaw": 1, "alaw": 1}

#: What a close code means, for the message printed when a session ends abnormally.
CLOSE_MEANINGS = {1001: "server shutting down", 1006: "connection lost", 1007: "undecodable audio",
                  1008: "policy (idle, token expired, session too long)", 1009: "message too large",
                  1011: "server error", 1013: "server overloaded"}


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
    chunks: Iterator[bytes]
    """Blocking reads of about ``chunk_seconds`` each."""


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
        return Source(name, options, raw.bytes_per_second, iter(lambda: stream.read(size), b""))
    import soundfile

    try:
        audio = soundfile.SoundFile(io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot read {path} as audio ({exc}); for headerless PCM use --raw "
                          "with --sample-rate/--encoding/--channels") from None
    frames = max(1, int(audio.samplerate * chunk_seconds))
    blocks = audio.blocks(blocksize=frames, dtype="int16", always_2d=True)
    options = {"sample_rate": audio.samplerate, "encoding": "pcm_s16le", "channels": audio.channels}
    return Source(name, options, audio.samplerate * audio.channels * 2,
                  (block.tobytes() for block in blocks))


async def send_source(client: LumenClient, source: Source, realtime: bool,
                      stop: asyncio.Event) -> None:
    """Send every chunk (paced to real time if asked) until the end or ``stop``, then ``end``.

    ``end`` goes out however sending stopped (even on a read error), so the
    audio already sent still gets its finals.
    """
    began = time.monotonic()
    sent_seconds = 0.0
    try:
        while not stop.is_set():
            chunk = await asyncio.to_thread(next, source.chunks, b"")
            if not chunk:
                break
            await client.send_audio(chunk)
            sent_seconds += len(chunk) / source.bytes_per_second
            if realtime:
                await asyncio.sleep(max(0.0, began + sent_seconds - time.monotonic()))
    except (WebSocketClosedError, StreamClosedError):
        return  # the server ended the session; its events say why
    finally:
        with contextlib.suppress(WebSocketClosedError, StreamClosedError):
            await client.end()


async def transcribe(source: Source, url: str, token: str, *, session_options: dict[str, Any],
                     realtime: bool, cafile: str | None, display: LiveDisplay,
                     outputs: Sequence[str] = (), out_format: str | None = None) -> int:
    """Run one session, then write the transcript to each of ``outputs``.

    Returns the exit status: 0 when the session ended normally, 1 on an error.
    """
    formats = {path: output_format(path, out_format) for path in outputs}
    client = await LumenClient.connect(url, token, {**source.options, **session_options},
                                       cafile=cafile)
    record = TranscriptRecord(client.session_id, client.started.get("model", ""))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if stop.is_set():
            client.close()
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    sender = asyncio.ensure_future(send_source(client, source, realtime, stop))
    status, ended = 0, False
    try:
        async for event in client.events():
            record.add(event)
            if isinstance(event, Transcript):
                (display.final if event.is_final else display.partial)(event)
            elif isinstance(event, SpeakersUpdated):
                display.speakers(event.labels)
            elif isinstance(event, ServerError):
                display.close()
                print(f"error: {event.code}: {event.message}", file=sys.stderr)
                status = 1
            elif isinstance(event, SessionEnded):
                ended = True
            elif isinstance(event, Closed) and (event.code != 1000 or not ended):
                display.close()
                meaning = CLOSE_MEANINGS.get(event.code or 1006, event.reason or "")
                print(f"connection closed: {event.code or 1006} ({meaning})", file=sys.stderr)
                status = 1
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        display.close()
        sender.cancel()
        failure = (await asyncio.gather(sender, return_exceptions=True))[0]
    if isinstance(failure, Exception):
        print(f"error while sending audio: {failure}", file=sys.stderr)
        status = 1
    if not save(record, formats, source.name, sys.stderr):
        status = 1
    return status
