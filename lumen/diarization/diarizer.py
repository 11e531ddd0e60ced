"""Live speaker diarization of one session, and the shared service that runs it.

Speech regions (from the VAD) arrive with :meth:`SessionDiarizer.add_speech`.
Each region is cut into windows (``window`` seconds every ``hop`` seconds,
plus one window aligned to the region's end, or the whole region when it is
shorter than a window but at least ``min_window``).  :meth:`~SessionDiarizer.update`
embeds the new windows and, every ``recluster_every`` seconds of new speech,
re-clusters the history (:mod:`lumen.diarization.clustering`); in between,
new windows join the nearest known speaker.  Names stay stable across
re-clusterings (:func:`lumen.diarization.tracker.stable_names`).

Each window speaks for the time nearest its centre; speech not covered by a
window yet (the tail of a region still growing, regions shorter than
``min_window``) and pauses between regions take the nearest speaker's name.
So :meth:`~SessionDiarizer.speaker_turns` answers at once for any time range
and never waits for diarization: names are provisional and ``update``
reports the ranges whose name changed, for the session to correct what it
already sent.

A session can start knowing speakers from before (a resumed connection):
``voices`` are their centroids from :meth:`~SessionDiarizer.voices`.  At
each re-clustering they name the clusters they match best, jointly, and a
cluster too small for a new speaker stays a cluster when it matches one of
them (a known speaker's short return).  ``taken`` are names used before,
which new speakers never get.

Threading: ``add_speech``, ``end_speech``, ``speaker_turns`` and ``voices`` are cheap
and may be called from the event loop while ``update`` or ``finish`` runs in
a worker thread; ``update``/``finish`` of one session must not overlap
(:class:`Diarizer` runs them in its pool; a second concurrent call raises
``RuntimeError``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Collection, Mapping

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from lumen.diarization.clustering import cluster
from lumen.errors import BadRequestError
from lumen.diarization.embedder import EMBEDDING_SIZE, SAMPLE_RATE, SpeakerEmbedder
from lumen.diarization.options import DiarizationOptions
from lumen.diarization.tracker import (LabelChange, Turn, changes, merge_turns, most_talk, speaker_name,
                                       stable_names, turns_between)

log = logging.getLogger(__name__)

#: Pieces of audio this close (in samples) to the end of the open region continue it.
_CONTIGUOUS_SAMPLES = 2


@dataclass
class _Region:
    """One speech region: where it is, the audio still needed to cut windows, its windows."""

    start: int
    end: int
    audio: np.ndarray | None  # None once closed and fully cut
    audio_start: int
    next_window: int
    closed: bool = False
    windows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Piece:
    """Speech queued by add_speech: ``audio`` starting at sample ``start``."""

    start: int
    audio: np.ndarray


@dataclass(frozen=True)
class _End:
    """end_speech: the open region ends (at sample ``end`` when known)."""

    end: int | None


class SessionDiarizer:
    """Speaker labels for one live session.  See the module docstring for threading."""

    def __init__(self, embedder: SpeakerEmbedder, options: DiarizationOptions = DiarizationOptions(),
                 voices: Mapping[str, ArrayLike] | None = None, taken: Collection[str] = ()) -> None:
        self.options = options
        self._embedder = embedder
        self._window = round(options.window * SAMPLE_RATE)
        self._hop = round(options.hop * SAMPLE_RATE)
        self._min_window = round(options.min_window * SAMPLE_RATE)
        self._recluster_samples = round(options.recluster_every * SAMPLE_RATE)
        # shared with the event loop: guarded by _lock
        self._lock = threading.Lock()
        self._incoming: list[_Piece | _End] = []
        self._received_end = 0
        self._queried_until = 0.0
        self._turns: list[Turn] = []
        self._voices: dict[str, np.ndarray] = {}  # as of the last update (a new dict each time)
        # owned by update()
        self._running = threading.Lock()
        self._regions: list[_Region] = []
        self._uncut = 0  # regions before this one are closed and fully cut
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._embeddings: list[np.ndarray] = []  # of active windows: index - self._frozen
        self._names: list[str | None] = []
        self._frozen = 0
        # name -> sum of its frozen windows' embeddings (and of voices known from before)
        self._history: dict[str, np.ndarray] = {}
        for name, voice in (voices or {}).items():
            voice = np.array(voice, dtype=np.float32).reshape(-1)
            if voice.shape == (EMBEDDING_SIZE,) and np.isfinite(voice).all() and voice.any():
                self._history[name] = voice
            else:  # (another embedder's, or damaged): the speaker is found afresh
                log.warning("voice of %s is not a %d-d embedding sum; ignored", name, EMBEDDING_SIZE)
        self._known = set(self._history)  # the voices from before, matched jointly at each re-clustering
        self._taken = set(taken) | set(self._history)  # names new speakers never get
        self._since_recluster = 0
        self._recluster_interval = self._recluster_samples
        self._clustered = False
        self._revision = 0  # counts changes that can change timeline()

    # --- event-loop side ------------------------------------------------------

    def add_speech(self, start: float, audio: np.ndarray) -> None:
        """Queue 16 kHz float32 speech starting at ``start`` seconds of session audio.

        Pieces come in time order.  A piece starting where the previous one
        ended continues its region; a later start begins a new region.
        """
        first = round(start * SAMPLE_RATE)
        samples = np.array(audio, dtype=np.float32, copy=True).reshape(-1)
        with self._lock:
            if first < self._received_end - _CONTIGUOUS_SAMPLES:
                raise ValueError(f"speech at {start:.3f} s overlaps audio already added")
            self._incoming.append(_Piece(first, samples))
            self._received_end = max(self._received_end, first + len(samples))

    def end_speech(self, end: float | None = None) -> None:
        """The current speech region is over; it ends at ``end`` seconds when given
        (a VAD reports the end of speech after some silence was already added).
        Its last window is cut at the next update."""
        last = round(end * SAMPLE_RATE) if end is not None else None
        with self._lock:
            self._incoming.append(_End(last))

    def speaker_turns(self, start: float, end: float) -> list[Turn]:
        """Current best ``(start, end, name)`` turns covering ``[start, end]`` seconds.

        Empty until the first window has been labelled.  Times outside known
        speech take the nearest speaker; call again after ``update`` reports
        changes to get the corrected names.
        """
        with self._lock:
            self._queried_until = max(self._queried_until, end)
            turns = self._turns
        return turns_between(turns, start, end)

    def speaker(self, start: float, end: float) -> str | None:
        """The name covering most of ``[start, end]`` (a segment's label), or ``None`` before any."""
        return most_talk(self.speaker_turns(start, max(end, start + 1e-3)))

    def timeline(self) -> list[Turn]:
        """Who spoke when: the labelled turns cut to the speech regions (no silence).

        Worker side: call it when no update runs (between two updates, or
        after :meth:`finish`).  Linear in the session's regions and turns.
        """
        with self._lock:
            turns = self._turns
        out: list[Turn] = []
        k = 0  # both lists are sorted and without overlaps: one pass over each
        for region in self._regions:
            a, b = region.start / SAMPLE_RATE, region.end / SAMPLE_RATE
            while k < len(turns) and turns[k][1] <= a:
                k += 1
            j = k
            while j < len(turns) and turns[j][0] < b:
                s, e, name = turns[j]
                out.append((max(s, a), min(e, b), name))
                j += 1
        return out

    @property
    def revision(self) -> int:
        """Changes whenever :meth:`timeline` may have (worker side, like it)."""
        return self._revision

    @property
    def speakers(self) -> list[str]:
        """Names currently in use, sorted."""
        with self._lock:
            return sorted({name for _, _, name in self._turns})

    def voices(self) -> dict[str, np.ndarray]:
        """Each speaker's centroid as of the last update: the sum of the embeddings of
        the windows named so (voices known from before included), for a later
        connection's ``voices``.  Any thread; the same object until an update changes it.

        A voiceprint is biometric data: keep it only as long as it is needed
        (docs/security.md).
        """
        with self._lock:
            return self._voices

    def _sum_voices(self) -> dict[str, np.ndarray]:
        sums = {name: voice.copy() for name, voice in self._history.items()}
        for name, embedding in zip(self._names[self._frozen:], self._embeddings):
            if name is not None:
                sums[name] = sums[name] + embedding if name in sums else embedding.copy()
        return sums

    @property
    def history_windows(self) -> int:
        """Windows a re-clustering currently takes (at most ``max_history_windows``)."""
        return len(self._embeddings)

    # --- worker side ------------------------------------------------------------

    def update(self) -> list[LabelChange]:
        """Embed new windows, re-cluster when due; the already-queried ranges whose name changed."""
        return self._run(final=False)

    def finish(self) -> list[LabelChange]:
        """End of stream: close the open region and re-cluster everything once more."""
        self.end_speech()
        return self._run(final=True)

    def _run(self, final: bool) -> list[LabelChange]:
        if not self._running.acquire(blocking=False):
            raise RuntimeError("update() of one session must not run concurrently")
        try:
            with self._lock:
                incoming, self._incoming = self._incoming, []
            for item in incoming:
                if isinstance(item, _End):
                    self._close_region(item.end)
                else:
                    self._receive(item.start, item.audio)
            fresh = self._cut_windows()
            if fresh:
                self._embeddings.extend(self._embedder.embed(fresh))
            due = self._since_recluster >= self._recluster_interval or not self._clustered or final
            if self._names and (due or fresh):
                if due:
                    self._recluster()
                else:
                    self._assign_to_nearest()
                self._freeze_old_windows()
            elif self._turns or not self._regions:
                # names unchanged: speech added since only extends the last turn,
                # which speaker_turns stretches to any query anyway
                return []
            turns = self._build_turns()
            voices = self._sum_voices()
            self._revision += 1
            with self._lock:
                old, self._turns = self._turns, turns
                self._voices = voices
                until = max(self._queried_until, old[-1][1] if old else 0.0)
            return changes(old, turns, until)
        finally:
            self._running.release()

    def _close_region(self, end: int | None) -> None:
        region = self._regions[-1] if self._regions else None
        if region is None or region.closed:
            return
        region.closed = True
        if end is not None and end < region.end:
            self._revision += 1
            region.end = max(end, region.start)
            if region.audio is not None:
                region.audio = region.audio[:max(0, region.end - region.audio_start)]

    def _receive(self, start: int, audio: np.ndarray) -> None:
        region = self._regions[-1] if self._regions else None
        self._since_recluster += len(audio)
        if region is not None and not region.closed and abs(start - region.end) <= _CONTIGUOUS_SAMPLES:
            region.audio = np.concatenate([region.audio, audio])
            region.end = region.audio_start + len(region.audio)
            return
        if region is not None:
            region.closed = True
        self._regions.append(_Region(start, start + len(audio), audio, start, start))

    def _cut_windows(self) -> list[np.ndarray]:
        """Cut every window that is now complete; returns their audio, registers them."""
        fresh: list[np.ndarray] = []
        for region in self._regions[self._uncut:]:
            spans = []
            while region.next_window + self._window <= region.end:
                spans.append((region.next_window, region.next_window + self._window))
                region.next_window += self._hop
            if region.closed:
                covered = spans[-1][1] if spans else (self._ends[region.windows[-1]] if region.windows else None)
                if covered is None:
                    if region.end - region.start >= self._min_window:
                        spans.append((region.start, region.end))
                elif region.end - covered >= self._hop // 4:
                    spans.append((region.end - self._window, region.end))
            for a, b in spans:
                fresh.append(region.audio[a - region.audio_start:b - region.audio_start])
                region.windows.append(len(self._starts))
                self._starts.append(a)
                self._ends.append(b)
                self._names.append(None)
            if region.closed:
                region.audio = None
                self._uncut += 1
            else:  # keep what later windows, and the end-aligned last one, need
                keep = max(region.start, min(region.next_window, region.end - self._window))
                region.audio = region.audio[keep - region.audio_start:]
                region.audio_start = keep
        return fresh

    def _recluster(self) -> None:
        started = time.thread_time()
        active = np.stack(self._embeddings)
        voices = sorted(self._known)
        known = np.stack([self._history[v] / np.linalg.norm(self._history[v]) for v in voices]) if voices else None
        clusters = cluster(active, self.options, known)
        previous = self._names[self._frozen:]
        names = stable_names(clusters, previous, reserved=self._taken | set(self._history))
        if known is not None:
            names = self._match_known(active, names, voices, known)
        names = self._recognise_returning(active, names, set(previous))
        self._names[self._frozen:] = names
        self._since_recluster = 0
        self._clustered = True
        cost = time.thread_time() - started
        self._recluster_interval = max(self._recluster_samples, round(cost / self.options.recluster_budget * SAMPLE_RATE))
        log.debug("re-clustered %d windows in %.0f ms: %d speakers", len(active), cost * 1000, len(set(names)))

    def _recognise_returning(self, active: np.ndarray, names: list[str], known: set[str]) -> list[str]:
        """A new cluster close to a speaker now only in the frozen history is that speaker again."""
        free = {n: c / np.linalg.norm(c) for n, c in self._history.items() if n not in names}
        renamed = {}
        for name in dict.fromkeys(names):
            if name in known or not free:
                continue
            similarity = {n: float(np.mean(active[[i for i, m in enumerate(names) if m == name]] @ c))
                          for n, c in free.items()}
            best = max(similarity, key=lambda n: similarity[n])
            if similarity[best] >= self.options.threshold:
                renamed[name] = best
                del free[best]
        return [renamed.get(n, n) for n in names]

    def _match_known(self, active: np.ndarray, names: list[str], voices: list[str],
                     known: np.ndarray) -> list[str]:
        """The voices known from before name the clusters they match best, jointly.

        Names carried over from the previous clustering follow its windows, so
        a voice's name can stick to the wrong person: the windows of a speaker
        first heard after a resume join the nearest known voice before the next
        re-clustering separates them.  Here each known voice goes to the
        cluster that, with the others, matches the known voices best (mean
        cosine at least ``threshold``; scipy's ``linear_sum_assignment``); a
        cluster that loses its name to that gets a new one.  ``known``: the unit centroids of ``voices``.
        """
        clusters = list(dict.fromkeys(names))
        members = np.array(names)
        similarity = np.stack([(active[members == c] @ known.T).mean(axis=0) for c in clusters])
        # The assignment with the highest total similarity, counting only pairs at the threshold.
        gain = np.where(similarity >= self.options.threshold, similarity, 0.0)
        rows, cols = linear_sum_assignment(gain, maximize=True)
        best = ({clusters[c]: voices[v] for c, v in zip(rows, cols) if similarity[c, v] >= self.options.threshold}
                if gain[rows, cols].sum() > 0 else {})
        used = set(best.values())
        fresh = (name for name in map(speaker_name, itertools.count())
                 if name not in self._taken and name not in clusters)
        renamed = {c: best.get(c) or (next(fresh) if c in used else c) for c in clusters}
        return [renamed[n] for n in names]

    def _assign_to_nearest(self) -> None:
        sums = self._sum_voices()
        names = list(sums)
        centroids = np.stack([sums[n] / np.linalg.norm(sums[n]) for n in names])
        for i in range(self._frozen, len(self._names)):
            if self._names[i] is None:
                self._names[i] = names[int(np.argmax(centroids @ self._embeddings[i - self._frozen]))]

    def _freeze_old_windows(self) -> None:
        """Windows beyond ``max_history_windows`` keep their name and leave the re-clustering;
        their embeddings are summed into their speaker's centroid."""
        while len(self._embeddings) > self.options.max_history_windows and self._names[self._frozen] is not None:
            name = self._names[self._frozen]
            embedding = self._embeddings.pop(0)
            self._history[name] = self._history[name] + embedding if name in self._history else embedding.copy()
            self._frozen += 1

    def _build_turns(self) -> list[Turn]:
        per_region: list[list[Turn]] = []
        for region in self._regions:
            named = [i for i in region.windows if self._names[i] is not None]
            turns: list[Turn] = []
            if named:
                centres = [(self._starts[i] + self._ends[i]) / 2 for i in named]
                bounds = [region.start] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [region.end]
                turns = [(bounds[k] / SAMPLE_RATE, bounds[k + 1] / SAMPLE_RATE, self._names[i])
                         for k, i in enumerate(named)]
            per_region.append(turns)
        self._name_unlabelled(per_region)
        out: list[Turn] = []
        for k, turns in enumerate(per_region):
            if not turns:
                continue
            if out:  # a pause is split between the speakers on either side of it
                mid = (out[-1][1] + turns[0][0]) / 2
                out[-1] = (out[-1][0], mid, out[-1][2])
                turns[0] = (mid, turns[0][1], turns[0][2])
            out.extend(turns)
        return merge_turns(out)

    def _name_unlabelled(self, per_region: list[list[Turn]]) -> None:
        """Regions without a named window take the previous speaker (else the next one)."""
        previous: str | None = None
        pending: list[int] = []
        for k, turns in enumerate(per_region):
            region = self._regions[k]
            if turns:
                for j in pending:
                    r = self._regions[j]
                    per_region[j] = [(r.start / SAMPLE_RATE, r.end / SAMPLE_RATE, turns[0][2])]
                pending.clear()
                previous = turns[-1][2]
            elif previous is not None:
                per_region[k] = [(region.start / SAMPLE_RATE, region.end / SAMPLE_RATE, previous)]
            else:
                pending.append(k)
        first = next(speaker_name(i) for i in itertools.count() if speaker_name(i) not in self._taken)
        for j in pending:  # nobody named yet: the first new speaker, by construction
            r = self._regions[j]
            per_region[j] = [(r.start / SAMPLE_RATE, r.end / SAMPLE_RATE, first)]


class Diarizer:
    """Shared service: one speaker encoder and a thread pool for every session's updates.

    ``max_workers`` bounds the CPU diarization takes (each worker runs torch
    with one thread).  Await :meth:`update` / :meth:`finish` from the event
    loop; a session must await one before calling the next.
    """

    def __init__(self, options: DiarizationOptions = DiarizationOptions(), max_workers: int = 1,
                 embedder: SpeakerEmbedder | None = None) -> None:
        self.options = options
        self.embedder = embedder or SpeakerEmbedder()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="diarize",
                                        initializer=torch.set_num_threads, initargs=(1,))

    def session(self, voices: Mapping[str, ArrayLike] | None = None, taken: Collection[str] = (),
                **overrides: Any) -> SessionDiarizer:
        """A new session diarizer knowing ``voices`` and ``taken`` names from before (see the
        module docstring); keyword arguments override fields of the service's options
        (e.g. ``num_speakers=2``); invalid values raise ``ValueError``."""
        return SessionDiarizer(self.embedder, self._overridden(overrides), voices, taken)

    def _overridden(self, overrides: Mapping[str, Any]) -> DiarizationOptions:
        """The options with ``overrides``; a bound given alone moves the other one if they
        would cross (``min_speakers=9`` with the default ``max_speakers`` 8 asks for 9)."""
        low, high = overrides.get("min_speakers"), overrides.get("max_speakers")
        if low is not None and high is None:
            overrides = {**overrides, "max_speakers": max(low, self.options.max_speakers)}
        elif high is not None and low is None:
            overrides = {**overrides, "min_speakers": min(high, self.options.min_speakers)}
        return replace(self.options, **overrides)

    def check_overrides(self, overrides: dict[str, Any]) -> None:
        """Raise :class:`BadRequestError` if ``overrides`` cannot make a session (handshake check)."""
        try:
            self._overridden(overrides)
        except ValueError as exc:
            raise BadRequestError(f"speaker options: {exc}") from None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in the diarization pool."""
        return self._pool.submit(fn, *args)

    async def update(self, session: SessionDiarizer) -> list[LabelChange]:
        return await asyncio.wrap_future(self.submit(session.update))

    async def finish(self, session: SessionDiarizer) -> list[LabelChange]:
        return await asyncio.wrap_future(self.submit(session.finish))

    def close(self) -> None:
        """Stop the pool; queued updates are cancelled, running ones complete."""
        self._pool.shutdown(wait=True, cancel_futures=True)
