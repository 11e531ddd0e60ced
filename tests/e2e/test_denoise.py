"""The audio front end over the live protocol: ``denoise=true``."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from support import final_text, finals, handshake, read_wav, stream_session, wav_bytes, wer

from lumen.client import ServerError, SessionEnded


def test_denoise_session_transcribes_and_keeps_time(server, token, testdata):
    audio, rate = read_wav(testdata / "jfk.wav")
    options = {"diarize": "false", "interim_results": "false", "denoise": "true"}
    client, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2,
                                                options, chunk_seconds=0.5))
    assert client.started["config"]["denoise"] is True
    assert not [e for e in events if isinstance(e, ServerError)]
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert len(ended) == 1 and ended[0].audio_seconds == pytest.approx(audio.size / rate, abs=0.001)
    text = final_text(events)
    assert wer((testdata / "jfk.txt").read_text(), text) <= 0.15, text
    words = [w for f in finals(events) for w in f.words]
    # Timestamps stay on the audio clock: "country" (the last word) ends near 10.6 s.
    assert words[-1].end == pytest.approx(10.6, abs=0.5) and words[-1].end <= audio.size / rate + 0.05


def test_denoise_defaults_to_the_server_setting(server, token):
    client, _ = asyncio.run(stream_session(server.url, token, wav_bytes(np.zeros(8000), 16000),
                                           32000, {"diarize": "false"}))
    assert client.started["config"]["denoise"] is False


def test_bad_denoise_value_is_refused_at_the_handshake(server, token):
    status, _, body = handshake(server, query="?denoise=maybe", headers={"Authorization": f"Bearer {token}"})
    assert status == 400 and body["error"] == "bad_request"
    assert "denoise must be true or false" in body["message"]
