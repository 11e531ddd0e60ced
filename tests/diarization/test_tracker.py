"""Stable names across re-clusterings, turns and the changes reported to the session."""

from __future__ import annotations

import numpy as np

from lumen.diarization.tracker import LabelChange, changes, merge_turns, stable_names, turns_between


def test_permuted_clusters_keep_their_names() -> None:
    previous = ["S1", "S1", "S2", "S2", None]
    assert stable_names(np.array([1, 1, 0, 0, 0]), previous) == ["S1", "S1", "S2", "S2", "S2"]


def test_hungarian_keeps_the_most_windows() -> None:
    # cluster 0 holds most of S2's windows: it must stay S2 even though it holds one S1 window
    previous = ["S1", "S1", "S1", "S2", "S2", "S2", "S1"]
    names = stable_names(np.array([1, 1, 1, 0, 0, 0, 0]), previous)
    assert names == ["S1", "S1", "S1", "S2", "S2", "S2", "S2"]


def test_new_speakers_take_the_lowest_free_names_in_order_of_appearance() -> None:
    assert stable_names(np.array([2, 2, 0, 1]), [None] * 4) == ["S1", "S1", "S2", "S3"]
    # S2 disappeared (merged): the next new speaker reuses its name
    assert stable_names(np.array([0, 0, 1, 2]), ["S1", "S3", "S3", None]) == ["S1", "S1", "S3", "S2"]


def test_merge_and_clip_turns() -> None:
    turns = merge_turns([(0.0, 1.0, "S1"), (1.0, 2.0, "S1"), (2.0, 2.0, "S2"), (2.0, 3.0, "S2")])
    assert turns == [(0.0, 2.0, "S1"), (2.0, 3.0, "S2")]
    assert turns_between(turns, 1.5, 2.5) == [(1.5, 2.0, "S1"), (2.0, 2.5, "S2")]
    # outside known speech: the nearest speaker, stretched
    assert turns_between(turns, 2.5, 4.0) == [(2.5, 4.0, "S2")]
    assert turns_between(turns, 5.0, 6.0) == [(5.0, 6.0, "S2")]
    assert turns_between([], 0.0, 1.0) == []


def test_changes_cover_exactly_the_relabelled_ranges() -> None:
    old = [(0.0, 2.0, "S1"), (2.0, 4.0, "S2")]
    new = [(0.0, 1.0, "S1"), (1.0, 3.0, "S2"), (3.0, 5.0, "S1")]
    assert changes(old, new, until=4.0) == [LabelChange(1.0, 2.0, "S1", "S2"), LabelChange(3.0, 4.0, "S2", "S1")]


def test_changes_include_what_was_answered_beyond_known_speech() -> None:
    # the session asked for 4-6 s while only 0-4 s was known: it was told S2 there
    old = [(0.0, 4.0, "S2")]
    new = [(0.0, 5.0, "S2"), (5.0, 6.0, "S1")]
    assert changes(old, new, until=6.0) == [LabelChange(5.0, 6.0, "S2", "S1")]
    assert changes([], new, until=6.0) == []
