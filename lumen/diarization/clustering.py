"""Clustering speaker embeddings: NeMo's NME-SC, with agglomerative clustering for short histories.

NME-SC (normalised maximum eigengap spectral clustering, Park et al. 2019)
estimates the speaker count from the eigengaps of a binarised cosine
affinity graph.  It needs a history: on ``sample.wav`` it stays at one
speaker, or over-counts, until about 25 windows (~20 s of speech).  Below
``nme_min_windows`` the count and labels come from average-linkage
agglomerative clustering with a cosine threshold instead, with clusters of
fewer than ``min_cluster_windows`` windows folded into their nearest
neighbour (a window straddling a speaker change is not a new speaker), unless
they match a voice known from before (a resumed session's).  The
switch point and threshold were chosen by measurement
(``docs/diarization.md``).

NeMo's clustering code is the file
``nemo/collections/asr/parts/utils/offline_clustering.py`` of the
``nemo_toolkit`` wheel (installed with ``--no-deps``).  It imports only
torch, so it is loaded from the installed file by path: importing
``nemo.collections.asr`` would pull in the whole toolkit (~10 s, 1.3 GB of
dependencies).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage

from lumen.diarization.options import DiarizationOptions
from lumen.errors import DiarizationError

log = logging.getLogger(__name__)

_NEMO_FILE = Path("collections") / "asr" / "parts" / "utils" / "offline_clustering.py"
#: NeMo's own defaults for its offline diarizer.
_NME_MAX_RP_THRESHOLD = 0.15
_NME_SPARSE_SEARCH_VOLUME = 30
#: Affinity matrices larger than this are subsampled for the p-value search
#: (the labels still cover every window); bounds the eigendecompositions.
_NME_MAT_SIZE = 256
#: Up to this many windows NeMo counts speakers with anchor embeddings (its
#: ``enhanced_count_thres``; NeMo recommends 80): measured, 40 let the count
#: jump (2 -> 5 -> 3 on a 4-voice test), 80 kept it steady.
_NME_ENHANCED_COUNT_WINDOWS = 80


@functools.cache
def nemo_clustering() -> ModuleType:
    """NeMo's ``offline_clustering`` module, loaded from the installed file without ``import nemo``."""
    spec = importlib.util.find_spec("nemo")
    if spec is None or not spec.submodule_search_locations:
        raise DiarizationError("NeMo clustering not found: `pip install --no-deps nemo_toolkit`")
    path = Path(next(iter(spec.submodule_search_locations))) / _NEMO_FILE
    module_spec = importlib.util.spec_from_file_location("lumen.diarization._nemo_offline_clustering", path)
    if module_spec is None or module_spec.loader is None or not path.is_file():
        raise DiarizationError(f"NeMo clustering not found at {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    # its anchor-embedding speaker count calls torch.jit.fork/wait (run inline on CPU),
    # which torch deprecates with a warning on every call
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.(fork|wait)` is deprecated",
                            category=DeprecationWarning)
    return module


def cluster(embeddings: np.ndarray, options: DiarizationOptions, known: np.ndarray | None = None) -> np.ndarray:
    """Cluster ids ``0..k-1`` for the rows of ``embeddings`` (unit-length, ``(n, d)``).

    ``options.num_speakers`` fixes k; otherwise k is estimated and clamped to
    ``[min_speakers, max_speakers]``.  k never exceeds ``n``.  ``known``:
    unit centroids of voices heard before (a resumed session's); a cluster
    too small for a new speaker is kept when it matches one of them that no
    larger cluster matches best (a known speaker's short turn).
    """
    n = len(embeddings)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    if n < options.nme_min_windows:
        return _agglomerative(embeddings, options, known)
    return _nme_sc(embeddings, options, known)


def _clamp(k: int, n: int, options: DiarizationOptions) -> int:
    if options.num_speakers is not None:
        k = options.num_speakers
    else:
        k = min(max(k, options.min_speakers), options.max_speakers)
    return max(1, min(k, n))


def _agglomerative(embeddings: np.ndarray, options: DiarizationOptions, known: np.ndarray | None) -> np.ndarray:
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, 1.0 - options.threshold, criterion="distance") - 1
    labels = _fold_small_clusters(embeddings, labels, options, known=known)
    k = int(labels.max()) + 1
    wanted = _clamp(k, len(embeddings), options)
    if wanted != k:
        labels = fcluster(tree, wanted, criterion="maxclust") - 1
    return np.unique(labels, return_inverse=True)[1]


def _fold_small_clusters(embeddings: np.ndarray, labels: np.ndarray, options: DiarizationOptions, keep: int = 1,
                         known: np.ndarray | None = None) -> np.ndarray:
    """Windows of clusters smaller than ``min_cluster_windows`` join the most similar larger
    cluster; the ``keep`` largest clusters always stay, and so do small ones that match a
    ``known`` voice (mean cosine at least ``threshold``) no larger cluster matches best."""
    ids, counts = np.unique(labels, return_counts=True)
    means = np.stack([embeddings[labels == i].mean(axis=0) for i in ids])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    is_large = (counts >= options.min_cluster_windows) | (np.argsort(np.argsort(-counts, kind="stable")) < keep)
    if known is not None and len(known) and is_large.any():
        similarity = means @ known.T
        voice = np.argmax(similarity, axis=1)
        claimed = set(voice[is_large])
        is_large |= np.array([v not in claimed and similarity[i, v] >= options.threshold
                              for i, v in enumerate(voice)])
    large = ids[is_large]
    if len(large) == 0:
        return np.zeros_like(labels)
    if len(large) == len(ids):
        return np.unique(labels, return_inverse=True)[1]
    centroids = means[is_large]
    small = ~np.isin(labels, large)
    labels = labels.copy()
    labels[small] = large[np.argmax(embeddings[small] @ centroids.T, axis=1)]
    return np.unique(labels, return_inverse=True)[1]


def _nme_sc(embeddings: np.ndarray, options: DiarizationOptions, known: np.ndarray | None) -> np.ndarray:
    nemo = nemo_clustering()
    emb = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    affinity = nemo.getCosAffinityMatrix(emb)
    max_k = options.num_speakers or options.max_speakers
    nmesc = nemo.NMESC(
        affinity,
        max_num_speakers=max_k,
        max_rp_threshold=_NME_MAX_RP_THRESHOLD,
        sparse_search=True,
        sparse_search_volume=_NME_SPARSE_SEARCH_VOLUME,
        nme_mat_size=_NME_MAT_SIZE,
        parallelism=False,
    )
    estimate, p_neighbours = nmesc.forward()
    if options.num_speakers is None and len(embeddings) <= _NME_ENHANCED_COUNT_WINDOWS:
        estimate = nemo.getEnhancedSpeakerCount(emb)
    k = _clamp(int(estimate), len(embeddings), options)
    if k == 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    graph = nemo.getAffinityGraphMat(affinity, p_neighbours)
    labels = nemo.SpectralClustering(n_clusters=k).forward(graph).numpy()
    if options.num_speakers is None:  # an over-count shows as tiny clusters
        labels = _fold_small_clusters(embeddings, labels, options, keep=options.min_speakers, known=known)
    return np.unique(labels, return_inverse=True)[1]
