"""Where the transcript store lives: the ``database_url`` setting, parsed.

Kept free of database imports so that :mod:`lumen.config` can validate the
setting before anything is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from lumen.errors import ConfigError

#: ``database_url`` values that turn the store off.
DISABLED = ("none", "off")
#: The SQLite file used when ``database_url`` is unset, inside :func:`data_dir`.
DEFAULT_SQLITE_NAME = "lumen.sqlite3"


def data_dir() -> Path:
    """Lumen's data directory: ``$LUMEN_DATA_DIR`` or the user data dir (``~/.local/share/lumen``)."""
    root = os.environ.get("LUMEN_DATA_DIR") or platformdirs.user_data_dir("lumen")
    return Path(root).expanduser()


@dataclass(frozen=True)
class StoreLocation:
    """A parsed ``database_url``: ``kind`` is ``sqlite`` (``target`` a path) or
    ``postgres`` (``target`` a libpq connection URI)."""

    kind: str
    target: str

    def describe(self) -> str:
        """The location without a password, for logs."""
        if self.kind == "sqlite":
            return f"sqlite:{self.target}"
        scheme, _, rest = self.target.partition("://")
        credentials, at, host = rest.rpartition("@")
        user = credentials.partition(":")[0]
        return f"{scheme}://{user}{at}{host}"


def parse_database_url(url: str | None) -> StoreLocation | None:
    """``None`` when the store is off; raise :class:`ConfigError` for what cannot work.

    * unset: ``sqlite:<data dir>/lumen.sqlite3`` (resolved now, from the environment);
    * ``none`` / ``off``: no store;
    * ``sqlite:PATH`` or ``sqlite:///PATH``: an SQLite file (``sqlite:///tmp/x.db`` is ``/tmp/x.db``);
    * ``postgresql://…`` / ``postgres://…``: a PostgreSQL database (libpq URI).
    """
    if url is None or not url.strip():
        return StoreLocation("sqlite", str(data_dir() / DEFAULT_SQLITE_NAME))
    url = url.strip()
    if url.lower() in DISABLED:
        return None
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if colon and scheme == "sqlite":
        path = rest[2:] if rest.startswith("//") else rest
        if not path:
            raise ConfigError("database_url: sqlite: needs a file path, e.g. sqlite:///var/lib/lumen/lumen.sqlite3")
        return StoreLocation("sqlite", path)
    if colon and scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return StoreLocation("postgres", url)
    raise ConfigError(f"database_url must be sqlite:PATH, postgresql://…, or none; got {url.split('@')[-1]!r}")
