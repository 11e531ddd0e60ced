"""An ended session's memory is freed within a second, not whenever Python's
collector reaches its oldest generation (lumen/server/memory.py)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from support import read_wav, stream_session, wav_bytes

from lumen.client import LumenClient


def test_an_ended_sessions_objects_are_freed_by_the_sweeper(server, token, testdata):
    audio, rate = read_wav(testdata / "jfk.wav")
    held: list[weakref.ref] = []

    async def scenario():
        client = await LumenClient.connect(server.url, token)
        # The session, its recognizer and its diarizer, as the server holds them.
        session = server.call(lambda: next(s for s in server.context.sessions if s.id == client.session_id))
        held.extend(weakref.ref(part) for part in (session, session._recognizer, session._speakers))
        del session
        client.close()
        await stream_session(server.url, token, wav_bytes(audio, rate), rate * 2)  # a full one meanwhile

    asyncio.run(scenario())
    server.wait_idle()
    assert gc.isenabled()
    # The session's parts reference each other in cycles: only the collector frees them.
    deadline = time.monotonic() + 2 * server.context.sweeper.delay + 5.0
    while any(ref() is not None for ref in held) and time.monotonic() < deadline:
        time.sleep(0.1)  # (no gc.collect() here: the server's own sweeper must do it)
    assert [ref() for ref in held] == [None, None, None]
