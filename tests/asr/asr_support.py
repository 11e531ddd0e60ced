"""Helpers for the ASR tests: reading the shared recordings and scoring text."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import jiwer
import numpy as np


def load_wav(path: Path) -> np.ndarray:
    """16 kHz mono s16 WAV as float32 in [-1, 1)."""
    with wave.open(str(path)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32) / 32768


def stm_text(path: Path) -> str:
    """The reference text of an STM file (fields from the sixth on), in time order."""
    rows = [line.split(maxsplit=5) for line in path.read_text().splitlines() if line.strip()]
    return " ".join(r[5] for r in sorted(rows, key=lambda r: float(r[3])))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and stripping punctuation."""
    def normalize(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())
    return jiwer.wer(normalize(reference), normalize(hypothesis))
