"""``database_url``: what each form means, and the clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumen.config import load_settings
from lumen.errors import ConfigError
from lumen.store import parse_database_url


def test_default_is_sqlite_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LUMEN_DATA_DIR", str(tmp_path))
    location = parse_database_url(None)
    assert (location.kind, Path(location.target)) == ("sqlite", tmp_path / "lumen.sqlite3")


@pytest.mark.parametrize("url,kind,target", [
    ("sqlite:///var/lib/lumen/t.db", "sqlite", "/var/lib/lumen/t.db"),
    ("sqlite:relative.db", "sqlite", "relative.db"),
    ("postgresql://lumen:pw@db.example/lumen", "postgres", "postgresql://lumen:pw@db.example/lumen"),
    ("postgres://db/lumen", "postgres", "postgres://db/lumen"),
])
def test_forms(url, kind, target):
    location = parse_database_url(url)
    assert (location.kind, location.target) == (kind, target)


def test_off_and_password_not_described():
    assert parse_database_url("none") is None and parse_database_url("OFF") is None
    assert parse_database_url("postgresql://lumen:secret@db/x").describe() == "postgresql://lumen@db/x"


@pytest.mark.parametrize("environ,message", [
    ({"LUMEN_DATABASE_URL": "mysql://db/x"}, "database_url must be"),
    ({"LUMEN_DATABASE_URL": "sqlite:"}, "needs a file path"),
    ({"LUMEN_RESUME_GRACE": "-1"}, "resume_grace"),
])
def test_bad_settings_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)
