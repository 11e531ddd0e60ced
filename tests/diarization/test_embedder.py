"""The GE2E speaker encoder on real speech: same voice closer than another voice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lumen.diarization import SpeakerEmbedder
from lumen.diarization.embedder import default_weights
from lumen.errors import DiarizationError

from diarization_support import SAMPLE_RATE, solo_stretches


def _windows(audio: np.ndarray, stretches: list[tuple[float, float, str]], length: float = 1.5):
    """1.5 s windows (every 0.75 s) inside each single-speaker stretch, with their speaker."""
    out = []
    for start, end, name in stretches:
        t = start
        while t + length <= end:
            out.append((audio[int(t * SAMPLE_RATE):int((t + length) * SAMPLE_RATE)], name))
            t += length / 2
    return out


def test_same_speaker_is_more_similar_than_the_other(embedder: SpeakerEmbedder, sample: np.ndarray,
                                                      sample_turns) -> None:
    windows = _windows(sample, solo_stretches(sample_turns, 1.5))
    names = np.array([n for _, n in windows])
    assert len(set(names)) == 2 and len(windows) >= 10
    emb = embedder.embed([w for w, _ in windows])
    sim = emb @ emb.T
    same = names[:, None] == names[None, :]
    off_diagonal = ~np.eye(len(names), dtype=bool)
    same_mean, other_mean = sim[same & off_diagonal].mean(), sim[~same].mean()
    print(f"\nsample.wav 1.5 s windows: same-speaker cosine {same_mean:.3f}, other speaker {other_mean:.3f}")
    assert same_mean > other_mean + 0.05
    # and each window's nearest speaker centroid (leaving itself out) is its own
    for i in range(len(names)):
        centroids = {n: emb[(names == n) & (np.arange(len(names)) != i)].mean(axis=0) for n in set(names)}
        assert max(centroids, key=lambda n: centroids[n] @ emb[i]) == names[i]


def test_embeddings_are_unit_length_and_batching_does_not_change_them(embedder: SpeakerEmbedder,
                                                                      sample: np.ndarray) -> None:
    windows = [sample[8 * SAMPLE_RATE:int(9.5 * SAMPLE_RATE)], sample[15 * SAMPLE_RATE:16 * SAMPLE_RATE],
               sample[20 * SAMPLE_RATE:int(21.5 * SAMPLE_RATE)]]
    together = embedder.embed(windows)
    alone = np.concatenate([embedder.embed([w]) for w in windows])
    assert together.shape == (3, 256) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert embedder.embed([]).shape == (0, 256)


def test_quiet_microphones_are_raised_to_the_encoders_level(embedder: SpeakerEmbedder, sample: np.ndarray) -> None:
    window = sample[10 * SAMPLE_RATE:int(11.5 * SAMPLE_RATE)]  # -28 dBFS: left as it is
    as_recorded, quiet, quieter = embedder.embed([window, window * 0.1, window * 0.01])
    assert float(quiet @ quieter) > 0.9999  # both raised to -30 dBFS
    assert float(as_recorded @ quiet) > 0.99


def test_empty_window_is_refused(embedder: SpeakerEmbedder) -> None:
    with pytest.raises(ValueError):
        embedder.embed([np.zeros(0, dtype=np.float32)])


def test_missing_weights_raise_diarization_error(tmp_path: Path) -> None:
    with pytest.raises(DiarizationError, match="not found"):
        SpeakerEmbedder(weights=tmp_path / "pretrained.pt")


def test_unreadable_weights_raise_diarization_error(tmp_path: Path) -> None:
    broken = tmp_path / "pretrained.pt"
    broken.write_bytes(default_weights().read_bytes()[:1000])
    with pytest.raises(DiarizationError, match="cannot load"):
        SpeakerEmbedder(weights=broken)


def test_missing_package_raises_diarization_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # the package is installed here; hide it from the lookup rather than uninstall it
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    with pytest.raises(DiarizationError, match="pip install"):
        SpeakerEmbedder()


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def test_memory_stays_bounded_over_many_window_shapes(embedder: SpeakerEmbedder) -> None:
    """Regression (soak RSS growth): oneDNN caches a primitive per input shape; every
    new (batch, length) used to cost ~0.25-0.5 MiB for good, 1024 shapes deep."""
    rng = np.random.default_rng(7)

    def embed_shapes(count: int) -> None:
        for _ in range(count):
            batch, length = int(rng.integers(1, 12)), int(rng.integers(8000, 24000))
            embedder.embed([rng.standard_normal(length).astype(np.float32) * 0.1 for _ in range(batch)])

    embed_shapes(60)  # warm: the bounded cache fills, the allocator settles
    before = _rss_mib()
    embed_shapes(150)  # 150 more shapes, nearly all new: ~50-75 MiB without the bound
    growth = _rss_mib() - before
    print(f"\nRSS growth over 150 new window shapes: {growth:.1f} MiB")
    assert growth < 20
