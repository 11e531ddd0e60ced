"""The native mel front end against resemblyzer's own (librosa) front end."""

from __future__ import annotations

import threading
import warnings

import librosa
import numpy as np
import pytest

from lumen.audio.mel import MelOptions, MelSpectrogram

with warnings.catch_warnings():  # resemblyzer imports the deprecated scipy.ndimage.morphology
    warnings.simplefilter("ignore", DeprecationWarning)
    from resemblyzer.audio import wav_to_mel_spectrogram


def test_matches_resemblyzer_front_end_on_speech(sample: np.ndarray) -> None:
    reference = wav_to_mel_spectrogram(sample)
    ours = MelSpectrogram()(sample)
    assert ours.shape == reference.shape == (1 + len(sample) // 160, 40)
    error = float(np.abs(ours - reference).max())
    relative = error / float(reference.max())
    print(f"\nmel vs resemblyzer/librosa {librosa.__version__} on sample.wav: max abs error {error:.3g} "
          f"(peak {reference.max():.3g}, relative {relative:.2g})")
    assert relative < 1e-5


def test_filterbank_is_librosas() -> None:
    ours = MelSpectrogram().filters()
    reference = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("options", [
    MelOptions(sample_rate=22050, n_fft=2048, hop=512, n_mels=128),
    MelOptions(n_fft=398, hop=100, n_mels=30, fmin=50.0, fmax=7000.0),  # 199-point (prime) FFT
    MelOptions(n_fft=2, hop=1, n_mels=1),
])
def test_other_geometries_match_librosa(options: MelOptions) -> None:
    audio = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    reference = librosa.feature.melspectrogram(
        y=audio, sr=options.sample_rate, n_fft=options.n_fft, hop_length=options.hop,
        n_mels=options.n_mels, fmin=options.fmin, fmax=options.fmax).T
    ours = MelSpectrogram(options)(audio)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1e-5 * reference.max()


@pytest.mark.filterwarnings("ignore:n_fft=400 is too large")
@pytest.mark.parametrize("length", [1, 159, 160, 399, 400, 401])
def test_short_inputs_are_centred_and_zero_padded(length: int) -> None:
    audio = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    reference = wav_to_mel_spectrogram(audio)
    ours = MelSpectrogram()(audio)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-7)


def test_empty_input_has_no_frames() -> None:
    assert MelSpectrogram()(np.zeros(0, dtype=np.float32)).shape == (0, 40)


@pytest.mark.parametrize("options", [
    MelOptions(n_fft=401), MelOptions(hop=0), MelOptions(n_mels=0), MelOptions(fmax=9000.0),
    MelOptions(fmin=8000.0),
])
def test_invalid_geometry_is_refused(options: MelOptions) -> None:
    with pytest.raises(ValueError):
        MelSpectrogram(options)


def test_threads_share_one_transform(sample: np.ndarray) -> None:
    mel = MelSpectrogram()
    expected = mel(sample)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(mel(sample))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(r, expected) for r in results)
