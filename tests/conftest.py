"""Fixtures shared by every test directory: the test recordings and the default model."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from lumen.asr.engine import WhisperEngine
from lumen.asr.models import prepare_model

TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared directory of real recordings with references (see its README)."""
    return TESTDATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.en converted once per test run into a private cache (not the user's)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMEN_CACHE_DIR", str(tmp_path_factory.mktemp("lumen-cache")))
        return prepare_model("tiny.en")


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Iterator[WhisperEngine]:
    """One tiny.en engine for the whole run (one context, two threads)."""
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    yield engine
    engine.close()
