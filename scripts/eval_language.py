#!/usr/bin/env python3
"""Language identification and WER per language, with the multilingual model.

Real recorded speech with reference texts comes from Debian: the Asterisk
prompt packages (``asterisk-core-sounds-{en,es,fr,it,ru}-wav`` and their
text in ``asterisk-core-sounds-{lang}``; professional voice actors,
CC-BY-SA 3.0, 8 kHz telephone audio).  They are fetched with
``apt-get download`` into ``~/.cache/lumen/eval/asterisk`` (never into the
repository).  For each language, the prompts of ``--min``–``--max`` seconds
(the first ``--per-language`` by name) go through the engine one-shot with
``language=auto``; the table gives how often the detected language is right,
the mean probability, the WER, and the time per audio second.

    python scripts/eval_language.py [--model base] [--languages en,es,fr,it,ru] [--per-language 12]

WER is computed on lower-cased text without punctuation or accents; the
references write some numbers as digits and whisper may spell them out (or
the other way round), which counts as errors.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
import time
import unicodedata
import wave
from pathlib import Path

import jiwer
import numpy as np

from lumen.asr.engine import DecodeOptions, WhisperEngine
from lumen.asr.models import resolve_model
from lumen.audio.resampler import resample

CACHE = Path.home() / ".cache" / "lumen" / "eval" / "asterisk"


def fetch(language: str) -> tuple[Path, dict[str, str]]:
    """(directory of the language's WAV prompts, prompt name → reference text)."""
    root = CACHE / language
    if not root.exists():
        root.mkdir(parents=True)
        for package in (f"asterisk-core-sounds-{language}-wav", f"asterisk-core-sounds-{language}"):
            subprocess.run(["apt-get", "download", package], cwd=root, check=True, capture_output=True)
        for deb in root.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            deb.unlink()
    text_file = next(root.glob("usr/share/doc/*/core-sounds-*.txt.gz"))
    references = {}
    for line in gzip.open(text_file, "rt", encoding="utf-8", errors="replace"):
        if ":" in line and not line.startswith(";"):
            name, text = line.split(":", 1)
            references[name.strip()] = text.strip()
    voice = next(p for p in (root / "usr/share/asterisk/sounds").glob("*/") if p.name.count("_") >= 2)
    return voice, references


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def prompts(language: str, count: int, shortest: float, longest: float) -> list[tuple[str, np.ndarray, str]]:
    voice, references = fetch(language)
    chosen = []
    for path in sorted(voice.glob("*.wav")):
        text = references.get(path.stem, "")
        if not text or text.startswith("[") or "..." in text:
            continue
        with wave.open(str(path)) as wav:
            audio = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
            rate = wav.getframerate()
        if shortest <= audio.size / rate <= longest:
            chosen.append((path.stem, resample(audio, rate, 16000), text))
        if len(chosen) == count:
            break
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--languages", default="en,es,fr,it,ru")
    parser.add_argument("--per-language", type=int, default=12)
    parser.add_argument("--min", type=float, default=2.0, help="shortest prompt, seconds")
    parser.add_argument("--max", type=float, default=8.0, help="longest prompt, seconds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    engine = WhisperEngine(resolve_model(args.model), contexts=1, threads=args.threads)
    rows, wrong = [], []
    try:
        for language in args.languages.split(","):
            items = prompts(language, args.per_language, args.min, args.max)
            right, probabilities, references, hypotheses, seconds, audio = 0, [], [], [], 0.0, 0.0
            for name, samples, text in items:
                began = time.perf_counter()
                result = engine.transcribe(samples, DecodeOptions(language="auto"))
                seconds += time.perf_counter() - began
                audio += samples.size / 16000
                right += result.language == language
                probabilities.append(result.language_probability or 0.0)
                references.append(normalize(text))
                hypotheses.append(normalize(result.text))
                if result.language != language:
                    wrong.append(f"  {language}/{name} ({samples.size / 16000:.1f} s) detected as "
                                 f"{result.language} ({result.language_probability:.2f}): {result.text!r}")
            rows.append((language, len(items), audio / max(1, len(items)), right / max(1, len(items)),
                         float(np.mean(probabilities)), jiwer.wer(references, hypotheses), seconds / audio))
    finally:
        engine.close()
    print(f"\nmodel {args.model}, language=auto, one-shot per prompt, Asterisk prompts "
          f"{args.min:g}-{args.max:g} s (8 kHz telephone speech)\n")
    print("language | prompts | mean length s | language right | mean probability | WER | s per audio s")
    print("--- | --- | --- | --- | --- | --- | ---")
    for language, n, length, accuracy, probability, error, rtf in rows:
        print(f"{language} | {n} | {length:.1f} | {accuracy:.0%} | {probability:.2f} | {error:.3f} | {rtf:.3f}")
    print("\n".join(["", "misdetected:"] + wrong) if wrong else "\nno prompt misdetected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
