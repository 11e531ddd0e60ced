"""Stable speaker names across re-clusterings, speaker turns, and what changed.

Every re-clustering numbers its clusters afresh.  :func:`stable_names` maps
them onto the names the windows had before (``"S1"``, ``"S2"``, ...) with the
Hungarian algorithm, maximising the number of windows that keep their name,
so a name only moves when the clustering really changed its mind.

A :data:`Turn` list is the session's labelled timeline; :func:`changes`
compares two of them so the session can correct finals it already sent.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Collection, Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

#: ``(start, end, name)`` in seconds of session audio.
Turn = tuple[float, float, str]


@dataclass(frozen=True)
class LabelChange:
    """Audio in ``[start, end)`` seconds was labelled ``old`` and is now ``new``."""

    start: float
    end: float
    old: str
    new: str


def speaker_name(index: int) -> str:
    """Display name of the speaker numbered ``index`` (0-based): ``S1``, ``S2``, ..."""
    return f"S{index + 1}"


def stable_names(clusters: np.ndarray, previous: Sequence[str | None], reserved: Collection[str] = ()) -> list[str]:
    """Names for ``clusters`` (one cluster id per item) that keep ``previous`` names where possible.

    ``previous[i]`` is item i's name before this clustering, or ``None`` for a
    new item.  Clusters matched to no old name get the lowest numbers neither
    matched nor ``reserved``.
    """
    ids = np.unique(clusters)
    old_names = sorted({name for name in previous if name is not None})
    mapping: dict[int, str] = {}
    if old_names:
        overlap = np.zeros((len(ids), len(old_names)))
        row = {int(c): i for i, c in enumerate(ids)}
        col = {name: j for j, name in enumerate(old_names)}
        for cluster_id, name in zip(clusters, previous):
            if name is not None:
                overlap[row[int(cluster_id)], col[name]] += 1
        for r, c in zip(*linear_sum_assignment(overlap, maximize=True)):
            if overlap[r, c] > 0:
                mapping[int(ids[r])] = old_names[c]
    taken = set(mapping.values()) | set(reserved)
    free = (speaker_name(i) for i in range(len(ids) + len(taken)) if speaker_name(i) not in taken)
    _, first_seen = np.unique(clusters, return_index=True)
    for cluster_id in ids[np.argsort(first_seen)]:  # new speakers numbered in order of appearance
        if int(cluster_id) not in mapping:
            mapping[int(cluster_id)] = next(free)
    return [mapping[int(c)] for c in clusters]


def merge_turns(turns: Sequence[Turn]) -> list[Turn]:
    """Sorted, touching turns with one name; adjacent turns of the same name joined."""
    merged: list[Turn] = []
    for start, end, name in turns:
        if end <= start:
            continue
        if merged and merged[-1][2] == name and start <= merged[-1][1] + 1e-9:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), name)
        else:
            merged.append((start, end, name))
    return merged


def turns_between(turns: Sequence[Turn], start: float, end: float) -> list[Turn]:
    """The turns clipped to ``[start, end]``; the first and last turn are stretched to
    reach ``start`` and ``end`` (a word just outside known speech takes the nearest speaker)."""
    if not turns or end <= start:
        return []
    out = [(max(s, start), min(e, end), n) for s, e, n in turns if e > start and s < end]
    if not out:
        nearest = turns[0] if end <= turns[0][0] else turns[-1]
        return [(start, end, nearest[2])]
    out[0] = (start, out[0][1], out[0][2])
    out[-1] = (out[-1][0], end, out[-1][2])
    return out


def most_talk(turns: Iterable[Turn]) -> str | None:
    """The name with the most time in ``turns`` (the first of them on a tie); None if none."""
    talk: dict[str, float] = {}
    for start, end, name in turns:
        talk[name] = talk.get(name, 0.0) + end - start
    return max(talk, key=lambda name: talk[name]) if talk else None


def changes(old: Sequence[Turn], new: Sequence[Turn], until: float) -> list[LabelChange]:
    """Where ``new`` names audio in ``[0, until)`` differently from ``old``.

    Both are read as :func:`turns_between` answers queries (the first and last
    names stretched to 0 and ``until``), since that is what the caller may
    have been told.
    """
    start = 0.0
    if not old or not new or until <= start:
        return []
    before = turns_between(old, start, until)
    after = turns_between(new, start, until)
    before_starts, after_starts = [s for s, _, _ in before], [s for s, _, _ in after]
    cuts = sorted({t for s, e, _ in before + after for t in (s, e)})
    out: list[LabelChange] = []
    for a, b in zip(cuts, cuts[1:]):
        mid = (a + b) / 2
        was, now = _name_at(before, before_starts, mid), _name_at(after, after_starts, mid)
        if was != now:
            if out and out[-1].end == a and out[-1].old == was and out[-1].new == now:
                out[-1] = LabelChange(out[-1].start, b, was, now)
            else:
                out.append(LabelChange(a, b, was, now))
    return out


def _name_at(turns: Sequence[Turn], starts: list[float], t: float) -> str:
    """Name of the turn containing ``t`` (turns are sorted; ``starts`` are their starts)."""
    i = bisect.bisect_right(starts, t) - 1
    return turns[max(i, 0)][2]
