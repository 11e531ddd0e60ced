"""Full live sessions over a real server with the real model and real audio."""

from __future__ import annotations

import asyncio
import logging
import re
import struct

import numpy as np
import pytest
import soxr
from support import (SECRET, collect, final_text, finals, pcm_s16, read_wav, stream_session,
                     wav_bytes, wer)

from lumen.auth import mint_token
from lumen.client import Closed, LumenClient, ServerError, SessionEnded, Transcript, stream_file

JFK_MAX_WER = 0.10
#: At real-time pace on a loaded machine, long utterances are committed early at
#: word boundaries and tiny.en hears a window that starts mid-phrase less well
#: (seen once under heavy load: 18 %, "do for you" lost after an early cut;
#: the live issue's note tracks it).
JFK_MAX_WER_REALTIME = 0.10


@pytest.fixture(scope="module")
def jfk(testdata):
    audio, rate = read_wav(testdata / "jfk.wav")
    return audio, rate, (testdata / "jfk.txt").read_text()


def check_session(events, reference, audio_seconds, max_wer=JFK_MAX_WER):
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].reason == "client_end"
    assert ended[0].audio_seconds == pytest.approx(audio_seconds, abs=0.001)
    assert isinstance(events[-1], Closed) and events[-1].code == 1000
    assert not [e for e in events if isinstance(e, ServerError)]
    text = final_text(events)
    assert wer(reference, text) <= max_wer, text
    segments = finals(events)
    ids = [s.segment_id for s in segments]
    assert ids == sorted(set(ids)), "segment ids are unique and increasing"
    previous_end = 0.0
    for segment in segments:
        assert segment.words, segment
        assert segment.start <= segment.end <= audio_seconds + 0.05
        for word in segment.words:
            assert previous_end - 0.05 <= word.start <= word.end <= audio_seconds + 0.05
            assert 0.0 <= word.confidence <= 1.0
            previous_end = word.end
    return segments


@pytest.mark.parametrize("realtime", [True, False], ids=["realtime", "fast"])
def test_jfk_wav_in_one_second_chunks(server, token, jfk, realtime):
    audio, rate, reference = jfk
    data = wav_bytes(audio, rate)
    _, events = asyncio.run(stream_session(server.url, token, data, rate * 2, chunk_seconds=1.0,
                                           realtime=realtime))
    segments = check_session(events, reference, audio.size / rate,
                             JFK_MAX_WER_REALTIME if realtime else JFK_MAX_WER)
    # "ask not what your country can do for you" is in the second half.
    country = [w for s in segments for w in s.words if "country" in w.text.lower()]
    assert country and all(5.0 <= w.start <= 10.5 for w in country)
    if realtime:
        partials = [e for e in events if isinstance(e, Transcript) and not e.is_final]
        # About one a second when the machine is idle; partials are merged (by
        # design) while inference lags, so a loaded machine sees fewer.
        assert len(partials) >= 2, "partials come while the speech goes on"


@pytest.mark.parametrize("rate,channels", [(8000, 1), (44100, 2)])
def test_raw_pcm_other_rates_same_words(server, token, jfk, rate, channels):
    audio, source_rate, reference = jfk
    converted = soxr.resample(audio, source_rate, rate, "HQ").astype(np.float32)
    if channels == 2:
        converted = np.stack([converted, converted * 0.5], axis=1)
    pcm = pcm_s16(converted)
    options = {"sample_rate": rate, "channels": channels, "encoding": "pcm_s16le"}
    _, events = asyncio.run(stream_session(server.url, token, pcm, rate * channels * 2, options,
                                           chunk_seconds=0.5))
    check_session(events, reference, audio.size / source_rate)


def test_finalize_then_end(server, token, jfk):
    audio, rate, reference = jfk
    data = wav_bytes(audio, rate)

    async def scenario():
        client = await LumenClient.connect(server.url, token, {"interim_results": False})
        receiver = asyncio.ensure_future(collect(client))
        half = len(data) // 2
        await client.send_audio(data[:half])
        await client.finalize()
        await client.send_audio(data[half:])
        await client.end()
        return await receiver

    events = asyncio.run(scenario())
    assert not [e for e in events if isinstance(e, Transcript) and not e.is_final]
    assert len(finals(events)) >= 2, "finalize turned the first half into a final"
    assert wer(reference, final_text(events)) <= 0.25  # a cut mid-word may cost a word


def test_idle_timeout_closes_1008(make_server, jfk):
    idle = make_server(idle_timeout=1.0)
    audio, rate, _ = jfk

    async def scenario():
        client = await LumenClient.connect(idle.url, mint_token(SECRET, sub="idle"))
        await client.send_audio(wav_bytes(audio[: rate * 3], rate))
        return await asyncio.wait_for(collect(client), 60)

    events = asyncio.run(scenario())
    errors = [e for e in events if isinstance(e, ServerError)]
    assert errors and errors[0].code == "idle_timeout"
    assert finals(events), "the audio sent before the timeout is still transcribed"
    assert isinstance(events[-1], Closed) and events[-1].code == 1008


def test_max_session_length_flushes_then_1008(make_server, jfk):
    short = make_server(max_session_seconds=4.0, diarization=False)
    audio, rate, _ = jfk

    async def scenario():
        client = await LumenClient.connect(short.url, mint_token(SECRET, sub="long"))
        receiver = asyncio.ensure_future(collect(client))
        try:  # real-time pace, longer than the limit
            await stream_file(client, wav_bytes(audio, rate), rate * 2, 0.5, realtime=True)
        except Exception:  # the server closed the session mid-stream: what is tested
            pass
        return await asyncio.wait_for(receiver, 60)

    events = asyncio.run(scenario())
    errors = [e for e in events if isinstance(e, ServerError)]
    assert [e.code for e in errors] == ["session_too_long"] and "4 s" in errors[0].message
    assert "fellow americans" in final_text(events).lower(), "audio before the limit is transcribed"
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and 3.5 <= ended[0].audio_seconds <= 5.5
    assert isinstance(events[-1], Closed) and events[-1].code == 1008


def test_oversized_frame_1009(make_server, token):
    small = make_server(max_frame_bytes=64 * 1024)

    async def scenario():
        client = await LumenClient.connect(small.url, token)
        await client.send_audio(b"\0" * (100 * 1024))
        return await asyncio.wait_for(collect(client), 30)

    events = asyncio.run(scenario())
    assert [e.code for e in events if isinstance(e, ServerError)] == ["frame_too_large"]
    assert events[-1].code == 1009


def test_oversized_text_message_1009(make_server, token):
    small = make_server(max_frame_bytes=64 * 1024)

    async def scenario():
        client = await LumenClient.connect(small.url, token)
        await client.connection.write_message('{"type": "keepalive", "pad": "' + "x" * (100 * 1024) + '"}')
        return await asyncio.wait_for(collect(client), 30)

    events = asyncio.run(scenario())
    assert [(e.code, e.message) for e in events if isinstance(e, ServerError)] == [
        ("frame_too_large", "text message of 102432 bytes exceeds the limit of 65536 bytes")]
    assert events[-1].code == 1009


def test_message_with_more_audio_than_max_lag_1009(make_server, token, jfk):
    """One message may not put the session further ahead than ``max_lag``; the audio before it is kept."""
    audio, rate, _ = jfk
    strict = make_server(max_lag=5.0)

    async def scenario():
        client = await LumenClient.connect(strict.url, token, {"diarize": "false"})
        await client.send_audio(pcm_s16(audio[:4 * rate]))
        await client.send_audio(pcm_s16(audio[4 * rate:]))  # 7 s
        return await asyncio.wait_for(collect(client), 60)

    events = asyncio.run(scenario())
    assert [(e.code, e.message) for e in events if isinstance(e, ServerError)] == [
        ("frame_too_large",
         "audio message of 7.0 s exceeds max_lag (5 s); send audio in messages of 20 ms to 5 s")]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].audio_seconds == pytest.approx(4.0)
    assert "fellow americans" in final_text(events).lower(), "audio before the message is transcribed"
    assert events[-1].code == 1009


def test_two_long_messages_end_overloaded_not_dropped(make_server, token, jfk):
    """Found by an audit: two 66 s messages (under max_lag 70 s each) overflowed the
    recognizer's 120 s ring, and the connection was dropped without a word.  Now
    the ring holds what the session may accept: 1013 after the second, all of it transcribed."""
    audio, rate, _ = jfk
    lenient = make_server(max_lag=70.0)
    message = pcm_s16(np.tile(audio, 6))  # 66 s of speech

    async def scenario():
        client = await LumenClient.connect(lenient.url, token, {"diarize": "false", "interim_results": "false"})
        await client.send_audio(message)
        await client.send_audio(message)
        return await asyncio.wait_for(collect(client), 300)

    events = asyncio.run(scenario())
    assert [e.code for e in events if isinstance(e, ServerError)] == ["overloaded"]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].audio_seconds == pytest.approx(132.0)
    assert final_text(events).lower().count("ask what you can do for your country") == 12, "every copy transcribed"
    assert events[-1].code == 1013


def test_garbage_audio_1007_and_server_keeps_serving(server, token, jfk):
    async def scenario():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 16 + b"junk")
        return await asyncio.wait_for(collect(client), 30)

    events = asyncio.run(scenario())
    errors = [e for e in events if isinstance(e, ServerError)]
    assert errors and errors[0].code == "invalid_audio" and errors[0].message
    assert events[-1].code == 1007
    audio, rate, reference = jfk
    _, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2))
    check_session(events, reference, audio.size / rate)


def test_each_message_a_whole_wav_file(server, token, jfk):
    """A recorder that sends each one-second slice as a WAV file of its own: one stream."""
    audio, rate, reference = jfk
    data = b"".join(wav_bytes(audio[i:i + rate], rate) for i in range(0, audio.size, rate))
    file_bytes = len(wav_bytes(audio[:rate], rate))  # one message a file
    _, events = asyncio.run(stream_session(server.url, token, data, file_bytes, chunk_seconds=1.0))
    check_session(events, reference, audio.size / rate)


@pytest.mark.parametrize("tail, sent_as", [
    (b"LIST" + struct.pack("<I", 32 << 20), "one message"),
    (b"RIFF\x24\x00\x00\x00WA", "a stream cut inside a second WAV's header")])
def test_audio_before_bad_bytes_is_still_transcribed(server, token, jfk, tail, sent_as):
    """A whole file in one message, then bytes that cannot be decoded: the file's words
    all come, then the error (1007); nothing accepted is lost."""
    audio, rate, reference = jfk

    async def scenario():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(wav_bytes(audio, rate) + tail)
        await client.end()
        return await asyncio.wait_for(collect(client), 60)

    events = asyncio.run(scenario())
    assert [e.code for e in events if isinstance(e, ServerError)] == ["invalid_audio"], sent_as
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].reason == "invalid_audio"
    assert ended[0].audio_seconds == pytest.approx(audio.size / rate, abs=0.001)
    assert wer(reference, final_text(events)) <= JFK_MAX_WER, final_text(events)
    assert isinstance(events[-1], Closed) and events[-1].code == 1007


def wav_header(channels: int = 1, rate: int = 16000, fmt_size: int = 16) -> bytes:
    """A 16-bit PCM WAV header; its fields may be absurd."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    return (b"RIFF\xff\xff\xff\xffWAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt
            + b"data\xff\xff\xff\xff")


ABSURD_HEADERS = [
    (wav_header(rate=0), "WAV fmt chunk declares 0 Hz sample rate"),
    (wav_header(channels=40), "WAV declares 40 channels; at most 32 are supported"),
    (wav_header(fmt_size=2**31), "WAV fmt chunk declares 2147483648 bytes; expected 16 to 1024"),
]


@pytest.mark.parametrize("header, message", ABSURD_HEADERS, ids=["0Hz", "40ch", "2^31"])
def test_absurd_wav_headers_1007_with_the_reason(server, token, header, message):
    async def scenario():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(header + b"\0" * 3200)
        return await asyncio.wait_for(collect(client), 30)

    events = asyncio.run(scenario())
    assert [(e.code, e.message) for e in events if isinstance(e, ServerError)] == [("invalid_audio", message)]
    assert isinstance(events[-1], Closed) and events[-1].code == 1007


def test_ten_channels_are_mixed_down_not_refused(server, token, jfk):
    """Up to 32 channels are valid (microphone arrays); each is averaged into mono."""
    audio, rate, reference = jfk
    data = wav_header(channels=10, rate=rate) + pcm_s16(np.repeat(audio, 10))
    _, events = asyncio.run(stream_session(server.url, token, data, rate * 20))
    check_session(events, reference, audio.size / rate)


def test_bad_text_message_keeps_session(server, token, jfk):
    audio, rate, reference = jfk

    async def scenario():
        client = await LumenClient.connect(server.url, token)
        receiver = asyncio.ensure_future(collect(client))
        await client.connection.write_message("not json")
        await client.connection.write_message('{"type": "dance"}')
        await client.send_control("keepalive")
        await client.send_audio(wav_bytes(audio, rate))
        await client.end()
        return await receiver

    events = asyncio.run(scenario())
    assert [e.code for e in events if isinstance(e, ServerError)] == ["bad_message", "bad_message"]
    assert wer(reference, final_text(events)) <= JFK_MAX_WER


def test_a_client_waiting_for_its_backlog_is_not_idle(make_server, token, testdata, jfk):
    """Found by an audit: a client that sent a file faster than real time and waited for
    its results, sending nothing, was ended as idle while the server still transcribed."""
    impatient = make_server(idle_timeout=1.0)
    backlog, rate = read_wav(testdata / "sample.wav")
    audio, _, reference = jfk

    async def scenario():
        client = await LumenClient.connect(impatient.url, token, {"diarize": "false"})
        receiver = asyncio.ensure_future(collect(client))
        await client.send_audio(wav_bytes(backlog, rate))  # ~4 s of work here
        await asyncio.sleep(1.5)  # > idle_timeout, < the work
        await client.send_audio(wav_bytes(audio, rate))  # (a second WAV file in the stream)
        await client.end()
        return await asyncio.wait_for(receiver, 120)

    events = asyncio.run(scenario())
    assert not [e for e in events if isinstance(e, ServerError)]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    sent = (backlog.size + audio.size) / rate
    assert len(ended) == 1 and ended[0].audio_seconds == pytest.approx(sent, abs=0.01)
    assert "ask what you can do for your country" in final_text(events).lower()
    assert isinstance(events[-1], Closed) and events[-1].code == 1000


def test_token_expiry_flushes_then_1008(server, jfk):
    """The session ends when the token does, give or take the leeway (10 s) the handshake
    allows: a token 7 s past its ``exp`` is taken and lasts 3 s more (it used to end at once)."""
    audio, rate, _ = jfk
    token = mint_token(SECRET, sub="short-lived", ttl=-7)

    async def scenario():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(wav_bytes(audio[: rate * 3], rate))
        return await asyncio.wait_for(collect(client), 60)

    events = asyncio.run(scenario())
    assert finals(events), "audio received before expiry is transcribed"
    assert [e.code for e in events if isinstance(e, ServerError)] == ["token_expired"]
    assert events[-1].code == 1008


def test_client_that_just_closes_is_processed_quietly(server, token, jfk, caplog):
    """The transcript store keeps its finals, so a client that vanishes still has its
    audio transcribed (with the store off, it is aborted: ``test_faults.py``)."""
    audio, rate, _ = jfk
    caplog.set_level(logging.INFO)

    async def scenario():
        client = await LumenClient.connect(server.url, token)
        await client.send_audio(wav_bytes(audio, rate))
        client.close()
    asyncio.run(scenario())
    server.wait_idle()
    ended = [r for r in caplog.records if "session ended" in r.getMessage()]
    assert ended and "client_closed" in ended[-1].getMessage()
    message = ended[-1].getMessage()
    assert "11.000 s of audio" in message
    assert int(re.search(r"(\d+) segments", message).group(1)) >= 1, "its finals were still made"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
