#!/usr/bin/env python
"""Diarization cost on this machine: front end, encoder, clustering, and a long live session.

Prints four tables (one torch thread, as the Diarizer's workers run):

1. mel front end (native core) in seconds of audio per CPU second;
2. speaker encoder windows per CPU second by batch size;
3. one re-clustering by history size (agglomerative below ``nme_min_windows``,
   NME-SC above; the history is capped at ``max_history_windows``);
4. a live session of ``--minutes`` of speech (sample.wav repeated) streamed
   as in scripts/eval_diarization.py: diarization CPU seconds per second of
   audio, per 30 s of session, to show the cost stays bounded.

    python scripts/bench_diarization.py --minutes 4
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_diarization import TESTDATA, read_wav, simulate  # noqa: E402

from lumen.audio.mel import MelSpectrogram  # noqa: E402
from lumen.diarization import DiarizationOptions, SpeakerEmbedder  # noqa: E402
from lumen.diarization.clustering import cluster  # noqa: E402

SAMPLE_RATE = 16000


def cpu_time(fn, repeat: int) -> float:
    """Best CPU seconds of ``repeat`` runs of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths]] + rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0, help="length of the simulated live session")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    sample = read_wav(TESTDATA / "sample.wav")
    embedder = SpeakerEmbedder()
    options = DiarizationOptions()

    mel = MelSpectrogram()
    seconds = cpu_time(lambda: mel(sample), 5)
    table(["front end", "audio s per CPU s"], [["native mel (30 s of audio)", f"{30 / seconds:,.0f}"]])

    window = int(options.window * SAMPLE_RATE)
    starts = np.arange(int(6.5 * SAMPLE_RATE), len(sample) - window, int(options.hop * SAMPLE_RATE))
    windows = [sample[s:s + window] for s in starts]
    rows = []
    for batch in (1, 8, len(windows)):
        seconds = cpu_time(lambda: [embedder.embed(windows[i:i + batch]) for i in range(0, len(windows), batch)], 2)
        rows.append([str(batch), f"{len(windows) / seconds:.0f}",
                     f"{len(windows) / seconds * options.hop:.0f}"])
    table(["encoder batch", "windows per CPU s", "audio s per CPU s (hop)"], rows)

    base = embedder.embed(windows)
    rng = np.random.default_rng(0)
    rows = []
    for n in (10, options.nme_min_windows - 1, options.nme_min_windows, 60, 120, options.max_history_windows):
        emb = base[rng.integers(0, len(base), n)] + rng.normal(0, 0.02, (n, base.shape[1])).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        seconds = cpu_time(lambda: cluster(emb, options), 3)
        method = "agglomerative" if n < options.nme_min_windows else "NME-SC"
        rows.append([str(n), method, f"{seconds * 1000:.1f}",
                     f"{seconds / options.recluster_every:.3f}"])
    table(["history windows", "method", "CPU ms per re-clustering",
           f"CPU s per audio s if run every {options.recluster_every:g} s (before the budget)"], rows)

    repeats = int(np.ceil(args.minutes * 60 / (len(sample) / SAMPLE_RATE)))
    audio = np.concatenate([sample] * repeats)
    sim = simulate(audio, embedder, options, update_every=0.5)
    print(f"live session: {len(audio) / SAMPLE_RATE:.0f} s, diarization CPU {sim.cpu_seconds:.1f} s "
          f"= {sim.cpu_seconds / sim.duration:.3f} s per audio s over the session")
    rows = []
    times = np.array([t for t, _ in sim.snapshots])
    cpu = np.array(sim.cpu_by_snapshot)
    for start in range(0, int(sim.duration), 30):
        inside = (times > start) & (times <= start + 30)
        rows.append([f"{start}-{start + 30} s", f"{cpu[inside].sum() / 30:.3f}"])
    table(["session time", "CPU s per audio s"], rows)


if __name__ == "__main__":
    main()
