#!/usr/bin/env python3
"""Engine figures: inference time, real-time factor and WER per encoder window and thread count.

For each clip (jfk.wav, sample.wav and excerpts of them cut at pauses, with
their reference text) and each encoder window (whisper's full 30 s, or sized
to the audio with several margins; and the default margin without the edge
guard, DecodeOptions.edge_guard) and thread count, prints the median
inference time over ``--repeat`` runs, the real-time factor (inference / audio
duration) and the WER (lower-case, punctuation stripped).

A second table compares word timing methods against the utterance
boundaries of sample.stm (mean distance from each utterance start to the
nearest word start, and from each utterance end to the nearest word end):
whisper.cpp's token timestamps (what the engine uses) and its DTW timestamps
(with the model's alignment-heads preset).

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
    print(f"{'clip':<13} {'audio_ctx':>13} {'threads':>7} {'time s':>7} {'RTF':>6} {'WER %':>6}")
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
                    took = statistics.median(r.inference_seconds for r in runs)
                    wer = jiwer.wer(normalize(clip.reference), normalize(runs[0].text))
                    print(f"{clip.name:<13} {label:>13} {n:>7} {took:7.2f} "
                          f"{took / (audio.size / RATE):6.3f} {100 * wer:6.1f}", flush=True)
        finally:
            engine.close()


def boundary_errors(starts: list[float], ends: list[float]) -> tuple[float, float]:
    rows = [line.split(maxsplit=5) for line in (TESTDATA / "sample.stm").read_text().splitlines()]
    onset = [min(abs(s - float(r[3])) for s in starts) for r in rows]
    offset = [min(abs(e - float(r[4])) for e in ends) for r in rows] if ends else []
    return statistics.mean(onset), (statistics.mean(offset) if offset else float("nan"))


def dtw_word_starts(model: Path, audio: np.ndarray, preset, threads: int) -> list[float]:
    """Word starts from whisper.cpp's DTW token times (first token of each word)."""
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
        starts = []
        for s in range(pw.whisper_full_n_segments(ctx)):
            for i in range(pw.whisper_full_n_tokens(ctx, s)):
                data = pw.whisper_full_get_token_data(ctx, s, i)
                if data.id < eot and pw.whisper_token_to_bytes(ctx, data.id).startswith(b" "):
                    starts.append(data.t_dtw / 100)
        return starts
    finally:
        pw.whisper_free(ctx)


def timing_table(model: Path, preset, threads: int) -> None:
    audio = load("sample.wav")
    print(f"\n{'word times':<34} {'onset err s':>11} {'offset err s':>12}")
    engine = WhisperEngine(model, contexts=1, threads=threads)
    try:
        for label, options in (("token timestamps, full window", DecodeOptions(audio_ctx=0)),
                               ("token timestamps, sized window", DecodeOptions())):
            words = engine.transcribe(audio, options).words
            onset, offset = boundary_errors([w.start for w in words], [w.end for w in words])
            print(f"{label:<34} {onset:11.3f} {offset:12.3f}")
    finally:
        engine.close()
    if preset is not None:
        onset, _ = boundary_errors(dtw_word_starts(model, audio, preset, threads), [])
        print(f"{'DTW (starts only), full window':<34} {onset:11.3f} {'-':>12}")


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
