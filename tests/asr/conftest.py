"""Fixtures for the ASR tests: recordings, references and the multilingual model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_support import load_wav

from lumen.asr.models import prepare_model


@pytest.fixture(scope="session")
def jfk(testdata: Path) -> np.ndarray:
    return load_wav(testdata / "jfk.wav")


@pytest.fixture(scope="session")
def jfk_text(testdata: Path) -> str:
    return (testdata / "jfk.txt").read_text()


@pytest.fixture(scope="session")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The multilingual base model (the lumen[base] extra, part of the test extras)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMEN_CACHE_DIR", str(tmp_path_factory.mktemp("lumen-cache-base")))
        return prepare_model("base")
