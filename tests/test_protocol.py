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

    assert not protocol.SessionOptions().speaker_turns  # opt-in: most clients want labels on text only
    assert protocol.parse_session_options({"speaker_turns": "true"}).speaker_turns
    with pytest.raises(BadRequestError, match="speaker_turns must be true or false"):
        protocol.parse_session_options({"speaker_turns": "sometimes"})
    assert protocol.SessionOptions().denoise is None  # unset: the server's setting
    assert protocol.parse_session_options({"denoise": "true"}).denoise is True
    assert protocol.parse_session_options({"denoise": "off"}).to_dict()["denoise"] is False


@pytest.mark.parametrize("query,message", [
    ({"sample_rate": "0"}, "sample_rate"),
    ({"sample_rate": "abc"}, "integer"),
    # int() would take these; a client that sends them has a bug worth hearing about.
    ({"sample_rate": "16_000"}, "sample_rate must be an integer, got '16_000'"),
    ({"sample_rate": " 16000"}, "integer"),
    ({"sample_rate": "\uff11\uff16\uff10\uff10\uff10"}, "integer"),  # full-width digits
    ({"channels": "-1"}, "channels must be an integer, got '-1'"),
    # Contradictions are refused whether or not the server diarizes.
    ({"num_speakers": "2", "max_speakers": "1"}, "min_speakers .* must not exceed|num_speakers \\(2\\) must lie"),
    ({"num_speakers": "3", "min_speakers": "5"}, "num_speakers \\(3\\) must lie between"),
    ({"sample_rate": "400000"}, "sample_rate"),
    ({"channels": "64"}, "channels"),
    ({"encoding": "mp3"}, "encoding"),
    ({"language": "english!"}, "language"),
    ({"interim_results": "perhaps"}, "interim_results"),
    ({"denoise": "maybe"}, "denoise must be true or false"),
    ({"sampel_rate": "16000"}, "unknown query parameter"),
])
def test_bad_options(query, message):
    with pytest.raises(BadRequestError, match=message):
        protocol.parse_session_options(query)


def test_client_messages():
    for kind in ("finalize", "end", "keepalive"):
        assert protocol.parse_client_message(json.dumps({"type": kind})).type == kind
    for bad in ("nope", "[]", '{"type": 3}', '{"type": "dance"}'):
        with pytest.raises(BadRequestError):
            protocol.parse_client_message(bad)


def test_keyterms_in_the_query_and_in_configure():
    options = protocol.parse_session_options({"keyterms": " metformin, Dr. Okafor ,,metformin"})
    assert options.keyterms == ("metformin", "Dr. Okafor")
    message = protocol.parse_client_message(json.dumps({"type": "configure", "keyterms": ["warfarin"]}))
    assert message == protocol.ClientMessage("configure", ("warfarin",))
    assert protocol.parse_client_message('{"type": "configure"}').keyterms is None
    assert protocol.parse_client_message('{"type": "configure", "keyterms": []}').keyterms == ()


@pytest.mark.parametrize("body, message", [
    ({"keyterms": "metformin"}, "keyterms must be a list of strings"),
    ({"keyterms": [1, 2]}, "keyterms must be a list of strings"),
    ({"keyterms": [f"t{i}" for i in range(51)]}, "at most 50 keyterms, got 51"),
    ({"keyterms": ["x" * 51]}, "is over 50 characters"),
    ({"keyterms": ["x" * 40] * 1 + [f"term number {i:02d} long" for i in range(30)]}, "total over 600 characters"),
    ({"language": "fr"}, "configure does not take language"),
])
def test_bad_configure_bodies(body, message):
    with pytest.raises(BadRequestError, match=message):
        protocol.parse_client_message(json.dumps({"type": "configure", **body}))


def test_messages_round_times():
    message = json.loads(protocol.transcript("s", 0, True, "hi", 1.23456, 2.0004, None, [], "fr", 0.98765,
                                             0.1234))
    assert message["start"] == 1.235 and message["end"] == 2.0 and message["lag"] == 0.123
    assert message["type"] == "transcript" and message["speaker"] is None
    assert message["language"] == "fr" and message["language_probability"] == 0.988
    assert "terms" not in message
    forced = json.loads(protocol.transcript("s", 0, True, "hi", 0, 1, None, [], "en", None, 0, terms=[]))
    assert forced["language_probability"] is None and forced["terms"] == []
