"""Medical terms on finals over the live protocol.

There is no recorded clinical speech in the test data, so the clinical
sentences are synthesized with Debian's espeak-ng at test time (a robotic
voice: tiny.en mishears some words, e.g. "metformin"; the sentences below are
the ones it hears well enough to carry terms).
"""

from __future__ import annotations

import asyncio

import pytest
from support import finals, speak, stream_session

SENTENCES = ["The patient has type two diabetes and takes metformin twice a day.",
             "She was treated for pneumonia with amoxicillin, and her asthma is stable."]


@pytest.fixture(scope="module")
def clinical_speech(tmp_path_factory) -> bytes:
    return speak(SENTENCES, tmp_path_factory.mktemp("tts"))


def test_finals_carry_drug_and_condition_terms(server, token, clinical_speech):
    client, events = asyncio.run(stream_session(server.url, token, clinical_speech, 44100,
                                                 {"terms": "true", "diarize": "false"}))
    assert client.started["config"]["terms"] is True
    segments = [f for f in finals(events) if f.text]
    assert segments and all(f.terms is not None for f in segments)
    terms = [t for f in segments for t in f.terms]
    assert {(t["category"], t["code"]) for t in terms} >= {
        ("condition", "E11"), ("condition", "J18"), ("drug", "DB01060")}, terms
    for final in segments:
        for term in final.terms:
            assert final.start <= term["start"] < term["end"] <= final.end
            assert term["text"].lower() in final.text.lower()
    partials = [e for e in events if getattr(e, "is_final", True) is False]
    assert all(p.terms is None for p in partials), "partials carry no terms"


def test_terms_are_off_unless_asked(server, token, clinical_speech):
    _, events = asyncio.run(stream_session(server.url, token, clinical_speech, 44100,
                                           {"diarize": "false"}))
    assert finals(events) and all(f.terms is None for f in finals(events))
