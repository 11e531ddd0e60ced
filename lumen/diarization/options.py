"""Options of a diarization session: windows, cadence, speaker counts, clustering."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DiarizationOptions:
    """How speech is cut into windows, how often it is re-clustered, how many speakers to find.

    Defaults were chosen by measurement (``scripts/eval_diarization.py``,
    ``docs/diarization.md``).  Invalid combinations raise ``ValueError``.
    """

    window: float = 1.5
    """Seconds of speech per embedding window.  Longer windows separate voices better but
    blur speaker changes and delay the first label of a new speaker."""
    hop: float = 0.75
    """Seconds between window starts inside a speech region (labels change on this grid)."""
    min_window: float = 0.5
    """Shortest speech region embedded on its own; shorter ones take the nearest speaker's label."""
    recluster_every: float = 1.0
    """Seconds of new speech between two re-clusterings of the history.  In between, new
    windows join the nearest known speaker, so a new speaker is found at the next one
    (1 s measured better than 2 s for labels as first emitted, for little CPU)."""
    recluster_budget: float = 0.04
    """Most CPU seconds re-clustering may take per second of speech: when one re-clustering
    costs more than ``recluster_budget * recluster_every`` (long histories), the next one
    waits longer, so diarization stays within its share of a core."""
    min_speakers: int = 1
    """Fewest speakers the clustering may return."""
    max_speakers: int = 8
    """Most speakers the clustering may return."""
    num_speakers: int | None = None
    """Exact number of speakers when known (overrides the estimate and the bounds)."""
    threshold: float = 0.75
    """Cosine similarity (average linkage) above which agglomerative clustering joins two
    groups of windows; used while the history is too short for NME-SC."""
    min_cluster_windows: int = 3
    """Agglomerative clusters with fewer windows are not counted as speakers: their windows
    join the most similar larger cluster."""
    nme_min_windows: int = 30
    """From this many windows on, NeMo's NME-SC estimates the speaker count and labels the
    windows; below, agglomerative clustering does (NME-SC under-counts short histories)."""
    max_history_windows: int = 240
    """Windows re-clustered (the most recent; 240 is 3 minutes of speech).  Older windows
    keep their name; their speaker is remembered as a centroid, so a new cluster that
    matches it (mean cosine >= ``threshold``) takes its name again.  Bounds the cost of a
    re-clustering in long sessions; speaker-count options apply to this recent history."""

    def __post_init__(self) -> None:
        if not 0 < self.hop <= self.window:
            raise ValueError("need 0 < hop <= window")
        if not 0 < self.min_window <= self.window:
            raise ValueError("need 0 < min_window <= window")
        if self.recluster_every < 0:
            raise ValueError("recluster_every must be >= 0")
        if self.recluster_budget <= 0:
            raise ValueError("recluster_budget must be > 0")
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ValueError("need 1 <= min_speakers <= max_speakers")
        if self.num_speakers is not None and self.num_speakers < 1:
            raise ValueError("num_speakers must be >= 1")
        if not -1.0 < self.threshold < 1.0:
            raise ValueError("threshold must be a cosine similarity in (-1, 1)")
        if self.min_cluster_windows < 1:
            raise ValueError("min_cluster_windows must be >= 1")
        if self.nme_min_windows < 8:
            raise ValueError("nme_min_windows must be >= 8 (NME-SC needs more than 6 windows)")
        if self.max_history_windows < 2:
            raise ValueError("max_history_windows must be >= 2")
