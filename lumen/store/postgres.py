"""The PostgreSQL backend (psycopg 3), for ``database_url=postgresql://…``.

Each commit waits for PostgreSQL's own WAL flush (``synchronous_commit`` as
the server sets it, ``on`` by default), so a committed final survives the
Lumen server being killed.  A connection that broke (the database
restarted) is reopened on the next call.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg

from lumen.errors import StoreError
from lumen.store.base import TranscriptStore

log = logging.getLogger(__name__)

#: Seconds to wait for the database when connecting.
CONNECT_TIMEOUT_SECONDS = 10


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS)


class PostgresStore(TranscriptStore):
    """A :class:`TranscriptStore` in the PostgreSQL database at ``url`` (tables ``lumen_*``)."""

    errors = (psycopg.Error,)

    def __init__(self, url: str, description: str) -> None:
        self._url = url
        try:
            connection = _connect(url)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the transcript store {description}: {exc}") from exc
        super().__init__(connection, description)

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        if self._conn.closed or self._conn.broken:
            log.warning("transcript store %s: connection lost; reconnecting", self.description)
            try:
                self._conn = _connect(self._url)
            except psycopg.Error as exc:
                raise StoreError(f"cannot reconnect to the transcript store {self.description}: "
                                 f"{exc}") from exc
        with super()._transaction() as cursor:
            yield cursor
