"""Server settings: one object, every option documented with its default.

Settings come from four layers, each overriding the one before:

1. the defaults below;
2. a TOML config file (``--config PATH`` or ``LUMEN_CONFIG``), keys named as
   the fields (``port = 8000``);
3. the environment, ``LUMEN_<FIELD>`` in upper case (``LUMEN_PORT=9000``);
4. command-line flags (``lumen serve --port 9000``).

``docs/configuration.md`` is generated from the field docs here
(``python -m lumen.config``), so this file is the single source of truth.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from lumen.errors import ConfigError
from lumen.store.url import parse_database_url

log = logging.getLogger(__name__)

#: HMAC secrets shorter than this are refused: RFC 7518 §3.2 asks for a key at
#: least as long as the hash output (32 bytes for HS256).
MIN_HS256_SECRET_BYTES = 32


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"doc": text})


@dataclass
class Settings:
    """Every server option.  See the module docstring for how they are loaded."""

    # --- network -------------------------------------------------------------
    host: str = _doc("Interface to listen on.", "0.0.0.0")
    port: int = _doc("TCP port to listen on.", 8000)
    workers: int = _doc(
        "Server processes sharing the port. Each loads its own copy of the model and "
        "diarizer (see docs/deployment.md for the memory cost).", 1)
    tls_certfile: str | None = _doc(
        "PEM certificate (chain) file. With `tls_keyfile`, the server speaks `https://` and "
        "`wss://` itself.", None)
    tls_keyfile: str | None = _doc("PEM private key file of `tls_certfile`.", None)
    proxy_headers: bool = _doc(
        "Behind a reverse proxy: take the client's address and scheme from `X-Real-IP` / "
        "`X-Forwarded-For` and `X-Forwarded-Proto` (logs show the real client). Leave off "
        "when clients connect directly, or they could forge their address.", False)

    # --- authentication ------------------------------------------------------
    jwt_secret: str | None = _doc(
        "HS256 shared secret (at least 32 bytes). Tokens signed with it are verified "
        "with HS256 only.", None)
    jwt_public_key: str | None = _doc(
        "Path to a PEM public key. Tokens are verified with it using RS256 only.", None)
    jwt_audience: str | None = _doc("Required `aud` claim, when set.", None)
    jwt_issuer: str | None = _doc("Required `iss` claim, when set.", None)
    jwt_leeway: float = _doc("Clock-skew allowance in seconds for `exp`, `nbf`, `iat`.", 10.0)
    required_scope: str = _doc(
        "Permission a token must grant (in `scope` or `permissions`) to open a session.",
        "transcribe")
    dev: bool = _doc(
        "Development mode: with no key configured, make an ephemeral HS256 secret and "
        "print a ready-to-use token. Never use in production.", False)

    # --- recognition ---------------------------------------------------------
    model: str = _doc(
        "Built-in model name (`tiny.en`, `base`) or path to a whisper.cpp ggml file.", "tiny.en")
    threads: int = _doc(
        "CPU threads per whisper inference.", max(1, min(4, os.cpu_count() or 1)))
    contexts: int = _doc(
        "Whisper contexts (concurrent inferences). Each holds its own copy of the "
        "model's compute buffers; on a small CPU one is best.", 1)
    vad_aggressiveness: int = _doc("webrtcvad aggressiveness, 0 (least) to 3 (most).", 2)
    endpoint_silence: float = _doc(
        "Seconds of non-speech that end an utterance and trigger a final.", 0.5)
    max_segment: float = _doc(
        "Longest utterance in seconds before a final is forced at a word boundary.", 12.0)
    partial_interval: float = _doc(
        "Seconds of new speech between two hypotheses (partial results, and the "
        "checks that commit words early).", 1.0)
    denoise: bool = _doc(
        "Default of the session option `denoise`: clean the audio before the VAD and "
        "recognition (high-pass, DeepFilterNet 3 noise suppression, AGC; docs/frontend.md). "
        "Off by default: measured, it does not lower tiny.en's WER on average and costs "
        "about 0.12 CPU s per audio s.", False)
    denoise_workers: int = _doc(
        "Threads that run the sessions' audio front ends (`denoise`), off the event loop.", 1)

    # --- diarization ---------------------------------------------------------
    diarization: bool = _doc(
        "Label speakers (sessions may still opt out with `diarize=false`).", True)
    diarization_workers: int = _doc("Threads for speaker embedding and clustering.", 1)

    # --- medical terms -------------------------------------------------------
    terms: bool = _doc(
        "Default of the session option `terms`: mark drug names and clinical "
        "conditions (ICD-10-CM) on finals (docs/terms.md). The vocabulary is "
        "prepared once into the cache (~10 s) and loaded on first use.", False)
    terms_file: str | None = _doc(
        "A list of your own terms, one `term[,category[,code]]` per line (`#` "
        "comments), matched like the built-in ones and overriding them.", None)

    # --- browsers ------------------------------------------------------------
    allowed_origins: str = _doc(
        "Comma-separated origins (`https://app.example.com`) whose pages may open "
        "sessions, or `*` for any. Empty: only pages served by this server (same "
        "origin). Clients that send no `Origin` (non-browser) are not affected; a "
        "refused origin gets 403 `origin_not_allowed`, so another site's page cannot "
        "use a visitor's token (cross-site WebSocket hijacking).", "")

    # --- limits --------------------------------------------------------------
    max_frame_bytes: int = _doc(
        "Largest accepted WebSocket message, audio or text. Larger ones end the session "
        "with 1009 (and so does an audio message holding more than `max_lag` seconds).",
        4 * 1024 * 1024)
    idle_timeout: float = _doc(
        "Seconds without audio or keepalive before a session is closed (1008); not while "
        "the server is still transcribing audio it received (the client waits for results).", 30.0)
    shutdown_grace: float = _doc(
        "Seconds SIGTERM waits for live sessions to transcribe what they received and "
        "close (1001); sessions still flushing then are cut, and the log says how many. "
        "Set your orchestrator's kill timeout above it.", 30.0)
    max_session_seconds: float = _doc(
        "Longest session, in seconds of wall time from its first connection (resumes do not "
        "reset it), before it is closed (1008).", 4 * 3600.0)
    max_sessions: int = _doc(
        "Concurrent sessions per server; beyond it the handshake gets 503.", 16)
    max_sessions_per_user: int = _doc(
        "Concurrent sessions per token `sub`; beyond it the handshake gets 429.", 4)
    max_lag: float = _doc(
        "Seconds of received audio not yet transcribed beyond which a session is "
        "closed with 1013 (server overloaded), after its finals. Each session's ring "
        "of untranscribed audio holds twice this (three times with `denoise`) plus 10 s.", 60.0)
    max_send_buffer: int = _doc(
        "Bytes of messages a connection may have waiting to be sent because its "
        "client does not read them (beyond what the kernel holds). Beyond it the "
        "connection is dropped (`client_too_slow`), so a stalled client cannot make "
        "the server's memory grow.", 1024 * 1024)

    # --- transcript store ----------------------------------------------------
    database_url: str | None = _doc(
        "Where every session's finals are stored (see docs/store.md): unset means the "
        "SQLite file `lumen.sqlite3` in `$LUMEN_DATA_DIR` or the user data dir "
        "(`~/.local/share/lumen` on Linux); `sqlite:PATH`; `postgresql://user:pass@host/db`; "
        "`none` turns the store off (no transcript fetch, no resume).", None)
    resume_grace: float = _doc(
        "Seconds after a lost connection during which `?resume=SESSION_ID` continues the "
        "session (0: never).", 300.0)
    retention_days: float = _doc(
        "Days a session's transcript is kept after its last connection ended; older ones are "
        "deleted when the server starts and every `resume_grace` seconds, at least 60 and at "
        "most 3600 (0: kept until deleted with "
        "`DELETE /v1/sessions/{id}`).", 0.0)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work."""
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ConfigError(
                f"LUMEN_JWT_SECRET is {len(self.jwt_secret.encode())} bytes; HS256 needs at "
                f"least {MIN_HS256_SECRET_BYTES} (try: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')")
        if self.jwt_public_key is not None and not Path(self.jwt_public_key).is_file():
            raise ConfigError(f"LUMEN_JWT_PUBLIC_KEY: no such file: {self.jwt_public_key}")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ConfigError("tls_certfile and tls_keyfile must be set together")
        for f in fields(self):  # (NaN passes every comparison below; infinity breaks times and JSON)
            if isinstance(getattr(self, f.name), float) and not math.isfinite(getattr(self, f.name)):
                raise ConfigError(f"{f.name} must be a finite number, got {getattr(self, f.name)}")
        for name in ("workers", "threads", "contexts", "diarization_workers", "denoise_workers", "max_sessions",
                     "max_sessions_per_user", "max_frame_bytes", "max_send_buffer"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.vad_aggressiveness <= 3:
            raise ConfigError(f"vad_aggressiveness must be 0-3, got {self.vad_aggressiveness}")
        for name in ("endpoint_silence", "max_segment", "partial_interval", "idle_timeout",
                     "max_session_seconds", "max_lag", "shutdown_grace"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("resume_grace", "jwt_leeway"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if not 0 <= self.retention_days:
            raise ConfigError(f"retention_days must be 0 (keep) or a positive number of days, "
                              f"got {self.retention_days}")
        parse_database_url(self.database_url)
        if self.max_segment > 28.0:
            raise ConfigError("max_segment must be at most 28 s (whisper's window is 30 s)")

    @property
    def has_jwt_key(self) -> bool:
        return self.jwt_secret is not None or self.jwt_public_key is not None


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """Turn a string from the environment or a flag into the field's type."""
    if not isinstance(raw, str):
        return raw
    kind = type(default) if default is not None else str
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}: cannot read {raw!r} as {kind.__name__}") from None


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None,
                  config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults, config file, environment and ``overrides``.

    ``overrides`` (usually parsed flags) skips keys whose value is ``None``.
    """
    environ = os.environ if environ is None else environ
    defaults = {f.name: f.default for f in fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file or environ.get("LUMEN_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        unknown = set(from_file) - set(defaults)
        if unknown:
            raise ConfigError(f"config file {path}: unknown settings {sorted(unknown)}")
        values.update(from_file)

    for name in defaults:
        env_value = environ.get(f"LUMEN_{name.upper()}")
        if env_value is not None:
            values[name] = env_value
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})

    typed = {k: _coerce(k, v, defaults[k]) for k, v in values.items()}
    return Settings(**typed)


def settings_markdown() -> str:
    """The settings table for ``docs/configuration.md``."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = f.default
        if f.name == "threads":
            default = "min(4, CPU count)"
        rows.append(f"| `{f.name}` | `LUMEN_{f.name.upper()}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)


def replace(settings: Settings, **changes: Any) -> Settings:
    """A validated copy of ``settings`` with ``changes`` applied."""
    return dataclasses.replace(settings, **changes)


def update_settings_doc(path: Path) -> None:
    """Replace the settings table in a Markdown file (the first run of ``|`` lines) with the current one."""
    lines = path.read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    path.write_text("\n".join(lines[:start] + settings_markdown().split("\n") + lines[end:]))


if __name__ == "__main__":  # python -m lumen.config [--update docs/configuration.md]
    if sys.argv[1:2] == ["--update"]:
        update_settings_doc(Path(sys.argv[2]))
    else:
        print(settings_markdown())
