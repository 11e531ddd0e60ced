#!/usr/bin/env python3
"""Vocabulary boosting: term recall and WER with and without ``keyterms``.

Starts ``lumen serve`` and streams each recording through it twice (as fast
as the server takes it): without key terms, and with the recording's terms in
the ``keyterms`` query option.  Recordings:

* clinical sentences with drug and condition names, **synthesized** at run
  time with Debian's ``espeak-ng`` (no recorded clinical speech is available
  here); the terms are the ones tiny.en is known to miss or misspell;
* ``sample.wav`` (a real phone call) with the names it contains;
* ``jfk.wav`` with *unrelated* key terms: a control, WER must not get worse.

Term recall: occurrences of each term (normalized, as a word sequence) found
in the finals, over its occurrences in the reference.

    python scripts/eval_keyterms.py [--model tiny.en]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jiwer

from bench_live import TESTDATA, normalize, reference_text  # scripts/ is on sys.path
from live_server import SECRET, live_server
from lumen.auth import mint_token
from lumen.client import LumenClient, Transcript, stream_file, wav_bytes_per_second

SYNTHETIC = [
    "The patient has type two diabetes and takes metformin twice a day.",
    "He has high blood pressure and takes aspirin and warfarin for atrial fibrillation.",
    "Doctor Okafor prescribed lisinopril and atorvastatin after the heart attack.",
    "She was treated for pneumonia with amoxicillin and her asthma is stable.",
]
SYNTHETIC_TERMS = ["metformin", "warfarin", "atrial fibrillation", "Okafor", "lisinopril", "atorvastatin",
                   "amoxicillin"]
SAMPLE_TERMS = ["Diane", "Sheila", "New Jersey", "Chicago", "Texas", "Yankee"]
CONTROL_TERMS = ["metformin", "lisinopril", "Okafor"]


def occurrences(term: str, text: str) -> int:
    return len(re.findall(rf"\b{re.escape(normalize(term))}\b", normalize(text)))


async def transcribe(url: str, data: bytes, keyterms: list[str]) -> str:
    options = {"diarize": "false", "interim_results": "false"}
    if keyterms:
        options["keyterms"] = ",".join(keyterms)
    client = await LumenClient.connect(url, mint_token(SECRET, sub="eval-keyterms"), options)
    texts: list[str] = []

    async def receive() -> None:
        async for event in client.events():
            if isinstance(event, Transcript) and event.is_final and event.text:
                texts.append(event.text)

    receiver = asyncio.ensure_future(receive())
    await stream_file(client, data, wav_bytes_per_second(data), 1.0, realtime=False)
    await client.end()
    await receiver
    return " ".join(texts)


def synthesize(directory: Path) -> list[tuple[str, bytes, str]]:
    recordings = []
    for i, sentence in enumerate(SYNTHETIC):
        path = directory / f"clinical{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), sentence], check=True)
        recordings.append((f"espeak clinical #{i} (synthetic)", path.read_bytes(), sentence))
    return recordings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, live_server("--model", args.model) as (url, _):
        sets = [(name, data, text, SYNTHETIC_TERMS) for name, data, text in synthesize(Path(tmp))]
        sets.append(("sample.wav (real)", (TESTDATA / "sample.wav").read_bytes(), reference_text("sample.wav"),
                     SAMPLE_TERMS))
        sets.append(("jfk.wav, unrelated terms (control)", (TESTDATA / "jfk.wav").read_bytes(),
                     reference_text("jfk.wav"), CONTROL_TERMS))
        for name, data, reference, terms in sets:
            wanted = {t: occurrences(t, reference) for t in terms if occurrences(t, reference)}
            results = []
            for keyterms in ([], terms):
                text = asyncio.run(transcribe(url, data, keyterms))
                found = sum(min(n, occurrences(t, text)) for t, n in wanted.items())
                results.append((found, jiwer.wer(normalize(reference), normalize(text)), text))
            rows.append((name, sum(wanted.values()), results))
    print(f"\nmodel {args.model}; prompt: \"Glossary: term, term, ….\"\n")
    print("recording | terms in it | recall without | recall with | WER without | WER with")
    print("--- | --- | --- | --- | --- | ---")
    totals = [0, 0, 0]
    for name, n, ((found0, wer0, _), (found1, wer1, _)) in rows:
        recall = (lambda f: f"{f}/{n}") if n else (lambda f: "-")
        print(f"{name} | {n} | {recall(found0)} | {recall(found1)} | {wer0:.3f} | {wer1:.3f}")
        totals = [totals[0] + n, totals[1] + found0, totals[2] + found1]
    print(f"all | {totals[0]} | {totals[1] / totals[0]:.0%} | {totals[2] / totals[0]:.0%} | |")
    print()
    for name, _, ((_, _, text0), (_, _, text1)) in rows:
        print(f"{name}\n  without: {text0}\n  with:    {text1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
