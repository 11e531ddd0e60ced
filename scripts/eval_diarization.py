#!/usr/bin/env python
"""Diarization quality, measured the way the live path runs it.

Simulation mode (the default) streams a recording in random 20 ms - 1 s
chunks through the VAD segmenter (:mod:`lumen.audio.vad`) into a
:class:`~lumen.diarization.SessionDiarizer`: speech is added as it arrives
(from the VAD's speech start, which lies a few frames in the past), each
speech end closes the region at the VAD's end sample, and ``update()`` runs
every ``--update-every`` seconds of streamed audio.  Every update's turns
are recorded, so the labels can be scored

* as first emitted: each instant labelled as the session would have labelled
  it ``lag`` seconds later (a final is sent about that long after its audio);
* after all corrections (after ``finish()``).

Scores are pyannote.metrics DER restricted to the VAD's speech (the system's
real output, so VAD misses and false alarms count): with a ±0.25 s collar
around reference boundaries and overlapped speech excluded (NIST md-eval
convention; pyannote ``collar=0.5`` is the total width), and the full DER
(no collar, overlap included).  Also: settle lag (how long after an instant
its label stops changing), estimated vs true speaker count, and
diarization CPU seconds per second of audio.

Server mode (``--server``) starts ``lumen serve``, streams each recording
through it at real-time pace like a client, and scores the speaker labels
of the finals as they arrived and after every ``speakers.updated`` (each
final's span carries its label: word timing and segment granularity count),
the live speaker timeline (``speaker_turns=true``: the ``speakers.turns``
messages, the diarizer's own answer to "who spoke when") as first emitted
``lag`` seconds later (each instant of the final timeline's speech named as
the timeline received by then named it) and its final state (the ``turns``
of the session's last ``speakers.updated``), plus the label lag (arrival of
a final after its audio ended) and, for sample.wav,
the speaker-attributed WER against ``sample.stm`` (each hypothesis speaker
mapped to the reference speaker it overlaps most; WER of the per-speaker
texts, concatenated).

    python scripts/eval_diarization.py                  # sample.wav and the AMI clip
    python scripts/eval_diarization.py --update-every 2 --lags 1 2
    python scripts/eval_diarization.py --server         # through the real server

Resume mode (``--resume CUT …``) cuts sample.wav at each ``CUT`` seconds, as
a connection lost there and resumed with the first connection's voiceprints
(``SessionDiarizer(voices=…, taken=…)``), and prints how much of each
person's speech after the cut carries the label the first connection gave
that person (the label with most of their time before the cut), beside the
same figure for the uncut session:

    python scripts/eval_diarization.py --resume 17 18 19 20 21 22 23 24 25 26 27
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import warnings
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lumen.audio.vad import SpeechEnd, SpeechStart, VadEvent, VadOptions, VadSegmenter  # noqa: E402
from lumen.diarization import DiarizationOptions, SessionDiarizer, SpeakerEmbedder, Turn  # noqa: E402
from lumen.diarization.feed import SpeechFeed  # noqa: E402
from lumen.diarization.tracker import turns_between  # noqa: E402

TESTDATA = ROOT / ".." / "shared" / "testdata"
SAMPLE_RATE = 16000
FRAME = 0.01  # seconds: resolution of the emitted-label timeline


# --- references -------------------------------------------------------------

def load_rttm(path: Path) -> Annotation:
    reference = Annotation(uri=path.stem)
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            reference[Segment(start, start + duration)] = fields[7]
    return reference


def load_jsonl(path: Path, duration: float) -> Annotation:
    """Reference from ``{"start", "end", "speaker"}`` lines, clipped to the recording."""
    reference = Annotation(uri=path.stem)
    for line in path.read_text().splitlines():
        item = json.loads(line)
        start, end = max(0.0, item["start"]), min(duration, item["end"])
        if end > start:
            reference[Segment(start, end)] = item["speaker"]
    return reference


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: need 16 kHz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


# --- scoring ----------------------------------------------------------------

@dataclass(frozen=True)
class Scores:
    der: float  # ±0.25 s collar, overlap excluded
    der_full: float  # no collar, overlap included
    confusion: float  # share of the collared DER's scored speech
    missed: float
    false_alarm: float


def score(reference: Annotation, hypothesis: Annotation) -> Scores:
    collared = DiarizationErrorRate(collar=0.5, skip_overlap=True)
    details = collared(reference, hypothesis, detailed=True)
    total = details["total"] or 1.0
    return Scores(
        der=details["diarization error rate"],
        der_full=DiarizationErrorRate()(reference, hypothesis),
        confusion=details["confusion"] / total,
        missed=details["missed detection"] / total,
        false_alarm=details["false alarm"] / total,
    )


def annotation_from_frames(names: Sequence[str | None], uri: str) -> Annotation:
    """10 ms frame labels -> annotation (``None`` = not speech / not labelled)."""
    out = Annotation(uri=uri)
    start = 0
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            if names[start] is not None:
                out[Segment(start * FRAME, i * FRAME)] = names[start]
            start = i
    return out


def frame_names(turns: Sequence[Turn], speech: np.ndarray) -> list[str | None]:
    """Name of each speech frame under ``turns`` (stretched as speaker_turns stretches)."""
    n = len(speech)
    if not turns:
        return [None] * n
    covered = turns_between(turns, 0.0, n * FRAME)
    names: list[str | None] = [None] * n
    for start, end, name in covered:
        for i in range(int(round(start / FRAME)), min(n, int(round(end / FRAME)))):
            names[i] = name
    return [name if speech[i] else None for i, name in enumerate(names)]


def emitted_annotation(snapshots: Sequence[tuple[float, list[Turn]]], speech: np.ndarray, lag: float,
                       uri: str) -> Annotation:
    """Each speech frame at t named as the latest snapshot taken by ``t + lag`` named it."""
    n = len(speech)
    names: list[str | None] = [None] * n
    times = [t for t, _ in snapshots]
    for k, (taken, turns) in enumerate(snapshots):
        first = max(0, int(np.ceil((taken - lag) / FRAME)))
        last = min(n, int(np.ceil((times[k + 1] - lag) / FRAME))) if k + 1 < len(snapshots) else n
        if first >= last:
            continue
        labelled = frame_names(turns, speech)
        names[first:last] = labelled[first:last]
    return annotation_from_frames(names, uri)


def settle_lags(snapshots: Sequence[tuple[float, list[Turn]]], speech: np.ndarray) -> np.ndarray:
    """Per speech frame at t: seconds from t until the first snapshot from which on
    (among snapshots taken at or after t) the frame keeps its final name."""
    times = np.array([t for t, _ in snapshots])
    ids: dict[str | None, int] = {None: -1}
    names = np.array([[ids.setdefault(n, len(ids)) for n in frame_names(turns, speech)] for _, turns in snapshots])
    frames = np.arange(len(speech)) * FRAME
    applicable = times[:, None] >= frames[None, :]
    mismatch = (names != names[-1][None, :]) & applicable
    last_mismatch = np.where(mismatch.any(axis=0), len(times) - 1 - np.argmax(mismatch[::-1], axis=0), -1)
    first_applicable = np.argmax(applicable, axis=0)
    settle_index = np.where(last_mismatch >= 0, last_mismatch + 1, first_applicable)
    valid = speech & applicable.any(axis=0) & (settle_index < len(times))
    return times[settle_index[valid]] - frames[valid]


# --- simulation -------------------------------------------------------------

@dataclass
class Simulation:
    snapshots: list[tuple[float, list[Turn]]] = field(default_factory=list)  # (stream time, turns)
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # VAD, per frame
    cpu_seconds: float = 0.0
    cpu_by_snapshot: list[float] = field(default_factory=list)  # CPU seconds since the previous snapshot
    duration: float = 0.0
    changes: int = 0


def simulate(audio: np.ndarray, embedder: SpeakerEmbedder, options: DiarizationOptions,
             update_every: float = 0.5, seed: int = 0, vad: VadOptions = VadOptions(),
             diarizer: SessionDiarizer | None = None) -> Simulation:
    """Stream ``audio`` as the live path does into ``diarizer`` (a new one if None);
    record every update's turns."""
    rng = np.random.default_rng(seed)
    segmenter = VadSegmenter(vad)
    diarizer = diarizer or SessionDiarizer(embedder, options)
    feed = SpeechFeed(diarizer)
    result = Simulation(duration=len(audio) / SAMPLE_RATE)
    result.speech = np.zeros(int(np.ceil(result.duration / FRAME)), dtype=bool)
    position = last_update = speech_start = 0

    def timed(step: Callable[[], list]) -> None:
        started = time.process_time()
        result.changes += len(step())
        result.cpu_seconds += time.process_time() - started
        result.cpu_by_snapshot.append(result.cpu_seconds - sum(result.cpu_by_snapshot))
        now = position / SAMPLE_RATE
        result.snapshots.append((now, diarizer.speaker_turns(0.0, now)))

    def mark(events: Sequence[VadEvent]) -> None:
        nonlocal speech_start
        for event in events:
            if isinstance(event, SpeechStart):
                speech_start = event.sample
            elif isinstance(event, SpeechEnd):
                result.speech[int(speech_start / SAMPLE_RATE / FRAME):int(event.sample / SAMPLE_RATE / FRAME)] = True

    while position < len(audio):
        chunk = audio[position:position + int(rng.integers(SAMPLE_RATE // 50, SAMPLE_RATE + 1))]
        position += len(chunk)
        events = segmenter.feed(chunk)
        mark(events)
        started = time.process_time()
        feed.feed(chunk, events)
        result.cpu_seconds += time.process_time() - started
        if position - last_update >= update_every * SAMPLE_RATE:
            last_update = position
            timed(diarizer.update)
    events = segmenter.flush()
    mark(events)
    feed.flush(events)
    timed(diarizer.finish)
    return result


@dataclass(frozen=True)
class Report:
    name: str
    first: dict[float, Scores]  # by lag
    final: Scores
    settle_median: float
    settle_p90: float
    speakers: int
    true_speakers: int
    cpu_per_second: float
    changes: int


def evaluate(name: str, audio: np.ndarray, reference: Annotation, embedder: SpeakerEmbedder,
             options: DiarizationOptions, update_every: float, lags: Sequence[float], seed: int = 0) -> Report:
    sim = simulate(audio, embedder, options, update_every=update_every, seed=seed)
    final = annotation_from_frames(frame_names(sim.snapshots[-1][1], sim.speech), reference.uri)
    lags_s = settle_lags(sim.snapshots, sim.speech)
    return Report(
        name=name,
        first={lag: score(reference, emitted_annotation(sim.snapshots, sim.speech, lag, reference.uri))
               for lag in lags},
        final=score(reference, final),
        settle_median=float(np.median(lags_s)) if len(lags_s) else float("nan"),
        settle_p90=float(np.percentile(lags_s, 90)) if len(lags_s) else float("nan"),
        speakers=len(final.labels()),
        true_speakers=len(reference.labels()),
        cpu_per_second=sim.cpu_seconds / sim.duration,
        changes=sim.changes,
    )


def label_agreement(reference: Annotation, timed: Sequence[Turn], cut: float) -> tuple[float, float]:
    """(seconds, of which agreeing) of ``reference`` speech after ``cut`` whose label in
    the turns ``timed`` is the one the same person has most before ``cut``."""
    def overlap(a: float, b: float, segment: Segment) -> float:
        return max(0.0, min(b, segment.end) - max(a, segment.start))

    before: dict[str, dict[str, float]] = {}
    for segment, _, person in reference.crop(Segment(0.0, cut)).itertracks(yield_label=True):
        for a, b, name in timed:
            votes = before.setdefault(person, {})
            votes[name] = votes.get(name, 0.0) + overlap(a, b, segment)
    label = {person: max(votes, key=votes.__getitem__) for person, votes in before.items() if votes}
    total = agreeing = 0.0
    for segment, _, person in reference.crop(Segment(cut, reference.get_timeline().extent().end)).itertracks(
            yield_label=True):
        if person in label:
            for a, b, name in timed:
                total += overlap(a, b, segment)
                agreeing += overlap(a, b, segment) * (name == label[person])
    return total, agreeing


def evaluate_resumes(audio: np.ndarray, reference: Annotation, embedder: SpeakerEmbedder,
                     options: DiarizationOptions, cuts: Sequence[float], seeds: int, update_every: float) -> None:
    """A connection lost at each cut and resumed with the first one's voices: how much of each
    person's speech after the cut keeps the label the first connection gave them, beside the
    uncut session's figure for the same stretch."""
    print("cut s | seed | resumed agreement | uncut agreement")
    print("--- | --- | --- | ---")
    sums = np.zeros(4)
    for seed in range(seeds):
        uncut = simulate(audio, embedder, options, update_every, seed).snapshots[-1][1]
        for cut in cuts:
            at = int(cut * SAMPLE_RATE)
            first = SessionDiarizer(embedder, options)
            before = simulate(audio[:at], embedder, options, update_every, seed, diarizer=first).snapshots[-1][1]
            second = SessionDiarizer(embedder, options, voices=first.voices(), taken=first.speakers)
            after = simulate(audio[at:], embedder, options, update_every, seed, diarizer=second).snapshots[-1][1]
            resumed = label_agreement(reference, [*before, *[(a + cut, b + cut, n) for a, b, n in after]], cut)
            whole = label_agreement(reference, uncut, cut)
            sums += [*resumed, *whole]
            print(f"{cut:g} | {seed} | {resumed[1] / resumed[0]:.1%} | {whole[1] / whole[0]:.1%}", flush=True)
    print(f"all | | {sums[1] / sums[0]:.1%} of {sums[0]:.0f} s | {sums[3] / sums[2]:.1%}")


def recordings() -> list[tuple[str, np.ndarray, Annotation]]:
    sample = read_wav(TESTDATA / "sample.wav")
    ami = read_wav(TESTDATA / "ami-ES2011a-headset-40s-46s.wav")
    return [
        ("sample.wav", sample, load_rttm(TESTDATA / "sample.rttm")),
        ("ami-ES2011a 40-46 s", ami, load_jsonl(TESTDATA / "ami-ES2011a-headset-40s-46s.jsonl", len(ami) / SAMPLE_RATE)),
    ]


def print_reports(reports: Sequence[Report]) -> None:
    lags = sorted(reports[0].first)
    head = ["recording"] + [f"first@{lag:g}s DER/full" for lag in lags] + [
        "final DER/full", "final conf/miss/FA", "settle med/p90 s", "speakers est/true", "CPU s/s", "changes"]
    rows = [[r.name] + [f"{r.first[lag].der:.1%} / {r.first[lag].der_full:.1%}" for lag in lags] + [
        f"{r.final.der:.1%} / {r.final.der_full:.1%}",
        f"{r.final.confusion:.1%} / {r.final.missed:.1%} / {r.final.false_alarm:.1%}",
        f"{r.settle_median:.2f} / {r.settle_p90:.2f}",
        f"{r.speakers} / {r.true_speakers}",
        f"{r.cpu_per_second:.3f}",
        str(r.changes)] for r in reports]
    widths = [max(len(row[i]) for row in rows + [head]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths]] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def word_turns(message: dict, speakers: Sequence[str | None]) -> list[tuple[Segment, str | None]]:
    """A final's runs of words with one speaker: the final's own span cut at
    each change, between the two words."""
    words = message["words"]
    cuts = [i for i in range(1, len(words)) if speakers[i] != speakers[i - 1]]
    edges = [message["start"]] + [words[i]["start"] for i in cuts] + [message["end"]]
    names = [speakers[0]] + [speakers[i] for i in cuts]
    return [(Segment(a, b), name) for a, b, name in zip(edges, edges[1:], names) if b > a]


def server_annotations(finals: Sequence[dict], updates: Sequence[dict],
                       uri: str) -> tuple[Annotation, Annotation, Annotation]:
    """(labels as first emitted, labels after every correction, the final timeline),
    word by word."""
    first, final, timeline = Annotation(uri=uri), Annotation(uri=uri), Annotation(uri=uri)
    corrected = corrected_speakers(finals, updates)
    for message in finals:
        sent = [w["speaker"] for w in message["words"]]
        for annotation, speakers in ((first, sent), (final, corrected[message["segment_id"]])):
            for segment, name in word_turns(message, speakers):
                annotation[segment] = name
    for turn in updates[-1].get("turns", []) if updates else []:
        timeline[Segment(turn["start"], turn["end"])] = turn["speaker"]
    return first, final, timeline


def corrected_speakers(finals: Sequence[dict], updates: Sequence[dict]) -> dict[int, list[str | None]]:
    """``segment_id`` -> its words' speakers after every ``speakers.updated``."""
    speakers = {m["segment_id"]: [w["speaker"] for w in m["words"]] for m in finals}
    for update in updates:
        for entry in update["segments"]:
            speakers[entry["segment_id"]] = entry["word_speakers"]
    return speakers


def speaker_attributed_wer(finals: Sequence[dict], updates: Sequence[dict], labels: Annotation,
                           stm: Path) -> float:
    """WER of per-speaker texts (each word under its corrected speaker) after mapping
    each label to its best-overlapping reference speaker."""
    import jiwer

    reference: dict[str, list[tuple[float, str]]] = {}
    turns = Annotation()
    for line in stm.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6:
            start, end = float(fields[3]), float(fields[4])
            reference.setdefault(fields[2], []).append((start, " ".join(fields[5:])))
            turns[Segment(start, end)] = fields[2]
    mapping: dict[str, str] = {}
    for label in labels.labels():
        overlap = {who: sum((a & b).duration for a in labels.label_timeline(label)
                            for b in turns.label_timeline(who) if a.intersects(b))
                   for who in turns.labels()}
        mapping[label] = max(overlap, key=overlap.get)
    hypothesis: dict[str, list[tuple[float, str]]] = {}
    speakers = corrected_speakers(finals, updates)
    for message in finals:
        for word, label in zip(message["words"], speakers[message["segment_id"]]):
            hypothesis.setdefault(mapping.get(label or "", label or ""), []).append((word["start"], word["text"]))
    clean = lambda text: " ".join("".join(c if c.isalnum() or c in " '" else " " for c in text.lower()).split())  # noqa: E731
    refs, hyps = [], []
    for who in sorted(set(reference) | set(hypothesis)):
        refs.append(clean(" ".join(t for _, t in sorted(reference.get(who, [])))))
        hyps.append(clean(" ".join(t for _, t in sorted(hypothesis.get(who, [])))))
    return jiwer.wer(" ".join(refs), " ".join(hyps))


@dataclass
class ServerRun:
    finals: list[dict]
    updates: list[dict]  # speakers.updated messages
    lags: list[float]  # label lag of each final
    snapshots: list[tuple[float, list[Turn]]]  # (stream time, live timeline) at each speakers.turns


async def stream_to_server(url: str, token: str, path: Path) -> ServerRun:
    """Stream a WAV at real-time pace, like a client that asked for ``speaker_turns``."""
    from lumen.client import LumenClient, SpeakerTurns, Transcript, stream_file, wav_bytes_per_second

    data = path.read_bytes()
    client = await LumenClient.connect(url, token, {"speaker_turns": True})
    began = time.monotonic()

    async def send() -> None:
        await stream_file(client, data, wav_bytes_per_second(data), 0.1, realtime=True)
        await client.end()

    sender = asyncio.ensure_future(send())
    lags: list[float] = []
    snapshots: list[tuple[float, list[Turn]]] = []
    timeline: list[dict] = []
    async for event in client.events():
        if isinstance(event, Transcript) and event.is_final and event.text:
            lags.append(time.monotonic() - began - event.end)
        elif isinstance(event, SpeakerTurns):
            timeline = event.apply(timeline)
            snapshots.append((time.monotonic() - began, [(x["start"], x["end"], x["speaker"]) for x in timeline]))
    await sender
    finals = [m for m in client.messages if m["type"] == "transcript" and m["is_final"] and m["text"]]
    updates = [m for m in client.messages if m["type"] == "speakers.updated"]
    return ServerRun(finals, updates, lags, snapshots)


def speech_frames(timeline: Annotation) -> np.ndarray:
    """Per frame: whether the (final) timeline names a speaker there."""
    speech = np.zeros(int(np.ceil(max(timeline.get_timeline().extent().end, 0.0) / FRAME)) + 1, dtype=bool)
    for segment in timeline.get_timeline():
        speech[int(round(segment.start / FRAME)):int(round(segment.end / FRAME))] = True
    return speech


def live_timeline_scores(run: ServerRun, speech: np.ndarray, reference: Annotation,
                         lags: Sequence[float]) -> dict[float, Scores]:
    """The live timeline as first emitted, by lag, over the ``speech`` frames."""
    return {lag: score(reference, emitted_annotation(run.snapshots, speech, lag, reference.uri)) for lag in lags}


def live_timeline_lags(run: ServerRun, speech: np.ndarray) -> np.ndarray:
    """Per ``speech`` frame: seconds until a ``speakers.turns`` first named it
    (NaN if none ever did)."""
    frames = np.flatnonzero(speech) * FRAME
    lags = np.full(len(frames), np.nan)
    for taken, turns in run.snapshots:
        for i in np.flatnonzero(np.isnan(lags)):
            if any(a <= frames[i] < b for a, b, _ in turns):
                lags[i] = taken - frames[i]
    return lags


def evaluate_server(lags: Sequence[float]) -> None:
    """``--server``: the recordings through a real ``lumen serve``."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from live_server import SECRET, live_server

    from lumen.auth import mint_token

    head = ["recording", "words first-emitted DER/full", "words final DER/full"] + [
        f"timeline first@{lag:g}s DER/full" for lag in lags] + [
        "timeline final DER/full", "timeline label lag p50/p95 s", "final label lag p50/p95 s",
        "speakers est/true", "speaker-attributed WER"]
    rows = []
    with live_server() as (url, _):
        for (name, _audio, reference), path in zip(recordings(), [TESTDATA / "sample.wav",
                                                                  TESTDATA / "ami-ES2011a-headset-40s-46s.wav"]):
            run = asyncio.run(stream_to_server(url, mint_token(SECRET, sub="eval"), path))
            first, final, timeline = server_annotations(run.finals, run.updates, name)
            speech = speech_frames(timeline)
            live = live_timeline_scores(run, speech, reference, lags)
            sawer = (f"{speaker_attributed_wer(run.finals, run.updates, final, TESTDATA / 'sample.stm'):.1%}"
                     if path.name == "sample.wav" else "-")
            scored = [score(reference, first), score(reference, final)] + [live[lag] for lag in lags] + [
                score(reference, timeline)]
            named = live_timeline_lags(run, speech)
            rows.append([name] + [f"{x.der:.1%} / {x.der_full:.1%}" for x in scored] + [
                f"{np.nanmedian(named):.2f} / {np.nanpercentile(named, 95):.2f}",
                f"{np.median(run.lags):.2f} / {np.percentile(run.lags, 95):.2f}",
                f"{len(final.labels())} / {len(reference.labels())}", sawer])
    widths = [max(len(row[i]) for row in rows + [head]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths]] + rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-every", type=float, default=0.5, help="seconds of audio between update() calls")
    parser.add_argument("--lags", type=float, nargs="+", default=[1.0, 2.0], help="emission lags to score")
    parser.add_argument("--seeds", type=int, default=3, help="chunkings to average over")
    parser.add_argument("--window", type=float, default=DiarizationOptions.window)
    parser.add_argument("--hop", type=float, default=DiarizationOptions.hop)
    parser.add_argument("--threshold", type=float, default=DiarizationOptions.threshold)
    parser.add_argument("--recluster-every", type=float, default=DiarizationOptions.recluster_every)
    parser.add_argument("--num-speakers", type=int, default=None)
    parser.add_argument("--server", action="store_true", help="stream through a real lumen serve")
    parser.add_argument("--resume", type=float, nargs="+", metavar="CUT",
                        help="sample.wav cut at each CUT s and resumed: label agreement across the cut")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # scored over the union of reference and hypothesis, as intended
    warnings.filterwarnings("ignore", message="'uem' was approximated")
    if args.server:
        evaluate_server(args.lags)
        return
    torch.set_num_threads(1)
    options = replace(DiarizationOptions(), window=args.window, hop=args.hop, threshold=args.threshold,
                      recluster_every=args.recluster_every, num_speakers=args.num_speakers)
    embedder = SpeakerEmbedder()
    print(f"options: {options}\nupdate every {args.update_every:g} s of audio, {args.seeds} chunking seed(s)\n")
    if args.resume:
        name, audio, reference = recordings()[0]
        evaluate_resumes(audio, reference, embedder, options, args.resume, args.seeds, args.update_every)
        return
    reports = []
    for name, audio, reference in recordings():
        for seed in range(args.seeds):
            reports.append(evaluate(f"{name} #{seed}", audio, reference, embedder, options,
                                    args.update_every, args.lags, seed))
    print_reports(reports)


if __name__ == "__main__":
    main()
