"""Vocabulary boosting over the live protocol: ``keyterms`` and the ``configure`` message.

The speech is synthesized with espeak-ng (support.speak): tiny.en hears its
"warfarin" as "warfare in" and "atrial fibrillation" as "a trail
fibrillation" unless told to expect them (scripts/eval_keyterms.py).
"""

from __future__ import annotations

import asyncio

import pytest
from support import collect, final_text, finals, speak, stream_session

from lumen.client import LumenClient, ServerError

SENTENCE = "He has high blood pressure and takes aspirin and warfarin for atrial fibrillation."
KEYTERMS = ["warfarin", "atrial fibrillation"]


@pytest.fixture(scope="module")
def sentence(tmp_path_factory) -> bytes:
    return speak([SENTENCE], tmp_path_factory.mktemp("tts"))


def test_keyterms_bring_out_words_the_model_misses(server, token, sentence):
    options = {"diarize": "false", "interim_results": "false"}
    _, plain = asyncio.run(stream_session(server.url, token, sentence, 44100, options))
    client, boosted = asyncio.run(stream_session(server.url, token, sentence, 44100,
                                                 {**options, "keyterms": ",".join(KEYTERMS)}))
    assert client.started["config"]["keyterms"] == KEYTERMS
    assert "warfarin" not in final_text(plain).lower() and "atrial" not in final_text(plain).lower()
    boosted_text = final_text(boosted).lower()
    assert "warfarin" in boosted_text and "atrial fibrillation" in boosted_text, boosted_text


def test_configure_mid_stream_applies_from_the_next_utterance(server, token, sentence):
    pcm = sentence[44:]  # raw s16le at 22.05 kHz: the same speech is sent twice in one stream

    async def scenario():
        client = await LumenClient.connect(server.url, token, {"diarize": "false", "interim_results": "false",
                                                               "sample_rate": 22050})
        receiver = asyncio.ensure_future(collect(client))
        await client.send_audio(pcm)
        await client.finalize()
        await client.configure(KEYTERMS)
        await client.connection.write_message('{"type": "configure", "keyterms": "warfarin"}')  # refused, kept
        await client.send_audio(pcm)
        await client.end()
        return await asyncio.wait_for(receiver, 120)

    events = asyncio.run(scenario())
    errors = [e for e in events if isinstance(e, ServerError)]
    assert [e.code for e in errors] == ["bad_message"] and "list of strings" in errors[0].message
    half = len(pcm) / 2 / 22050  # the second copy starts here, in session time
    before = " ".join(f.text.lower() for f in finals(events) if f.text and f.end <= half)
    after = " ".join(f.text.lower() for f in finals(events) if f.text and f.start >= half)
    assert before and "warfarin" not in before, before
    assert "warfarin" in after, after
