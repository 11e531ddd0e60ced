"""Speaker labels over the live protocol: sample.wav (two people on the phone)."""

from __future__ import annotations

import asyncio

import pytest
from support import (fetch, final_speakers, finals, read_wav, stream_resumed, stream_session, wait_ended,
                     wav_bytes)

from lumen.client import (Closed, LumenClient, SessionEnded, SpeakersUpdated, SpeakerTurns, Transcript,
                          stream_file)


def reference_turns(testdata):
    turns = []
    for line in (testdata / "sample.rttm").read_text().splitlines():
        fields = line.split()
        turns.append((float(fields[3]), float(fields[3]) + float(fields[4]), fields[7]))
    return turns


@pytest.fixture(scope="module")
def sample_session(server, token, testdata):
    audio, rate = read_wav(testdata / "sample.wav")
    _, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2,
                                           chunk_seconds=0.5))
    return events


def test_two_speakers_labelled_consistently_with_reference(sample_session, testdata):
    events = sample_session
    segments = [e for e in finals(events) if e.text]
    speakers = final_speakers(events)
    assert set(speakers.values()) == {"S1", "S2"}
    # Map each hypothesis label to the reference speaker it overlaps most, then
    # check most of the speech time is attributed correctly.
    turns = reference_turns(testdata)
    overlap: dict[tuple[str, str], float] = {}
    for segment in segments:
        for start, end, who in turns:
            shared = max(0.0, min(end, segment.end) - max(start, segment.start))
            key = (speakers[segment.segment_id], who)
            overlap[key] = overlap.get(key, 0.0) + shared
    mapping = {}
    for (label, who), _ in sorted(overlap.items(), key=lambda kv: -kv[1]):
        if label not in mapping and who not in mapping.values():
            mapping[label] = who
    right = sum(v for (label, who), v in overlap.items() if mapping.get(label) == who)
    assert right >= 0.8 * sum(overlap.values()), (mapping, overlap)


def test_every_final_has_a_speaker_and_updates_name_sent_finals(sample_session):
    events = sample_session
    sent = {e.segment_id for e in finals(events) if e.text}
    assert all(e.speaker for e in finals(events) if e.text)
    updates = [e for e in events if isinstance(e, SpeakersUpdated)]
    for event in updates:
        assert all(s["segment_id"] in sent for s in event.segments)
        assert all(s["speaker"].startswith("S") for s in event.segments)
        assert event.segments or event is updates[-1], "only the last may have nothing to correct"
    assert [e.turns is not None for e in updates] == [False] * (len(updates) - 1) + [True]
    assert not any(isinstance(e, SpeakerTurns) for e in events)  # speaker_turns is opt-in
    # speakers.updated never comes after session.ended
    ended = next(i for i, e in enumerate(events) if isinstance(e, SessionEnded))
    assert not any(isinstance(e, SpeakersUpdated) for e in events[ended:])
    assert isinstance(events[-1], Closed) and events[-1].code == 1000


def test_every_word_has_a_speaker_and_corrections_name_each_word(sample_session):
    """words[].speaker on every final; a correction's word_speakers has one name per
    word of the final it corrects, and the segment's speaker is one of them."""
    sent = {e.segment_id: e for e in finals(sample_session) if e.text}
    for final in sent.values():
        assert all(w.speaker in ("S1", "S2") for w in final.words), final
        assert final.speaker in {w.speaker for w in final.words}
    for event in sample_session:
        if isinstance(event, SpeakersUpdated):
            for entry in event.segments:
                words = sent[entry["segment_id"]].words
                assert len(entry["word_speakers"]) == len(words)
                assert entry["speaker"] in entry["word_speakers"]


def test_the_last_update_gives_the_speaker_timeline(sample_session, testdata):
    """The session's final ``turns``: who spoke when, scored like the evaluation
    (pyannote DER, ±0.25 s collar, overlap excluded; scripts/eval_diarization.py
    --server measured 2.6 %)."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    events = sample_session
    turns = [e for e in events if isinstance(e, SpeakersUpdated)][-1].turns
    ended = next(e for e in events if isinstance(e, SessionEnded))
    bounds = [(t["start"], t["end"]) for t in turns]
    assert all(a < b for a, b in bounds) and all(b <= c for (_, b), (c, _) in zip(bounds, bounds[1:]))
    assert 0 <= bounds[0][0] and bounds[-1][1] <= ended.audio_seconds
    reference, hypothesis = Annotation(), Annotation()
    for start, end, who in reference_turns(testdata):
        reference[Segment(start, end)] = who
    for turn in turns:
        hypothesis[Segment(turn["start"], turn["end"])] = turn["speaker"]
    assert {t["speaker"] for t in turns} == {"S1", "S2"}
    assert DiarizationErrorRate(collar=0.5, skip_overlap=True)(reference, hypothesis) <= 0.10


def test_live_speaker_turns_build_the_timeline_as_the_call_goes_on(server, token, testdata):
    """speaker_turns=true: speakers.turns messages while audio is still being sent;
    applied in order, they agree with the final turns on most of the speech."""
    audio, rate = read_wav(testdata / "sample.wav")

    async def scenario():
        client = await LumenClient.connect(server.url, token, {"speaker_turns": True})

        async def send():
            # 1 s of audio every 0.25 s: four times real time, so the updates keep up
            await stream_file(client, wav_bytes(audio, rate), rate * 2 * 4, 0.25, realtime=True)
            await client.end()

        sending = asyncio.ensure_future(send())
        events, held, while_sending = [], [], 0
        async for event in client.events():
            events.append(event)
            if isinstance(event, SpeakerTurns):
                held = event.apply(held)
                while_sending += not sending.done()
        await sending
        return client.started, events, held, while_sending

    started, events, held, while_sending = asyncio.run(scenario())
    assert started["config"]["speaker_turns"] is True
    live = [e for e in events if isinstance(e, SpeakerTurns)]
    assert len(live) >= 5 and while_sending >= 1
    ended = next(i for i, e in enumerate(events) if isinstance(e, SessionEnded))
    assert not any(isinstance(e, SpeakerTurns) for e in events[ended:])
    for event in live:
        assert all(event.since <= t["start"] < t["end"] for t in event.turns)
    final = [e for e in events if isinstance(e, SpeakersUpdated)][-1].turns
    covered = sum(t["end"] - t["start"] for t in final)
    agreed = sum(max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
                 for a in held for b in final if a["speaker"] == b["speaker"])
    assert agreed >= 0.8 * covered, (held, final)


def test_a_resumed_connection_gives_a_returning_voice_its_label(server, token, testdata):
    """The call's connection is lost at 21.7 s, as speaker91's long turn begins; the resumed
    connection's first voice is speaker91, labelled S2 before the cut (speaker90 spoke first)."""
    audio, rate = read_wav(testdata / "sample.wav")
    cut = int(21.7 * rate)

    async def lose_connection():
        client = await LumenClient.connect(server.url, token)
        await stream_file(client, wav_bytes(audio[:cut], rate), rate * 2 * 4, 0.5)
        client.close()  # no `end`: resumable
        return client.session_id

    session_id = asyncio.run(lose_connection())
    before = [s for s in wait_ended(server, session_id, token)["segments"] if s["text"]]
    label = {s["speaker"] for s in before if 14.6 <= (s["start"] + s["end"]) / 2 <= 17.8}
    assert label == {"S2"}, before

    resumed, events = asyncio.run(stream_resumed(server.url, token, session_id, audio, rate, rate * 2 * 4))
    assert resumed.started["resumed_from"]["audio_offset"] == pytest.approx(cut / rate, abs=0.001)
    speakers = final_speakers(events)
    returning = [e for e in finals(events) if e.text and e.end <= 27.6]
    assert returning and {speakers[e.segment_id] for e in returning} == label, (returning, speakers)
    stored = fetch(server, session_id, token)
    assert {s["speaker"] for s in stored["segments"] if s["text"]} <= {"S1", "S2"}, "one name per voice"


def test_diarize_false_and_exact_count(server, token, testdata):
    audio, rate = read_wav(testdata / "sample.wav")
    data = wav_bytes(audio[: rate * 12], rate)
    client, events = asyncio.run(stream_session(server.url, token, data, rate * 2,
                                                {"diarize": False, "speaker_turns": True}))
    assert finals(events) and all(e.speaker is None for e in finals(events))
    assert client.started["config"]["speaker_turns"] is False  # nothing to send it from
    assert not any(isinstance(e, (SpeakerTurns, SpeakersUpdated)) for e in events)
    _, events = asyncio.run(stream_session(server.url, token, data, rate * 2, {"num_speakers": 1}))
    assert {e.speaker for e in finals(events) if e.text} == {"S1"}


def test_server_without_diarization(make_server, token, testdata):
    plain = make_server(diarization=False)
    audio, rate = read_wav(testdata / "jfk.wav")

    async def scenario():
        from lumen.client import LumenClient
        client = await LumenClient.connect(plain.url, token)
        assert client.started["config"]["diarize"] is False
        await client.send_audio(wav_bytes(audio, rate))
        await client.end()
        return [e async for e in client.events()]
    events = asyncio.run(scenario())
    assert finals(events) and all(e.speaker is None for e in events if isinstance(e, Transcript))
