#!/usr/bin/env python3
"""Compare partial/final policies (StreamingOptions) on real recordings, deterministically.

Feeds each file through the VAD and the :class:`StreamingRecognizer` in
100 ms chunks and, after each chunk, lets the recognizer run until it has
nothing to do: an engine infinitely fast next to real time.  So the figures
do not depend on the machine's load, and a policy's own cost in latency is
seen alone:

* WER of the finals against the reference, per file: the mean over several
  starting offsets (the file started that much later, or after that much
  silence for a negative offset: the same speech chunked and cut differently;
  tiny.en's output changes a lot with that), and the worst;
* commit delay p50/p95 — seconds of audio received between the end of a
  final's last word and the final (the real latency adds the inference time
  and the chunking: ``scripts/bench_live.py`` measures that), and the same
  for every word of every final (word delay: how long a word said stays
  unfinal, whatever the grouping of words into finals);
* finals per file;
* inference seconds per second of audio: the engine's busy time, what the
  policy costs in CPU (measured on the machine, so it is noisy).

Each configuration is a JSON object of :class:`StreamingOptions` fields, plus
any :class:`VadOptions` field (``endpoint_silence``, ``pause_silence``…) and
any :class:`DecodeOptions` field (how every window is decoded)::

    python scripts/eval_policy.py                      # the default comparison
    python scripts/eval_policy.py --configs '[{}, {"partial_interval": 0.5, "agreement": 3}]' \\
        --files sample.wav,jfk.wav --offsets 0,0.37

Finals decoded with temperature fallback sample from the whisper context's
random generator, whose state carries over from call to call, so a WER can
move a little between runs; the offsets average that out too.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import NamedTuple

import jiwer
import numpy as np

from bench_live import normalize, percentile, read_audio, reference_text  # scripts/ is on sys.path
from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.models import resolve_model
from lumen.asr.streaming import StreamingOptions, StreamingRecognizer
from lumen.audio.vad import VadOptions, VadSegmenter
from lumen.metrics import MeteredEngine, ServerMetrics

CHUNK = 1600  # 100 ms at 16 kHz
DECODE_FIELDS = {f.name for f in dataclasses.fields(DecodeOptions)}
VAD_FIELDS = {f.name for f in dataclasses.fields(VadOptions)}
DEFAULT_CONFIGS = [
    {},
    {"context_gap": 0},
    {"context_min": 0},
    {"agreement": 3, "partial_interval": 0.5},
    {"commit_after": 0.0},
    {"edge_margin": 1.0, "trim_window": 6.0},
    {"partial_interval": 0.5},
]


class Final(NamedTuple):
    """A final with text, and how long after its words' end it came (seconds of audio)."""

    delay: float
    """Audio received between the end of the final's last word and the final."""
    text: str
    word_delays: list[float]
    """The same for each of its words."""


async def run(engine: WhisperEngine, audio: np.ndarray, options: StreamingOptions,
              vad_options: VadOptions, decode: DecodeOptions) -> list[Final]:
    """The finals with text of ``audio`` streamed through the policy."""
    finals: list[Final] = []
    recognizer: StreamingRecognizer

    def emit(event) -> None:
        if event.is_final and event.text:
            now = recognizer.received_seconds
            finals.append(Final(now - event.end, event.text, [now - w.end for w in event.words]))

    recognizer = StreamingRecognizer(engine, decode, options, emit=emit, on_failure=print)
    vad = VadSegmenter(vad_options)
    for offset in range(0, audio.size, CHUNK):
        chunk = audio[offset:offset + CHUNK]
        recognizer.push(chunk, vad.feed(chunk))
        while not recognizer.idle:  # until it has nothing left to do for this chunk
            await asyncio.sleep(0.002)
    recognizer.push(np.zeros(0, np.float32), vad.flush())
    await recognizer.finish()
    return finals


async def evaluate(model: str, configs: list[dict], files: list[str], offsets: list[float]) -> None:
    bare = WhisperEngine(resolve_model(model), contexts=1, threads=2)
    try:
        print("config | " + " | ".join(f"WER {f} mean / worst" for f in files)
              + " | finals | delay p50 / p95 s | word delay p50 / p95 s | inference s per audio s")
        print(" | ".join("---" for _ in range(len(files) + 5)))
        for config in configs:
            metrics = ServerMetrics(model, lambda: 0, lambda: 0, 0.0)
            engine, audio_seconds = MeteredEngine(bare, metrics), 0.0
            vad_keys = {k: v for k, v in config.items() if k in VAD_FIELDS}
            decode_keys = {k: v for k, v in config.items() if k in DECODE_FIELDS}
            options = StreamingOptions(**{k: v for k, v in config.items()
                                          if k not in vad_keys and k not in decode_keys})
            cells, delays, word_delays, count = [], [], [], 0
            for name in files:
                audio, reference = read_audio(name), normalize(reference_text(name))
                wers = []
                for offset in offsets:
                    fed = (audio[int(offset * 16000):] if offset >= 0
                           else np.concatenate([np.zeros(int(-offset * 16000), np.float32), audio]))
                    finals = await run(engine, fed, options, VadOptions(**vad_keys), DecodeOptions(**decode_keys))
                    audio_seconds += fed.size / 16000
                    wers.append(jiwer.wer(reference, normalize(" ".join(f.text for f in finals))))
                    delays += [f.delay for f in finals]
                    word_delays += [d for f in finals for d in f.word_delays]
                    count += len(finals)
                cells.append(f"{np.mean(wers):.3f} / {max(wers):.3f}")
            busy = metrics.registry.get_sample_value("lumen_inference_seconds_total") / audio_seconds
            print(f"{json.dumps(config)} | " + " | ".join(cells)
                  + f" | {count} | {percentile(delays, 50):.2f} / {percentile(delays, 95):.2f}"
                  f" | {percentile(word_delays, 50):.2f} / {percentile(word_delays, 95):.2f} | {busy:.3f}",
                  flush=True)
    finally:
        bare.close()


def arguments(description: str, configs: list[dict], files: str) -> argparse.ArgumentParser:
    """The options every policy evaluation takes: ``--configs``, ``--files``, ``--model``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=json.dumps(configs),
                        help="JSON list of StreamingOptions overrides ({} = the defaults)")
    parser.add_argument("--files", default=files)
    parser.add_argument("--model", default="tiny.en")
    return parser


def main() -> int:
    parser = arguments(__doc__, DEFAULT_CONFIGS, "sample.wav,jfk.wav,ami-ES2011a-headset-40s-46s.wav")
    parser.add_argument("--offsets", default="0,0.13,0.37,0.61,0.89",
                        help="seconds cut from each file's start (negative: silence put before it), one run each")
    args = parser.parse_args()
    asyncio.run(evaluate(args.model, json.loads(args.configs), args.files.split(","),
                         [float(x) for x in args.offsets.split(",")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
