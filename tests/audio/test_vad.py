"""The VAD segmenter on real recordings and on silence."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from lumen.audio.vad import SpeechEnd, SpeechPause, SpeechStart, VadOptions, VadSegmenter


def read_wav16k(path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768


def regions(segmenter: VadSegmenter, audio: np.ndarray, chunk: int) -> list[tuple[float, float]]:
    events = []
    for offset in range(0, audio.size, chunk):
        events += segmenter.feed(audio[offset:offset + chunk])
    events += segmenter.flush()
    events = [e for e in events if not isinstance(e, SpeechPause)]
    assert all(isinstance(e, SpeechStart) == (i % 2 == 0) for i, e in enumerate(events)), \
        "events must alternate start/end"
    return [(s.sample / 16000, e.sample / 16000) for s, e in zip(events[::2], events[1::2])]


def test_silence_and_noise_have_no_speech():
    rng = np.random.default_rng(0)
    segmenter = VadSegmenter()
    assert regions(segmenter, np.zeros(16000 * 5, np.float32), 320) == []
    assert regions(VadSegmenter(), (rng.standard_normal(16000 * 3) * 1e-4).astype(np.float32), 999) == []


@pytest.mark.parametrize("chunk", [1, 320, 4801, 16000])
def test_chunking_does_not_change_regions(testdata, chunk):
    audio = read_wav16k(testdata / "jfk.wav")
    assert regions(VadSegmenter(), audio, chunk) == regions(VadSegmenter(), audio, audio.size)


def test_jfk_speech_covered(testdata):
    audio = read_wav16k(testdata / "jfk.wav")
    found = regions(VadSegmenter(), audio, 480)
    assert found, "speech must be found"
    # The address starts at ~0.3 s and ends at ~10.6 s of the 11 s clip.
    assert found[0][0] < 0.8 and found[-1][1] > 9.8
    assert all(e > s for s, e in found)


def test_sample_speech_matches_reference(testdata):
    """Every reference speech turn of sample.wav overlaps a found region."""
    audio = read_wav16k(testdata / "sample.wav")
    found = regions(VadSegmenter(VadOptions(endpoint_silence=0.3)), audio, 320)
    turns = []
    for line in (testdata / "sample.rttm").read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        turns.append((start, start + duration))
    for start, end in turns:
        if end - start < 0.5:
            continue
        overlap = sum(max(0.0, min(end, e) - max(start, s)) for s, e in found)
        assert overlap >= 0.5 * (end - start), f"turn {start:.2f}-{end:.2f} mostly missed"


def test_endpoint_silence_controls_splitting(testdata):
    audio = read_wav16k(testdata / "sample.wav")
    eager = regions(VadSegmenter(VadOptions(endpoint_silence=0.2)), audio, 320)
    patient = regions(VadSegmenter(VadOptions(endpoint_silence=1.5)), audio, 320)
    assert len(eager) > len(patient) >= 1


def test_noise_gate_finds_the_pauses_webrtcvad_alone_misses(testdata):
    """jfk.wav has crowd noise ~30 dB under the voice: webrtcvad alone hears
    speech through the pause after "ask not"."""
    audio = read_wav16k(testdata / "jfk.wav")
    alone = regions(VadSegmenter(VadOptions(noise_margin_db=0)), audio, 480)
    gated = regions(VadSegmenter(), audio, 480)
    assert len(alone) == 2
    assert any(4.0 < end < 4.6 for _, end in gated), "pause after 'ask not' (4.3-5.4 s)"
    # The pause after "Americans" (2.1-3.2 s) comes before gate_after (3 s):
    # "And so my fellow Americans" alone is too short to be heard well.
    assert not any(end < 3.0 for _, end in gated)
    # The gate only ends regions: every gated region lies inside one found without it.
    assert all(any(s0 <= s and e <= e0 + 0.01 for s0, e0 in alone) for s, e in gated)


def test_pause_precedes_each_end_inside_speech(testdata):
    audio = read_wav16k(testdata / "jfk.wav")
    segmenter = VadSegmenter()
    events = []
    for offset in range(0, audio.size, 320):
        events += segmenter.feed(audio[offset:offset + 320])
    ends = [i for i, e in enumerate(events) if isinstance(e, SpeechEnd)]
    assert ends
    for i in ends:
        assert isinstance(events[i - 1], SpeechPause) and events[i - 1].sample == events[i].sample
    no_pauses = VadSegmenter(VadOptions(pause_silence=0)).feed(audio)
    assert not any(isinstance(e, SpeechPause) for e in no_pauses)
