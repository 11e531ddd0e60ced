#!/usr/bin/env python3
"""Medical term highlighting: cost and accuracy.

Prints, in one run:

* preparing the built-in index (a fresh subprocess, as on first use), loading
  the prepared index, and the server memory it takes;
* matching cost per final, for finals of 5, 10, 20 and 40 words (µs, median
  of many calls), against a plain ``str.split`` of the same text as the floor;
* precision and recall on a small labelled set of clinical sentences and
  everyday distractors (written for this script; not a standard corpus).

    python scripts/bench_terms.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lumen.terms import TimedWord, load_index
from lumen.terms.vocabulary import load

#: (sentence, the codes a reader would mark).
LABELLED = [
    ("The patient with type two diabetes takes metformin and lisinopril.", {"E11", "DB00331", "DB00722"}),
    ("History of chronic obstructive pulmonary disease, on statins and aspirin.", {"J44.9", "D006903", "DB00945"}),
    ("She has high blood pressure and her asthma's been worse.", {"I10", "J45"}),
    ("Started on amoxicillin for pneumonia, follow up in a week.", {"DB01060", "J18"}),
    ("Heart attack two years ago, now on clopidogrel and atorvastatin.", {"I21", "DB00758", "DB01076"}),
    ("Migraines are controlled with sumatriptan.", {"G43", "DB00669"}),
    ("Atrial fibrillation, anticoagulated with warfarin, INR stable.", {"I48", "DB00682"}),
    ("Urinary tract infection treated with nitrofurantoin.", {"N39.0", "DB00698"}),
    ("Depression and anxiety, on sertraline fifty milligrams.", {"F32.A", "F41.9", "DB01104"}),
    ("Known osteoarthritis of the knee; takes ibuprofen as needed.", {"M19.9", "DB01050"}),
    ("Hypothyroidism on levothyroxine, TSH normal.", {"E03.9", "DB00451"}),
    ("Sepsis secondary to cellulitis, started vancomycin.", {"A41.9", "L03.90", "DB00512"}),
    ("Gastroesophageal reflux disease managed with omeprazole.", {"K21", "DB00338"}),
    ("Rheumatoid arthritis on methotrexate and prednisone.", {"M06.9", "DB00563", "DB00635"}),
    ("COVID-19 last winter, still short of breath on exertion.", {"U07.1"}),
    # everyday speech: nothing to mark
    ("And so my fellow Americans, ask not what your country can do for you.", set()),
    ("This is Diane in New Jersey and I'm Sheila and Texas, originally from Chicago.", set()),
    ("We will meet at the office on Monday to plan the budget for next year.", set()),
    ("The kids played in the garden while we cooked dinner and talked about the weather.", set()),
    ("Can you send me the report before the meeting tomorrow morning?", set()),
]


def timed_words(text: str) -> list[TimedWord]:
    return [TimedWord(w, i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(text.split())]


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "medical.pkl"
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lumen.terms", str(path)], check=True)
        prepare = time.perf_counter() - began
        size = path.stat().st_size / 2**20
        before = rss_mib()
        began = time.perf_counter()
        index = load(path)
        loading = time.perf_counter() - began
        memory = rss_mib() - before
    print(f"\nprepare (subprocess): {prepare:.1f} s, file {size:.1f} MiB; load: {loading:.2f} s, "
          f"+{memory:.0f} MiB in the server; {len(index)} phrases, longest {index.longest} words\n")

    corpus = " ".join(s for s, _ in LABELLED).split()
    print("final length | match µs (median) | str.split µs (floor)")
    print("--- | --- | ---")
    for n in (5, 10, 20, 40):
        words = timed_words(" ".join(corpus[:n]))
        text = " ".join(corpus[:n])
        runs, floor = [], []
        for _ in range(2000):
            t0 = time.perf_counter()
            index.find(words)
            runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            text.split()
            floor.append(time.perf_counter() - t0)
        print(f"{n} words | {statistics.median(runs) * 1e6:.1f} | {statistics.median(floor) * 1e6:.2f}")

    index = load_index()  # the prepared one, as a server uses it
    true_positive = false_positive = false_negative = 0
    misses = []
    for sentence, expected in LABELLED:
        got = {m["code"] for m in index.find(timed_words(sentence))}
        true_positive += len(got & expected)
        false_positive += len(got - expected)
        false_negative += len(expected - got)
        if got != expected:
            misses.append(f"  {sentence!r}: extra {sorted(got - expected)}, missed {sorted(expected - got)}")
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / max(1, true_positive + false_negative)
    print(f"\nlabelled set ({len(LABELLED)} sentences, {true_positive + false_negative} terms): "
          f"precision {precision:.3f}, recall {recall:.3f}")
    print("\n".join(misses) if misses else "  every sentence exact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
