"""TLS contexts: the server's certificate and key, and the CAs a client trusts.

The server loads its certificate and key once, before it binds a port or forks
workers, so a missing, unreadable, encrypted or mismatched file stops it with
a :class:`~lumen.errors.ConfigError` that names the file, instead of failing
later at the first handshake.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from lumen.errors import ConfigError


def _check_readable(setting: str, path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{setting}: no such file: {path}")
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def _no_password() -> str:
    raise ConfigError("tls_keyfile is encrypted; give the server an unencrypted key "
                      "(readable only by its user)")


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context holding ``certfile`` (PEM chain) and its ``keyfile``."""
    _check_readable("tls_certfile", certfile)
    _check_readable("tls_keyfile", keyfile)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"tls_keyfile {keyfile} is not the private key of the certificate "
                              f"in tls_certfile {certfile}") from None
        raise ConfigError(f"cannot load the TLS certificate {certfile} with the key {keyfile}: "
                          f"{exc.reason or exc} (both must be PEM)") from None
    return context


def client_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, or only ``cafile`` (a private CA) when given."""
    if cafile is not None:
        _check_readable("cafile", cafile)
    try:
        return ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise ConfigError(f"cafile {cafile}: no PEM certificate could be read ({exc.reason or exc})") from None
