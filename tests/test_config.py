"""Settings: defaults, file, environment and flags, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumen.config import Settings, load_settings, settings_markdown
from lumen.errors import ConfigError


def test_defaults():
    settings = load_settings(environ={})
    assert (settings.host, settings.port, settings.model) == ("0.0.0.0", 8000, "tiny.en")
    assert not settings.has_jwt_key
    assert (settings.denoise, settings.denoise_workers) == (False, 1)


def test_precedence_file_env_flags(tmp_path):
    config = tmp_path / "lumen.toml"
    config.write_text('port = 7000\nmodel = "base"\nidle_timeout = 12.5\n')
    settings = load_settings(environ={"LUMEN_PORT": "7100"}, config_file=config)
    assert settings.port == 7100 and settings.model == "base" and settings.idle_timeout == 12.5
    settings = load_settings({"port": "7200", "model": None}, environ={"LUMEN_PORT": "7100"},
                             config_file=config)
    assert settings.port == 7200 and settings.model == "base"


def test_env_types_and_config_env_var(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("dev = true\n")
    settings = load_settings(environ={"LUMEN_CONFIG": str(config), "LUMEN_JWT_LEEWAY": "2.5",
                                      "LUMEN_THREADS": "3"})
    assert settings.dev is True and settings.jwt_leeway == 2.5 and settings.threads == 3


@pytest.mark.parametrize("environ,message", [
    ({"LUMEN_PORT": "eighty"}, "cannot read"),
    ({"LUMEN_PORT": "0"}, "port"),
    ({"LUMEN_DEV": "maybe"}, "cannot read"),
    ({"LUMEN_JWT_SECRET": "too-short"}, "at least 32"),
    ({"LUMEN_JWT_PUBLIC_KEY": "/nonexistent.pem"}, "no such file"),
    ({"LUMEN_VAD_AGGRESSIVENESS": "7"}, "vad_aggressiveness"),
    ({"LUMEN_MAX_SEGMENT": "40"}, "max_segment"),
    ({"LUMEN_CONTEXTS": "0"}, "contexts"),
    ({"LUMEN_DENOISE": "maybe"}, "cannot read"),
    ({"LUMEN_DENOISE_WORKERS": "0"}, "denoise_workers"),
    ({"LUMEN_JWT_LEEWAY": "-5"}, "jwt_leeway must not be negative, got -5.0"),
    ({"LUMEN_MAX_SEND_BUFFER": "0"}, "max_send_buffer must be at least 1, got 0"),
    ({"LUMEN_RESUME_GRACE": "nan"}, "resume_grace must be a finite number, got nan"),
    ({"LUMEN_RESUME_GRACE": "inf"}, "resume_grace must be a finite number, got inf"),
    ({"LUMEN_IDLE_TIMEOUT": "inf"}, "idle_timeout must be a finite number"),
    ({"LUMEN_RETENTION_DAYS": "inf"}, "retention_days must be a finite number"),
])
def test_invalid_values(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(environ={}, config_file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={}, config_file=bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown settings"):
        load_settings(environ={}, config_file=unknown)


def test_every_setting_documented():
    table = settings_markdown()
    for name in Settings.__dataclass_fields__:
        assert f"`LUMEN_{name.upper()}`" in table


def test_configuration_doc_is_current():
    """docs/configuration.md carries the generated table (python -m lumen.config)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    assert settings_markdown() in doc
