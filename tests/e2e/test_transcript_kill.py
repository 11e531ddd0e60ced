"""Nothing is lost when ``lumen serve`` is killed between two finals, and the session resumes.

A real ``lumen serve`` subprocess gets sample.wav at real-time pace and is
SIGKILLed the moment the client receives its first final (the next one is
seconds of speech away).  The store must then hold exactly the finals the
client received: each is committed before it is sent, so none is missing,
and nothing else claims to be final.  A server restarted on the same address
marks the session ``server_lost`` and lets its user resume it where its
finals stopped.
"""

from __future__ import annotations

import asyncio
import signal

from serve_process import ServeProcess
from support import SECRET, final_speakers, finals, read_wav, stream_resumed, wav_bytes

from lumen.auth import mint_token
from lumen.client import LumenClient, SessionEnded, Transcript, fetch_transcript, stream_file
from lumen.store import open_store, parse_database_url


async def stream_until_killed(server: ServeProcess, token: str, data: bytes, rate: int) -> LumenClient:
    client = await LumenClient.connect(server.url, token)

    async def send() -> None:
        try:
            await stream_file(client, data, rate * 2, chunk_seconds=0.1, realtime=True)
        except Exception:  # the server is gone: nothing more can be sent
            pass

    sender = asyncio.ensure_future(send())
    async for event in client.events():  # ends when the killed server's socket closes
        if isinstance(event, Transcript) and event.is_final and event.text:
            server.signal(signal.SIGKILL)
    sender.cancel()
    return client


def test_sigkill_between_finals_loses_nothing_and_resumes(tiny_model, tmp_path, database_url, testdata):
    audio, rate = read_wav(testdata / "sample.wav")
    token = mint_token(SECRET, sub="alice")
    server = ServeProcess(tiny_model, tmp_path, "--database-url", database_url).start()
    try:
        client = asyncio.run(stream_until_killed(server, token, wav_bytes(audio, rate), rate))
        assert server.wait(30) == -signal.SIGKILL
    finally:
        server.stop()
    received = [m for m in client.messages if m["type"] == "transcript" and m["is_final"]]
    assert received and received[0]["text"], "the first final arrived before the kill"
    assert not [m for m in client.messages if m["type"] == "session.ended"], "killed mid-session"

    store = open_store(parse_database_url(database_url))
    try:
        stored_session = store.get_session(client.session_id)
        stored = store.finals(client.session_id)
    finally:
        store.close()
    assert stored == received, "exactly the finals the client received, byte for byte"
    assert stored_session.status == "active", "the killed server never ended it"
    assert stored_session.audio_seconds == received[-1]["end"]

    # The same address: the server that binds it ends what its dead predecessor left active.
    restarted = ServeProcess(tiny_model, tmp_path, "--database-url", database_url, port=server.port).start()
    try:
        transcript = asyncio.run(fetch_transcript(restarted.url, client.session_id, token))
        assert (transcript["status"], transcript["end_reason"]) == ("ended", "server_lost")
        assert transcript["segments"] == received

        async def resume():
            resumed = await LumenClient.connect(restarted.url, token, {"resume": client.session_id})
            await resumed.end()
            return resumed, [event async for event in resumed.events()]

        resumed, events = asyncio.run(resume())
    finally:
        restarted.stop()
    assert resumed.session_id == client.session_id
    assert resumed.started["resumed_from"]["next_segment_id"] == received[-1]["segment_id"] + 1
    assert resumed.started["resumed_from"]["audio_offset"] == received[-1]["end"]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert ended and ended[0].reason == "client_end"
    assert ended[0].audio_seconds == received[-1]["end"]


def test_speaker_labels_survive_a_kill(tiny_model, tmp_path, testdata):
    """The voiceprints are committed with the finals, so after a SIGKILL the resumed
    connection still gives a returning voice its label.  sample.wav is sent up to 21.7 s
    and the server killed once the final ending near there is in (speaker90 is S1,
    speaker91 S2); the resumed connection opens with speaker91's long turn."""
    audio, rate = read_wav(testdata / "sample.wav")
    token = mint_token(SECRET, sub="alice")
    database = f"sqlite:{tmp_path / 'store.sqlite3'}"
    server = ServeProcess(tiny_model, tmp_path, "--database-url", database, diarization=True).start()

    async def until_killed():
        client = await LumenClient.connect(server.url, token)
        await stream_file(client, wav_bytes(audio[:int(21.7 * rate)], rate), rate * 2 * 4, 0.5)
        await client.finalize()
        async for event in client.events():
            if isinstance(event, Transcript) and event.is_final and event.end >= 21.0:
                server.signal(signal.SIGKILL)
        return client

    try:
        client = asyncio.run(asyncio.wait_for(until_killed(), 120))
        assert server.wait(30) == -signal.SIGKILL
    finally:
        server.stop()
    before = {m["speaker"] for m in client.messages if m["type"] == "transcript" and m["is_final"]
              and m["text"] and 14.6 < (m["start"] + m["end"]) / 2 < 17.8}
    assert before == {"S2"}, client.messages
    restarted = ServeProcess(tiny_model, tmp_path, "--database-url", database, port=server.port,
                             diarization=True).start()
    try:
        resumed, events = asyncio.run(stream_resumed(restarted.url, token, client.session_id, audio, rate,
                                                     rate * 2 * 4))
    finally:
        restarted.stop()
    offset = resumed.started["resumed_from"]["audio_offset"]
    speakers = final_speakers(events)
    returning = {speakers[e.segment_id] for e in finals(events)
                 if e.text and 22.0 < (e.start + e.end) / 2 < 27.6}
    assert offset >= 21.0 and returning == {"S2"}, (offset, speakers)
