"""Fixtures for end-to-end tests (see support.py for the server itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from support import SECRET, LiveServer

from lumen.asr.engine import WhisperEngine
from lumen.auth import mint_token
from lumen.config import Settings


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> Iterator[WhisperEngine]:
    engine = WhisperEngine(tiny_model, contexts=1, threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def make_server(engine: WhisperEngine):
    """``make_server(**settings)`` → a started :class:`LiveServer` (stopped at the end)."""
    servers: list[LiveServer] = []

    def factory(**overrides: Any) -> LiveServer:
        values = {"jwt_secret": SECRET, "threads": 2}
        values.update(overrides)
        server = LiveServer(Settings(**values), engine).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(make_server) -> LiveServer:
    """The default server shared by most tests."""
    return make_server()


@pytest.fixture
def token() -> str:
    return mint_token(SECRET, sub="tester")
