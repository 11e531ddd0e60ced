"""Fixtures shared by every test directory: the test recordings, the default model, the
transcript store's databases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from store_support import PostgresCluster

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
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The multilingual base model (the lumen[base] extra, part of the test extras)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMEN_CACHE_DIR", str(tmp_path_factory.mktemp("lumen-cache-base")))
        return prepare_model("base")


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Iterator[WhisperEngine]:
    """One tiny.en engine for the whole run (one context, two threads)."""
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session", autouse=True)
def private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Servers started by tests keep their default transcript store here, not in the user's
    data dir (set in the environment so that ``lumen serve`` subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("lumen-data")
    previous = os.environ.get("LUMEN_DATA_DIR")
    os.environ["LUMEN_DATA_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["LUMEN_DATA_DIR"]
    else:
        os.environ["LUMEN_DATA_DIR"] = previous


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL cluster for the run (started on first use)."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each backend: an SQLite file, a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("postgres").create_database()
