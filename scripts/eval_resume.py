#!/usr/bin/env python3
"""What a lost connection costs the transcript: real recordings cut and resumed.

Each file is cut at several points, as a connection lost there and resumed
at the server's ``audio_offset``: the first connection's audio ends at the
cut (the server finishes it, as it does for a client that vanished: its
last final is closed by the stream's end, padded with ``end_padding``), a
second connection transcribes the rest from the cut on.  The two
transcripts are joined and scored against the reference.  Printed per
configuration (:class:`StreamingOptions` overrides, as in
``scripts/eval_policy.py``) and file: the uncut stream's WER, the mean and
worst WER over the cuts, and the inserted words (words the reference does
not have: whisper's echo of a cut-off window, words said twice across the
cut) of the uncut stream and per cut::

    python scripts/eval_resume.py                     # the default comparison
    python scripts/eval_resume.py --configs '[{}, {"end_padding": 1.0}]' --step 1.5

The engine is infinitely fast next to real time (``eval_policy.run``), so the
figures do not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import sys

import jiwer
import numpy as np

from bench_live import normalize, read_audio, reference_text  # scripts/ is on sys.path
from eval_policy import arguments, run
from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.models import resolve_model
from lumen.asr.streaming import StreamingOptions
from lumen.audio.vad import VadOptions

DEFAULT_CONFIGS = [{}, {"echo_margin": None}]
SAMPLE_RATE = 16000


async def transcript(engine: WhisperEngine, audio: np.ndarray, options: StreamingOptions) -> str:
    finals = await run(engine, audio, options, VadOptions(), DecodeOptions())
    return " ".join(f.text for f in finals)


async def evaluate(model: str, configs: list[dict], files: list[str], step: float) -> None:
    engine = WhisperEngine(resolve_model(model), contexts=1, threads=2)
    try:
        print("config | file | cuts | WER uncut | WER cut mean / worst | insertions uncut | per cut mean / worst")
        print(" | ".join("---" for _ in range(7)))
        for config in configs:
            options = StreamingOptions(**config)
            for name in files:
                audio, reference = read_audio(name), normalize(reference_text(name))
                uncut = jiwer.process_words(reference, normalize(await transcript(engine, audio, options)))
                wers, inserted = [], []
                cuts = np.arange(step, audio.size / SAMPLE_RATE - 1.0, step)
                for cut in cuts:
                    at = int(cut * SAMPLE_RATE)
                    joined = (await transcript(engine, audio[:at], options) + " "
                              + await transcript(engine, audio[at:], options))
                    scored = jiwer.process_words(reference, normalize(joined))
                    wers.append(scored.wer)
                    inserted.append(scored.insertions)
                print(f"{json.dumps(config)} | {name} | {len(cuts)} | {uncut.wer:.3f} | "
                      f"{np.mean(wers):.3f} / {max(wers):.3f} | {uncut.insertions} | "
                      f"{np.mean(inserted):.2f} / {max(inserted)}", flush=True)
    finally:
        engine.close()


def main() -> int:
    parser = arguments(__doc__, DEFAULT_CONFIGS, "jfk.wav,sample.wav")
    parser.add_argument("--step", type=float, default=1.0, help="seconds between two cut points")
    args = parser.parse_args()
    asyncio.run(evaluate(args.model, json.loads(args.configs), args.files.split(","), args.step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
