"""The transcript store's behaviour, identical on both backends (SQLite file, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest

from lumen.errors import (ResumeExpiredError, SessionActiveError, SessionGoneError,
                          SessionNotFoundError, StoreError)
from lumen.store import SessionRecord, StoredFinal, open_store, parse_database_url
from lumen.store.worker import StoreWorker

SID = "0123456789abcdef0123456789abcdef"


def final(segment_id: int, start: float, end: float, text: str, speaker: str | None = "S1",
          **extra) -> StoredFinal:
    message = {"type": "transcript", "session_id": SID, "segment_id": segment_id, "is_final": True,
               "text": text, "start": start, "end": end, "speaker": speaker, "words": [],
               "language": "en", "lag": 0.1, **extra}
    return StoredFinal.from_message(json.dumps(message))


@pytest.fixture
def store(database_url):
    store = open_store(parse_database_url(database_url))
    yield store
    store.close()


def new_session(store, user: str = "alice", session_id: str = SID, server: str = "host:1") -> None:
    store.create_session(SessionRecord(session_id, user, "tiny.en", {"diarize": True}, time.time(),
                                       server=server))


def test_finals_are_stored_as_sent_with_corrected_speakers(store, database_url):
    new_session(store)
    store.add_final(SID, final(0, 0.3, 2.0, "hello there", terms=[{"term": "aspirin"}]))
    store.add_final(SID, final(1, 2.5, 4.0, "", speaker=None))
    store.add_final(SID, final(2, 4.2, 6.5, "general kenobi", words=[
        {"text": "general", "start": 4.2, "end": 5.0, "confidence": 0.9, "speaker": "S1"},
        {"text": "kenobi", "start": 5.1, "end": 6.5, "confidence": 0.9, "speaker": "S1"}]))
    record = store.get_session(SID)
    assert record.status == "active" and record.ended_at is None
    assert record.audio_seconds == 6.5, "while live, the covered audio is the last final's end"
    store.update_speakers(SID, [{"segment_id": 2, "speaker": "S2", "word_speakers": ["S1", "S2"]}])
    store.end_session(SID, time.time(), "client_end", 7.25)

    # A second, independent connection sees everything committed.
    other = open_store(parse_database_url(database_url))
    try:
        record = other.get_session(SID)
        finals = other.finals(SID)
    finally:
        other.close()
    assert (record.user, record.model, record.options) == ("alice", "tiny.en", {"diarize": True})
    assert (record.status, record.end_reason, record.audio_seconds) == ("ended", "client_end", 7.25)
    assert [f["segment_id"] for f in finals] == [0, 1, 2]
    assert [f["speaker"] for f in finals] == ["S1", None, "S2"]
    assert finals[0]["terms"] == [{"term": "aspirin"}], "fields unknown to the store are kept"
    assert finals[2]["text"] == "general kenobi" and finals[2]["lag"] == 0.1
    assert [w["speaker"] for w in finals[2]["words"]] == ["S1", "S2"], "word speakers corrected too"
    assert store.get_session("f" * 32) is None and store.finals("f" * 32) == []


def test_speaker_timelines_are_kept_per_connection_in_order(store):
    new_session(store)
    first = [{"start": 0.5, "end": 2.0, "speaker": "S1"}, {"start": 2.0, "end": 3.1, "speaker": "S2"}]
    second = [{"start": 4.0, "end": 5.5, "speaker": "S2"}]
    store.set_turns(SID, 2, second)  # (the order written does not matter)
    store.set_turns(SID, 1, [{"start": 0.5, "end": 9.0, "speaker": "S1"}])
    store.set_turns(SID, 1, first)  # a connection's timeline is replaced, not appended to
    assert store.turns(SID) == first + second
    assert store.turns("f" * 32) == []


def test_a_segment_id_is_stored_once(store):
    new_session(store)
    store.add_final(SID, final(0, 0.0, 1.0, "one"))
    with pytest.raises(StoreError):
        store.add_final(SID, final(0, 1.0, 2.0, "again"))
    assert [f["text"] for f in store.finals(SID)] == ["one"], "the failed write left nothing behind"


def test_resume_claims_an_ended_session_once(store):
    new_session(store)
    store.add_final(SID, final(0, 0.3, 2.0, "first"))
    store.add_final(SID, final(1, 2.1, 2.4, "", speaker=None))
    store.add_final(SID, final(2, 3.0, 5.0, "third"))
    with pytest.raises(SessionActiveError):
        store.claim_resume(SID, "alice", time.time(), 300, "host:2")
    store.end_session(SID, time.time(), "client_closed", 5.5)
    with pytest.raises(SessionNotFoundError):
        store.claim_resume(SID, "mallory", time.time(), 300, "host:2")
    with pytest.raises(SessionNotFoundError):
        store.claim_resume("f" * 32, "alice", time.time(), 300, "host:2")
    with pytest.raises(ResumeExpiredError):
        store.claim_resume(SID, "alice", time.time() + 301, 300, "host:2")
    point = store.claim_resume(SID, "alice", time.time(), 300, "host:2")
    assert (point.audio_offset, point.next_segment_id, point.segments, point.connection) == (5.5, 3, 2, 2)
    record = store.get_session(SID)
    assert (record.status, record.ended_at, record.end_reason, record.connections, record.server) == (
        "active", None, None, 2, "host:2"), "the resuming server now runs it"
    with pytest.raises(SessionActiveError):
        store.claim_resume(SID, "alice", time.time(), 300, "host:2")


def test_voiceprints_reach_the_resume_and_live_no_longer_than_it_may_come(store, caplog):
    new_session(store)
    store.add_final(SID, final(0, 0.3, 2.0, "first", speaker="S2"))
    store.add_final(SID, final(1, 2.1, 2.4, "", speaker=None))
    voices = {"S2": [0.25, -0.5, 1.0], "S3": [0.0, 0.125, 2.0]}
    store.add_final(SID, final(2, 3.0, 5.0, "third", speaker="S3"), voices={"S2": [1.0, 1.0, 1.0]})
    assert store.voices(SID) == {"S2": [1.0, 1.0, 1.0]}, "committed with the final"
    store.set_voices(SID, voices)  # the latest voiceprints replace the previous ones
    store.end_session(SID, 1000.0, "client_closed", 5.5)
    point = store.claim_resume(SID, "alice", 1000.0, 300, "host:2")
    assert (point.voices, point.speakers) == (voices, ("S2", "S3"))

    store.set_voices(SID, {**voices, "S4": [float("nan"), 1.0, 1.0], "S5": [0.0, 0.0, 0.0]})
    store.end_session(SID, 2000.0, "server_shutdown", 6.0)
    with caplog.at_level(logging.WARNING, logger="lumen.store.base"):
        point = store.claim_resume(SID, "alice", 2000.0, 300, "host:2")
    assert point.voices == voices, "a damaged voiceprint is left out, the others kept"
    assert "'S4'" in caplog.text and "'S5'" in caplog.text
    store.end_session(SID, 3000.0, "client_closed", 6.5)
    assert store.forget_voices(ended_before=3000.0) == 0, "still resumable"
    assert store.forget_voices(ended_before=3000.5) == 1
    assert store.claim_resume(SID, "alice", 3000.0, 300, "host:2").voices == {}, "the transcript stays"

    store.set_voices(SID, voices)
    store.end_session(SID, 4000.0, "client_end", 7.0)  # ended for good: nothing to resume
    other = "e" * 32
    new_session(store, session_id=other)
    store.set_voices(other, voices)
    store.end_session(other, 4000.0, "client_closed", 1.0)
    assert store.forget_voices(ended_before=5000.0) == 1, "only the resumable session still had some"
    store.set_voices(other, voices)
    store.delete_session(other, "alice")
    assert store.forget_voices(ended_before=5000.0) == 0, "deleted with the session"


@pytest.mark.parametrize("reason", ["client_end", "session_too_long", "invalid_audio", "internal_error"])
def test_sessions_ended_for_good_are_not_resumable(store, reason):
    new_session(store)
    store.end_session(SID, time.time(), reason, 1.0)
    with pytest.raises(SessionGoneError) as caught:
        store.claim_resume(SID, "alice", time.time(), 300, "host:2")
    assert caught.value.status == 410 and caught.value.code == "session_finished"
    assert reason in str(caught.value)


def test_a_user_lists_their_own_sessions_newest_first_in_pages(store):
    for n, user in enumerate(["alice", "bob", "alice", "alice"]):
        store.create_session(SessionRecord(f"{n:032x}", user, "tiny.en", {}, created_at=1000.0 + n))
    store.add_final(f"{0:032x}", final(0, 0.0, 1.0, "one"))
    store.add_final(f"{0:032x}", final(1, 1.0, 1.5, "", speaker=None))
    store.add_final(f"{0:032x}", final(2, 2.0, 3.0, "two"))
    page = store.list_sessions("alice", limit=2)
    assert [(s.record.session_id, s.record.created_at) for s in page] == [(f"{3:032x}", 1003.0),
                                                                          (f"{2:032x}", 1002.0)]
    rest = store.list_sessions("alice", limit=2, before=page[-1].record.created_at)
    assert [(s.record.session_id, s.segments) for s in rest] == [(f"{0:032x}", 2)], "non-empty finals"
    assert store.list_sessions("alice", limit=2, before=1000.0) == []
    assert [s.record.user for s in store.list_sessions("bob", limit=10)] == ["bob"]


def test_only_the_owner_deletes_an_ended_session_with_all_it_holds(store):
    new_session(store)
    store.add_final(SID, final(0, 0.0, 1.0, "private"))
    store.set_turns(SID, 1, [{"start": 0.0, "end": 1.0, "speaker": "S1"}])
    with pytest.raises(SessionActiveError):
        store.delete_session(SID, "alice")  # live: its connection would write again
    store.end_session(SID, time.time(), "client_closed", 1.0)
    for user, session_id in (("mallory", SID), ("alice", "f" * 32)):
        with pytest.raises(SessionNotFoundError):
            store.delete_session(session_id, user)
    store.delete_session(SID, "alice")
    assert store.get_session(SID) is None and store.finals(SID) == [] and store.turns(SID) == []
    with pytest.raises(SessionNotFoundError):
        store.claim_resume(SID, "alice", time.time(), 300, "host:2")


def test_purge_deletes_sessions_ended_before_the_cutoff_never_live_ones(store):
    for n in range(3):
        new_session(store, session_id=f"{n:032x}")
        store.add_final(f"{n:032x}", final(0, 0.0, 1.0, "words"))
    store.end_session(f"{0:032x}", 1000.0, "client_end", 1.0)
    store.end_session(f"{1:032x}", 2000.0, "client_end", 1.0)
    assert store.purge(ended_before=1500.0) == 1
    assert store.get_session(f"{0:032x}") is None and store.finals(f"{0:032x}") == []
    assert store.purge(ended_before=time.time()) == 1
    assert store.get_session(f"{2:032x}").status == "active", "a live session is never purged"


def test_recover_ends_what_a_dead_server_left_active(store):
    new_session(store)
    new_session(store, session_id="e" * 32)
    new_session(store, session_id="d" * 32, server="host:3")
    store.end_session("e" * 32, time.time(), "client_end", 2.0)
    store.add_final(SID, final(0, 0.5, 3.25, "cut off"))
    assert store.recover(time.time(), "host:1") == 1
    record = store.get_session(SID)
    assert (record.status, record.end_reason, record.audio_seconds) == ("ended", "server_lost", 3.25)
    assert store.get_session("e" * 32).end_reason == "client_end", "ended sessions are untouched"
    assert store.get_session("d" * 32).status == "active", "another live server's sessions too"
    point = store.claim_resume(SID, "alice", time.time(), 300, "host:2")
    assert (point.audio_offset, point.next_segment_id) == (3.25, 1)


def test_worker_runs_calls_in_order_off_the_loop(database_url, caplog):
    async def scenario(worker: StoreWorker):
        await worker.call(lambda s: new_session(s))
        worker.submit(lambda s: s.add_final(SID, final(0, 0.0, 1.0, "queued")), "first final")
        worker.submit(lambda s: s.update_speakers(SID, [{"segment_id": 0, "speaker": "S3"}]), "correction")
        worker.submit(lambda s: s.add_final(SID, final(0, 0.0, 1.0, "duplicate")), "duplicate final")
        thread = await worker.call(lambda s: threading.current_thread().name)
        return thread, await worker.call(lambda s: s.finals(SID))

    worker = StoreWorker(parse_database_url(database_url))
    try:
        with caplog.at_level(logging.ERROR, logger="lumen.store.worker"):
            thread, finals = asyncio.run(scenario(worker))
    finally:
        worker.close()
    assert thread.startswith("lumen-store")
    assert [(f["text"], f["speaker"]) for f in finals] == [("queued", "S3")]
    assert "duplicate final failed" in caplog.text, "a failed queued write is logged"
