"""Language detection per utterance over the live protocol, with the multilingual base model.

The non-English speech is real: prompts recorded by professional voice
actors for Asterisk, from Debian's ``asterisk-core-sounds-es-wav`` (Mexican
Spanish) and ``asterisk-core-sounds-fr-wav`` (Canadian French), CC-BY-SA 3.0,
8 kHz; ``scripts/setup_env.sh test`` installs them.  The English is jfk.wav.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soxr
from support import SECRET, LiveServer, finals, read_wav, stream_session, wav_bytes

from lumen.asr.engine import WhisperEngine
from lumen.auth import mint_token
from lumen.client import Transcript
from lumen.config import Settings

SOUNDS = Path("/usr/share/asterisk/sounds")
#: (language, recording, words the prompt says)
PROMPTS = [("es", "es_MX_f_Allison/vm-next.wav", "marque 6 para escuchar el proximo mensaje"),
           ("fr", "fr_CA_f_June/vm-login.wav", "messagerie asterisk veuillez composer votre numéro")]


@pytest.fixture(scope="module")
def base_server(base_model: Path) -> Iterator[LiveServer]:
    engine = WhisperEngine(base_model, contexts=1, threads=2)
    server = LiveServer(Settings(jwt_secret=SECRET, threads=2, diarization=False, model=str(base_model)),
                        engine, None).start()
    yield server
    server.stop()
    engine.close()


def recording(name: str) -> np.ndarray:
    path = SOUNDS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: scripts/setup_env.sh test installs asterisk-core-sounds-*-wav")
    audio, rate = read_wav(path)
    return soxr.resample(audio, rate, 16000).astype(np.float32)


@pytest.fixture(scope="module")
def mixed(testdata) -> tuple[bytes, list[tuple[float, float, str]]]:
    """jfk.wav, Spanish, French, each after 1.5 s of silence; with (start, end, language) spans."""
    jfk, rate = read_wav(testdata / "jfk.wav")
    parts = [("en", jfk)] + [(language, recording(name)) for language, name, _ in PROMPTS]
    audio, spans, position = [], [], 0
    for language, samples in parts:
        audio += [np.zeros(24000, np.float32), samples]
        position += 24000
        spans.append((position / 16000, (position + samples.size) / 16000, language))
        position += samples.size
    return wav_bytes(np.concatenate(audio + [np.zeros(24000, np.float32)]), 16000), spans


def test_language_auto_labels_each_utterance(base_server, mixed):
    data, spans = mixed
    client, events = asyncio.run(stream_session(base_server.url, mint_token(SECRET, sub="polyglot"), data,
                                                32000, {"language": "auto", "interim_results": "false"}))
    assert client.started["config"]["language"] == "auto"
    segments = [f for f in finals(events) if f.text]
    for start, end, language in spans:
        inside = [f for f in segments if start - 0.5 <= (f.start + f.end) / 2 <= end + 0.5]
        assert inside and all(f.language == language for f in inside), (language, inside)
        assert all(f.language_probability is not None and f.language_probability > 0.5 for f in inside)
    spanish = " ".join(f.text for f in segments if f.language == "es").lower()
    assert "mensaje" in spanish, spanish


def test_a_forced_language_has_no_probability(base_server):
    audio = recording(PROMPTS[0][1])
    _, events = asyncio.run(stream_session(base_server.url, mint_token(SECRET, sub="forced"),
                                           wav_bytes(audio, 16000), 32000, {"language": "es"}))
    transcripts = [e for e in events if isinstance(e, Transcript) and e.text]
    assert any(not t.is_final for t in transcripts) and any(t.is_final for t in transcripts)
    assert all(t.language == "es" and t.language_probability is None for t in transcripts)
