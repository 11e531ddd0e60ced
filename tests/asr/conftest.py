"""Fixtures for the ASR tests: recordings and references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_support import load_wav



@pytest.fixture(scope="session")
def jfk(testdata: Path) -> np.ndarray:
    return load_wav(testdata / "jfk.wav")


@pytest.fixture(scope="session")
def jfk_text(testdata: Path) -> str:
    return (testdata / "jfk.txt").read_text()

