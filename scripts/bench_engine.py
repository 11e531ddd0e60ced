#!/usr/bin/env python3
"""Engine figures: inference time, real-time factor and WER per encoder window and thread count.

For each clip (jfk.wav, sample.wav and excerpts of them cut at pauses, with
their reference text) and each encoder window (whisper's full 30 s, or sized
to the audio with several margins; and the default margin without the edge
guard, DecodeOptions.edge_guard) and thread count, prints the best and the
median inference time over ``--repeat`` runs (on a shared machine the best is
the figure to compare), the real-time factor (best time / audio duration) and
the WER of the first run (lower-case, punctuation stripped).

A second table compares word timing methods against the utterance
boundaries of sample.stm, on an excerpt of utterance length (like live
audio) and on the whole file: mean distance between an utterance's start and
the start of its first word, and between its end and the end of its last word
(words matched by a WER alignment).  Methods: whisper.cpp's token timestamps
(what the engine uses) and its DTW timestamps (model's alignment-heads
preset; DTW gives one time per token, used as the word start).

    python scripts/bench_engine.py [--model tiny.en] [--threads 1 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import _pywhispercpp as pw
import jiwer
import numpy as np

from lumen.asr.engine import DecodeOptions, WhisperEngine, sized_audio_ctx
from lumen.asr.models import resolve_model

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
RATE = 16000
JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@dataclass(frozen=True)
class Clip:
    name: str
    file: str
    start: float
    end: float
    reference: str


def stm_text(start: float, end: float) -> str:
    rows = [line.split(maxsplit=5) for line in (TESTDATA / "sample.stm").read_text().splitlines()]
    return " ".join(r[5] for r in sorted(rows, key=lambda r: float(r[3]))
                    if float(r[3]) >= start and float(r[4]) <= end)


CLIPS = [
    Clip("jfk 1.7 s", "jfk.wav", 2.94, 4.62, "ask not"),
    Clip("jfk 2.2 s", "jfk.wav", 0.2, 2.4, "And so my fellow Americans"),
    Clip("sample 2 s", "sample.wav", 12.45, 14.40, stm_text(12.45, 14.40)),
    Clip("sample 4 s", "sample.wav", 17.70, 21.85, stm_text(17.70, 21.85)),
    Clip("jfk 5 s", "jfk.wav", 2.9, 7.9, "ask not what your country can do for you"),
    Clip("sample 9.5 s", "sample.wav", 8.30, 17.78, stm_text(8.30, 17.78)),
    Clip("jfk 11 s", "jfk.wav", 0.0, 11.0, JFK),
    Clip("sample 30 s", "sample.wav", 0.0, 30.0, stm_text(0.0, 30.0)),
]
MARGINS = (0, 32, 64, 128)


def load(name: str) -> np.ndarray:
    with wave.open(str(TESTDATA / name)) as f:
        assert f.getframerate() == RATE and f.getnchannels() == 1 and f.getsampwidth() == 2
        return np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32) / 32768


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def speed_table(model: Path, threads: list[int], repeat: int) -> None:
    print(f"{'clip':<13} {'audio_ctx':>13} {'threads':>7} {'best s':>7} {'median s':>8} "
          f"{'RTF':>6} {'WER %':>6}")
    for n in threads:
        engine = WhisperEngine(model, contexts=1, threads=n)
        try:
            for clip in CLIPS:
                audio = load(clip.file)[int(clip.start * RATE):int(clip.end * RATE)]
                modes = [("full 1500", DecodeOptions(audio_ctx=0))] + [
                    (f"{sized_audio_ctx(audio.size / RATE, m)} (+{m})",
                     DecodeOptions(audio_ctx_margin=m)) for m in MARGINS] + [
                    ("+64 no guard", DecodeOptions(edge_guard=0.0))]
                for label, options in modes:
                    runs = [engine.transcribe(audio, options) for _ in range(repeat)]
                    times = [r.inference_seconds for r in runs]
                    wer = jiwer.wer(normalize(clip.reference), normalize(runs[0].text))
                    print(f"{clip.name:<13} {label:>13} {n:>7} {min(times):7.2f} "
                          f"{statistics.median(times):8.2f} {min(times) / (audio.size / RATE):6.3f} "
                          f"{100 * wer:6.1f}", flush=True)
        finally:
            engine.close()


@dataclass(frozen=True)
class Utterance:
    start: float
    end: float
    words: list[str]


def utterances(start: float, end: float) -> list[Utterance]:
    """sample.stm utterances inside [start, end], times relative to ``start``."""
    rows = [line.split(maxsplit=5) for line in (TESTDATA / "sample.stm").read_text().splitlines()]
    return [Utterance(float(r[3]) - start, float(r[4]) - start, normalize(r[5]).split())
            for r in sorted(rows, key=lambda r: float(r[3]))
            if float(r[3]) >= start and float(r[4]) <= end]


def boundary_errors(utts: list[Utterance], words: list[tuple[str, float, float | None]]
                    ) -> tuple[float, float, int]:
    """Mean |start of an utterance's first word - utterance start| and the same for ends.

    Reference and hypothesis words are aligned (jiwer); only utterance-initial
    (or final) reference words matched to a hypothesis word count.  Returns
    (onset error, offset error, utterances counted).
    """
    ref = [(i, w) for i, u in enumerate(utts) for w in u.words]
    hyp = [(k, piece) for k, (text, _, _) in enumerate(words) for piece in normalize(text).split()]
    out = jiwer.process_words(" ".join(w for _, w in ref), " ".join(p for _, p in hyp))
    match: dict[int, int] = {}
    for chunk in out.alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for j in range(chunk.ref_end_idx - chunk.ref_start_idx):
                match[chunk.ref_start_idx + j] = hyp[chunk.hyp_start_idx + j][0]
    firsts = [next(j for j, (i, _) in enumerate(ref) if i == u) for u in range(len(utts))]
    lasts = [max(j for j, (i, _) in enumerate(ref) if i == u) for u in range(len(utts))]
    onsets = [abs(words[match[f]][1] - utts[u].start) for u, f in enumerate(firsts) if f in match]
    ends = [abs(words[match[t]][2] - utts[u].end) for u, t in enumerate(lasts)
            if t in match and words[match[t]][2] is not None]
    return (statistics.mean(onsets) if onsets else float("nan"),
            statistics.mean(ends) if ends else float("nan"), len(onsets))


def dtw_words(model: Path, audio: np.ndarray, preset, threads: int) -> list[tuple[str, float, None]]:
    """(word, start) from whisper.cpp's DTW token times (first token of each word)."""
    params = pw.whisper_context_default_params()
    params.use_gpu = False
    params.flash_attn = False  # whisper.cpp disables DTW with flash attention
    params.dtw_token_timestamps = True
    params.dtw_aheads_preset = preset
    ctx = pw.whisper_init_from_file_with_params(str(model), params)
    try:
        full = pw.whisper_full_default_params(pw.WHISPER_SAMPLING_GREEDY)
        full.n_threads = threads
        full.no_context = True
        full.token_timestamps = True
        full.print_progress = full.print_realtime = False
        pw.whisper_full(ctx, full, audio, audio.size)
        eot = pw.whisper_token_eot(ctx)
        words: list[tuple[str, float, None]] = []
        for s in range(pw.whisper_full_n_segments(ctx)):
            for i in range(pw.whisper_full_n_tokens(ctx, s)):
                data = pw.whisper_full_get_token_data(ctx, s, i)
                if data.id >= eot:
                    continue
                piece = pw.whisper_token_to_bytes(ctx, data.id).decode("utf-8", "replace")
                if piece.startswith(" ") or not words:
                    words.append((piece, data.t_dtw / 100, None))
                else:
                    words[-1] = (words[-1][0] + piece, words[-1][1], None)
        return words
    finally:
        pw.whisper_free(ctx)


def timing_table(model: Path, preset, threads: int) -> None:
    print(f"\n{'word times vs sample.stm utterances':<44} {'onset err s':>11} {'end err s':>9} {'n':>3}")
    engine = WhisperEngine(model, contexts=1, threads=threads)
    try:
        for start, end in ((8.30, 17.78), (0.0, 30.0)):
            audio = load("sample.wav")[int(start * RATE):int(end * RATE)]
            utts = utterances(start, end)
            rows = [(f"token timestamps, {label}", [(w.text, w.start, w.end) for w in
                     engine.transcribe(audio, options).words])
                    for label, options in (("full window", DecodeOptions(audio_ctx=0)),
                                           ("sized window", DecodeOptions()))]
            if preset is not None:
                rows.append(("DTW (starts only), full window", dtw_words(model, audio, preset, threads)))
            for label, words in rows:
                onset, offset, n = boundary_errors(utts, words)
                print(f"{f'{start:g}-{end:g} s: {label}':<44} {onset:11.3f} {offset:9.3f} {n:3d}")
    finally:
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en", help="built-in model name or ggml path")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = resolve_model(args.model)
    presets = {"tiny.en": pw.WHISPER_AHEADS_TINY_EN, "base": pw.WHISPER_AHEADS_BASE}
    print(f"model {args.model} ({model})\n")
    speed_table(model, args.threads, args.repeat)
    timing_table(model, presets.get(args.model), max(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
