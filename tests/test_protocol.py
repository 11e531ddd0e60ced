"""Session options from the query string, and client messages."""

from __future__ import annotations

import json

import pytest

from lumen import protocol
from lumen.errors import BadRequestError


def test_defaults_and_values():
    assert protocol.parse_session_options({}) == protocol.SessionOptions()
    options = protocol.parse_session_options({
        "sample_rate": "44100", "encoding": "pcm_f32le", "channels": "2", "language": "EN",
        "interim_results": "false", "diarize": "0", "token": "ignored"})
    assert (options.sample_rate, options.encoding, options.channels, options.language,
            options.interim_results, options.diarize) == (44100, "pcm_f32le", 2, "en", False, False)


@pytest.mark.parametrize("query,message", [
    ({"sample_rate": "0"}, "sample_rate"),
    ({"sample_rate": "abc"}, "integer"),
    ({"sample_rate": "400000"}, "sample_rate"),
    ({"channels": "64"}, "channels"),
    ({"encoding": "mp3"}, "encoding"),
    ({"language": "english!"}, "language"),
    ({"interim_results": "perhaps"}, "interim_results"),
    ({"sampel_rate": "16000"}, "unknown query parameter"),
])
def test_bad_options(query, message):
    with pytest.raises(BadRequestError, match=message):
        protocol.parse_session_options(query)


def test_client_messages():
    for kind in ("finalize", "end", "keepalive"):
        assert protocol.parse_client_message(json.dumps({"type": kind})) == kind
    for bad in ("nope", "[]", '{"type": 3}', '{"type": "dance"}'):
        with pytest.raises(BadRequestError):
            protocol.parse_client_message(bad)


def test_messages_round_times():
    message = json.loads(protocol.transcript("s", 0, True, "hi", 1.23456, 2.0004, None, [], "en", 0.1234))
    assert message["start"] == 1.235 and message["end"] == 2.0 and message["lag"] == 0.123
    assert message["type"] == "transcript" and message["speaker"] is None
