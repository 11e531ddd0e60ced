"""Clustering real embeddings of the two-speaker call: speaker count and the bounds on it."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from diarization_support import SAMPLE_RATE, solo_stretches

from lumen.diarization import DiarizationOptions, SpeakerEmbedder
from lumen.diarization.clustering import cluster, nemo_clustering

# NeMo's speaker count calls torch.jit.fork; lumen silences that warning once at load, and
# pytest restores the warning filters after every test
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


@pytest.fixture(scope="module")
def call(embedder: SpeakerEmbedder, sample: np.ndarray, sample_turns) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of 1.5 s windows every 0.75 s from 6.5 s to the end, and each window's
    majority reference speaker."""
    starts = np.arange(6.5, 28.5, 0.75)
    windows = [sample[int(s * SAMPLE_RATE):int((s + 1.5) * SAMPLE_RATE)] for s in starts]
    names = []
    for s in starts:
        talk: dict[str, float] = {}
        for b, e, n in sample_turns:
            talk[n] = talk.get(n, 0.0) + max(0.0, min(e, s + 1.5) - max(b, s))
        names.append(max(talk, key=lambda n: talk[n]))
    return embedder.embed(windows), np.array(names)


def _purity(labels: np.ndarray, names: np.ndarray) -> float:
    """Share of windows whose cluster's majority speaker is theirs."""
    right = 0
    for c in set(labels):
        right += max((names[labels == c] == n).sum() for n in set(names))
    return right / len(labels)


@pytest.mark.parametrize("path, nme_min_windows", [("agglomerative", 1000), ("nme-sc", 8)])
def test_two_speakers_found(call, path: str, nme_min_windows: int) -> None:
    emb, names = call
    options = DiarizationOptions(nme_min_windows=nme_min_windows)
    labels = cluster(emb, options)
    assert len(set(labels)) == 2, path
    assert _purity(labels, names) >= 0.85, path


@pytest.mark.parametrize("field, value, expected", [
    ("num_speakers", 3, 3), ("num_speakers", 1, 1), ("min_speakers", 3, 3), ("max_speakers", 1, 1)])
@pytest.mark.parametrize("nme_min_windows", [1000, 8])
def test_speaker_bounds_are_honoured(call, field: str, value: int, expected: int, nme_min_windows: int) -> None:
    emb, _ = call
    bounds = {"max_speakers": max(value, 8)} if field == "min_speakers" else {}
    options = replace(DiarizationOptions(nme_min_windows=nme_min_windows),
                      **bounds, **{field: value})
    assert len(set(cluster(emb, options))) == expected


def test_one_voice_stays_one_speaker(embedder: SpeakerEmbedder, sample: np.ndarray, sample_turns) -> None:
    longest = max(solo_stretches(sample_turns, 1.5), key=lambda s: s[1] - s[0])  # 21.8-27.8 s
    starts = np.arange(longest[0], longest[1] - 1.5, 0.5)
    emb = embedder.embed([sample[int(s * SAMPLE_RATE):int((s + 1.5) * SAMPLE_RATE)] for s in starts])
    assert len(set(cluster(emb, DiarizationOptions()))) == 1


def test_tiny_inputs() -> None:
    assert cluster(np.zeros((0, 256), dtype=np.float32), DiarizationOptions()).shape == (0,)
    assert list(cluster(np.eye(1, 256, dtype=np.float32), DiarizationOptions())) == [0]


def test_nemo_is_loaded_from_its_file_without_the_toolkit() -> None:
    module = nemo_clustering()
    assert hasattr(module, "NMESC") and hasattr(module, "SpectralClustering")
    assert "nemo" not in sys.modules  # nemo/__init__.py and its imports never ran


def test_a_short_turn_of_a_known_voice_is_not_folded_into_another() -> None:
    """Two windows are too few for a new speaker, not for one heard before (a resumed session's)."""
    rng = np.random.default_rng(0)
    a, b = np.eye(2, 256, dtype=np.float32)

    def near(voice: np.ndarray, n: int) -> np.ndarray:
        rows = voice + 0.006 * rng.standard_normal((n, 256)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    emb = np.vstack([near(a, 6), near(b, 2)])
    assert len(set(cluster(emb, DiarizationOptions()))) == 1
    assert len(set(cluster(emb, DiarizationOptions(), known=a[None]))) == 1
    labels = cluster(emb, DiarizationOptions(), known=np.stack([a, b]))
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
