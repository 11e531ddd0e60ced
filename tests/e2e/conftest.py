"""Fixtures for end-to-end tests (see support.py for the server itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from support import SECRET, LiveServer

from lumen.asr.engine import WhisperEngine
from lumen.auth import mint_token
from lumen.config import Settings
from lumen.diarization import Diarizer


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Iterator[WhisperEngine]:
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def diarizer() -> Iterator[Diarizer]:
    diarizer = Diarizer(max_workers=1)
    yield diarizer
    diarizer.close()


@pytest.fixture(scope="session")
def make_server(engine: WhisperEngine, diarizer: Diarizer):
    """``make_server(**settings)`` → a started :class:`LiveServer` (stopped at the end)."""
    servers: list[LiveServer] = []

    def factory(**overrides: Any) -> LiveServer:
        values = {"jwt_secret": SECRET, "threads": 2}
        values.update(overrides)
        settings = Settings(**values)
        server = LiveServer(settings, engine, diarizer if settings.diarization else None).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(make_server) -> LiveServer:
    """The default server shared by most tests."""
    return make_server()


@pytest.fixture(scope="session")
def token() -> str:
    return mint_token(SECRET, sub="tester")
