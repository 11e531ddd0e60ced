"""The transcript store through a real server: fetch, ownership, resume (on both backends)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import numpy as np
import pytest
from serve_process import ServeProcess, run_lumen
from support import (SECRET, collect, fetch, final_text, finals, read_wav, stream_session, wait_ended,
                     wav_bytes, wer)

from lumen.auth import mint_token
from lumen.client import (ClientError, LumenClient, ServerError, SessionEnded, SpeakersUpdated,
                          delete_session, fetch_transcript, list_sessions)
from lumen.store import SessionRecord, open_store, parse_database_url


@pytest.fixture(scope="module")
def jfk(testdata):
    audio, rate = read_wav(testdata / "jfk.wav")
    return audio, rate, (testdata / "jfk.txt").read_text()


def received_finals(client: LumenClient, events) -> list[dict]:
    """The final messages exactly as the client got them, with every speaker correction applied."""
    corrected = {}
    for event in events:
        if isinstance(event, SpeakersUpdated):
            corrected.update(event.labels)
    messages = [m for m in client.messages if m["type"] == "transcript" and m["is_final"]]
    return [{**m, "speaker": corrected.get(m["segment_id"], m["speaker"])} for m in messages]


def refusal(coroutine) -> ClientError:
    with pytest.raises(ClientError) as caught:
        asyncio.run(coroutine)
    return caught.value


def test_finals_are_stored_and_only_their_user_may_fetch_them(make_server, database_url, testdata):
    server = make_server(database_url=database_url)
    token = mint_token(SECRET, sub="alice")
    audio, rate = read_wav(testdata / "sample.wav")
    audio = audio[: 18 * rate]  # both speakers have talked by then (sample.rttm)
    client, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2,
                                                chunk_seconds=0.5))
    stored = fetch(server, client.session_id, token)
    sent = received_finals(client, events)
    assert len(sent) >= 4 and stored["segments"] == sent, "every final, as sent, with corrections"
    timeline = [e for e in events if isinstance(e, SpeakersUpdated)][-1].turns
    assert timeline and stored["turns"] == timeline, "the final speaker timeline"
    assert {s["speaker"] for s in sent if s["text"]} == {"S1", "S2"}
    assert (stored["session_id"], stored["user"], stored["model"]) == (client.session_id, "alice", "tiny.en")
    assert (stored["status"], stored["end_reason"], stored["connections"]) == ("ended", "client_end", 1)
    assert stored["audio_seconds"] == pytest.approx(audio.size / rate, abs=0.001)
    assert stored["created_at"] <= stored["ended_at"] <= time.time()
    assert stored["resumable_until"] is None, "a session the client ended is not resumable"

    other = refusal(fetch_transcript(server.url, client.session_id, mint_token(SECRET, sub="mallory")))
    unknown = refusal(fetch_transcript(server.url, "f" * 32, token))
    assert (other.status, other.code) == (unknown.status, unknown.code) == (404, "session_not_found")
    assert "mallory" not in str(other) and str(other).replace(client.session_id, "f" * 32) == str(unknown)
    bad = refusal(fetch_transcript(server.url, client.session_id, "not-a-jwt"))
    assert (bad.status, bad.code) == (401, "invalid_token")


def test_resume_continues_ids_and_times(make_server, database_url, jfk):
    server = make_server(database_url=database_url)
    token = mint_token(SECRET, sub="alice")
    audio, rate, reference = jfk
    cut = int(5.6 * rate)  # between "Americans," and "ask not"

    async def lose_connection():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(wav_bytes(audio[:cut], rate))
        await client.finalize()
        async for event in client.events():
            if finals([event]):
                break
        client.close()  # no `end`: the server finishes the audio quietly and keeps it resumable
        return client

    first = asyncio.run(lose_connection())
    stored = wait_ended(server, first.session_id, token)
    assert stored["end_reason"] == "client_closed" and stored["resumable_until"] > time.time()
    assert stored["audio_seconds"] == pytest.approx(cut / rate, abs=0.001)
    before = stored["segments"]
    assert before and before[-1]["end"] <= cut / rate + 0.05

    mallory = refusal(LumenClient.connect(server.url, mint_token(SECRET, sub="mallory"),
                                          {"resume": first.session_id}))
    assert (mallory.status, mallory.code) == (404, "session_not_found")

    async def resume():
        client = await LumenClient.connect(server.url, token, {"resume": first.session_id})
        busy = None
        try:
            await LumenClient.connect(server.url, token, {"resume": first.session_id})
        except ClientError as exc:
            busy = exc
        receiver = asyncio.ensure_future(collect(client))
        await client.send_audio(wav_bytes(audio[cut:], rate))
        await client.end()
        return client, busy, await asyncio.wait_for(receiver, 120)

    second, busy, events = asyncio.run(resume())
    assert (busy.status, busy.code) == (409, "session_active")
    assert second.session_id == first.session_id
    resumed_from = second.started["resumed_from"]
    assert resumed_from == {"audio_offset": pytest.approx(cut / rate, abs=0.001),
                            "next_segment_id": before[-1]["segment_id"] + 1,
                            "segments": len([s for s in before if s["text"]]), "connection": 2}
    after = finals(events)
    assert after and [s.segment_id for s in after] == list(range(resumed_from["next_segment_id"],
                                                                  resumed_from["next_segment_id"] + len(after)))
    assert all(w.start >= cut / rate - 0.05 for s in after for w in s.words), "times run on from the cut"
    timeline = [e for e in events if isinstance(e, SpeakersUpdated)][-1].turns
    assert timeline and timeline[0]["start"] >= cut / rate, "the speaker timeline too"
    ended = events[-2]
    assert ended.audio_seconds == pytest.approx(audio.size / rate, abs=0.002), "totals count the session"

    stored = fetch(server, first.session_id, token)
    assert stored["segments"] == before + received_finals(second, events)
    first_turns = stored["turns"][:len(stored["turns"]) - len(timeline)]
    assert first_turns and first_turns[-1]["end"] <= cut / rate + 0.001, "the lost connection's timeline"
    assert stored["turns"] == first_turns + timeline, "then the resumed one's"
    assert (stored["connections"], stored["end_reason"]) == (2, "client_end")
    text = " ".join(s["text"] for s in stored["segments"] if s["text"])
    assert wer(reference, text) <= 0.25, text  # a cut mid-phrase may cost a word
    finished = refusal(LumenClient.connect(server.url, token, {"resume": first.session_id}))
    assert (finished.status, finished.code) == (410, "session_finished")


#: One second of silence, as a WAV file.
SILENT_SECOND = wav_bytes(np.zeros(16000, dtype=np.float32), 16000)


def lose_connection(url: str, token: str) -> str:
    """The id of a session whose connection is lost (closed without ``end``) after a second of silence."""
    async def lost() -> str:
        client = await LumenClient.connect(url, token, {"diarize": False})
        await client.send_audio(SILENT_SECOND)
        client.close()
        return client.session_id
    return asyncio.run(lost())


def test_a_resume_does_not_reset_max_session_seconds(make_server):
    """Otherwise losing the connection on purpose every few minutes keeps a session forever."""
    server = make_server(max_session_seconds=2.0, diarization=False)
    token = mint_token(SECRET, sub="dave")
    session_id = lose_connection(server.url, token)
    wait_ended(server, session_id, token)
    time.sleep(2.2)  # the session (not this connection) is now older than max_session_seconds

    async def resumed():
        client = await LumenClient.connect(server.url, token, {"resume": session_id})
        await client.send_audio(SILENT_SECOND)
        return await asyncio.wait_for(collect(client), 30)

    events = asyncio.run(resumed())
    assert [e.code for e in events if isinstance(e, ServerError)] == ["session_too_long"]
    ended = next(e for e in events if isinstance(e, SessionEnded))
    assert ended.audio_seconds == pytest.approx(1.0, abs=0.001), "no audio taken past the limit"


def test_resume_refusals(make_server):
    short = make_server(resume_grace=0.5)
    token = mint_token(SECRET, sub="bob")

    session_id = lose_connection(short.url, token)
    wait_ended(short, session_id, token)
    time.sleep(0.6)
    expired = refusal(LumenClient.connect(short.url, token, {"resume": session_id}))
    assert (expired.status, expired.code) == (410, "resume_expired")
    listed = run_lumen("sessions", "list", "--url", short.url, env={"LUMEN_TOKEN": token}).stdout
    assert session_id in listed and "resumable until" not in listed, listed  # (its time has passed)
    malformed = refusal(LumenClient.connect(short.url, token, {"resume": "../../etc"}))
    assert (malformed.status, malformed.code) == (400, "bad_request")
    no_store = make_server(database_url="none")
    off = refusal(LumenClient.connect(no_store.url, token, {"resume": session_id}))
    assert (off.status, off.code) == (400, "bad_request") and "database_url" in str(off)
    nothing = refusal(fetch_transcript(no_store.url, session_id, token))
    assert (nothing.status, nothing.code) == (404, "session_not_found")


def test_store_failures_are_clear_and_never_cost_the_live_transcript(make_server, tmp_path, jfk, caplog):
    audio, rate, reference = jfk
    path = tmp_path / "broken.sqlite3"
    server = make_server(database_url=f"sqlite:{path}", diarization=False)
    token = mint_token(SECRET, sub="carol")
    with sqlite3.connect(path) as db:  # finals can no longer be written; sessions can
        db.execute("DROP TABLE lumen_segments")
    with caplog.at_level(logging.ERROR, logger="lumen.store.recorder"):
        client, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2))
    assert wer(reference, final_text(events)) <= 0.10 and events[-2].reason == "client_end"
    stored_errors = [r for r in caplog.records if "not stored" in r.getMessage()]
    assert stored_errors and all(r.session_id == client.session_id for r in stored_errors)
    with sqlite3.connect(path) as db:  # nor sessions: the handshake is refused up front
        db.execute("DROP TABLE lumen_sessions")
    with caplog.at_level(logging.INFO, logger="lumen.server.ws"):
        refused = refusal(LumenClient.connect(server.url, token))
    assert (refused.status, refused.code) == (503, "store_unavailable")
    # What the database said, and where it is, goes to the log, not to the client.
    assert str(path) not in str(refused) and "lumen_sessions" not in str(refused), str(refused)
    assert any(str(path) in r.getMessage() for r in caplog.records if r.name == "lumen.server.ws")


def test_sessions_are_listed_and_deleted_by_their_user_only(make_server, database_url, jfk):
    server = make_server(database_url=database_url)
    alice, mallory = mint_token(SECRET, sub="alice"), mint_token(SECRET, sub="mallory")
    audio, rate, _ = jfk

    async def scenario():
        ended, _ = await stream_session(server.url, alice, wav_bytes(audio[: 3 * rate], rate), rate * 2)
        live = await LumenClient.connect(server.url, alice, {"diarize": False})
        listed = await list_sessions(server.url, alice)
        pages = [await list_sessions(server.url, alice, limit=limit) for limit in (1, 2)]
        refusals = {}
        for name, call in {
            "live": delete_session(server.url, live.session_id, alice),
            "other user": delete_session(server.url, ended.session_id, mallory),
            "unknown": delete_session(server.url, "f" * 32, alice),
            # (the client quotes an id: this one is not a query string after the ended session's)
            "id and more": delete_session(server.url, ended.session_id + "?x", alice),
            "NUL in the id": delete_session(server.url, "a\x00b", alice),
            "no token": list_sessions(server.url, ""),
            "limit 0": list_sessions(server.url, alice, limit=0),
            "before nan": list_sessions(server.url, alice, before=float("nan")),
            "limit 5_0": list_sessions(server.url, alice, limit="5_0"),  # (int() takes it)
            "limit full-width": list_sessions(server.url, alice, limit="\uff15"),
        }.items():
            try:
                await call
            except ClientError as exc:
                refusals[name] = (exc.status, exc.code)
        await live.end()
        async for _ in live.events():
            pass
        others = await list_sessions(server.url, mallory)
        await delete_session(server.url, ended.session_id, alice)
        after = await list_sessions(server.url, alice)
        return ended, live, listed, pages, refusals, others, after

    ended, live, listed, pages, refusals, others, after = asyncio.run(scenario())
    assert [s["session_id"] for s in listed["sessions"]] == [live.session_id, ended.session_id]
    first = listed["sessions"][1]
    assert (first["status"], first["end_reason"], first["user"]) == ("ended", "client_end", "alice")
    assert first["segments"] >= 1 and first["audio_seconds"] == pytest.approx(3.0, abs=0.001)
    assert listed["sessions"][0]["status"] == "active" and listed["next_before"] is None
    assert pages[0]["next_before"] == pytest.approx(listed["sessions"][0]["created_at"], abs=0.001), "more"
    assert pages[1]["next_before"] is None, "a last page exactly `limit` long"
    assert refusals == {"live": (409, "session_active"), "other user": (404, "session_not_found"),
                        "unknown": (404, "session_not_found"), "no token": (401, "missing_token"),
                        "id and more": (404, "session_not_found"), "NUL in the id": (404, "session_not_found"),
                        "limit 0": (400, "bad_request"), "before nan": (400, "bad_request"),
                        "limit 5_0": (400, "bad_request"), "limit full-width": (400, "bad_request")}
    assert others == {"sessions": [], "next_before": None}
    assert [s["session_id"] for s in after["sessions"]] == [live.session_id], "deleted with its transcript"
    gone = refusal(fetch_transcript(server.url, ended.session_id, mint_token(SECRET, sub="alice")))
    assert (gone.status, gone.code) == (404, "session_not_found")


def test_serve_deletes_transcripts_past_the_retention(tiny_model, tmp_path):
    """...and the voiceprints of sessions past their resume grace (300 s by default)."""
    database = f"sqlite:{tmp_path / 'store.sqlite3'}"
    store = open_store(parse_database_url(database))
    now = time.time()
    for name, ended_days_ago in (("old", 3.0), ("recent", 1.0), ("paused", 60 / 86400), ("live", None)):
        session_id = name.ljust(32, "0")
        store.create_session(SessionRecord(session_id, "alice", "tiny.en", {}, now - 4 * 86400,
                                           server="elsewhere:1"))
        store.set_voices(session_id, {"S1": [1.0, 0.5]})
        if ended_days_ago is not None:
            store.end_session(session_id, now - ended_days_ago * 86400, "client_closed", 1.0)
    store.close()
    served = ServeProcess(tiny_model, tmp_path, "--database-url", database, "--retention-days", "2",
                          "--log-format", "json").start()
    try:
        token = mint_token(SECRET, sub="alice")
        deadline = time.monotonic() + 30
        while len(listed := asyncio.run(list_sessions(served.url, token))["sessions"]) == 4:
            assert time.monotonic() < deadline, "the purge never ran"
            time.sleep(0.2)
    finally:
        served.stop()
    assert sorted(s["session_id"][:6].rstrip("0") for s in listed) == ["live", "paused", "recent"]
    assert "deleted 1 session(s) that ended over 2 day(s) ago" in served.stderr
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        kept = sorted(sid.rstrip("0") for (sid,) in db.execute("SELECT session_id FROM lumen_voices"))
    assert kept == ["live", "paused"], "voiceprints only while a resume may still come"
    assert "dropped the voiceprints of 2 session(s)" in served.stderr
