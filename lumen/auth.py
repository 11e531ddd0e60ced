"""Token verification at the WebSocket handshake.

One verifier per configured key, each bound to its own algorithm: the HS256
secret only ever verifies HS256 tokens and the RS256 public key only RS256
tokens.  The token header's ``alg`` picks the verifier; an algorithm with no
verifier is refused.  There is never a mixed allow-list, so a token cannot
get an RS256 public key used as an HMAC secret (algorithm confusion).

Thread-safety: :class:`TokenVerifier` is immutable after construction and may
be used from any thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from lumen.config import Settings
from lumen.errors import (ConfigError, InsufficientScopeError, InvalidTokenError,
                          MissingTokenError, TokenExpiredError)

log = logging.getLogger(__name__)

#: Tokens longer than this are refused before any parsing (a cheap DoS guard).
MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    sub: str
    scopes: frozenset[str]
    expires_at: float
    claims: dict[str, Any]


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    scopes: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        scopes.update(scope.split())
    permissions = claims.get("permissions")
    if isinstance(permissions, list):
        scopes.update(p for p in permissions if isinstance(p, str))
    return frozenset(scopes)


def _load_rsa_public_key(path: Path) -> RSAPublicKey:
    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"LUMEN_JWT_PUBLIC_KEY {path}: cannot read a PEM public key ({exc})") from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"LUMEN_JWT_PUBLIC_KEY {path}: not an RSA public key")
    return key


class TokenVerifier:
    """Verifies bearer tokens against the configured keys."""

    def __init__(self, settings: Settings) -> None:
        self._keys: dict[str, Any] = {}
        if settings.jwt_secret is not None:
            self._keys["HS256"] = settings.jwt_secret
        if settings.jwt_public_key is not None:
            self._keys["RS256"] = _load_rsa_public_key(Path(settings.jwt_public_key))
        if not self._keys:
            raise ConfigError("no JWT key configured: set LUMEN_JWT_SECRET (HS256) and/or "
                              "LUMEN_JWT_PUBLIC_KEY (RS256), or run with --dev")
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway
        self._required_scope = settings.required_scope

    @property
    def algorithms(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, token: str | None) -> Principal:
        """Return the token's :class:`Principal` or raise an :class:`AuthError` subclass."""
        if not token:
            raise MissingTokenError("no token: send 'Authorization: Bearer <jwt>' or '?token=<jwt>'")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError(f"token is longer than {MAX_TOKEN_BYTES} bytes")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:  # undecodable, or an unknown `crit` extension
            raise InvalidTokenError(f"malformed token: {exc}") from None
        alg = header.get("alg")
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None:
            raise InvalidTokenError(
                f"token algorithm {alg!r} is not accepted here (accepted: {', '.join(self.algorithms)})")
        options = {"require": ["exp", "sub"], "verify_aud": self._audience is not None,
                   "verify_iss": self._issuer is not None}
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=self._audience,
                                issuer=self._issuer, leeway=self._leeway, options=options)
        except jwt.ExpiredSignatureError:
            raise TokenExpiredError("token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(f"invalid token: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidTokenError("token 'sub' claim must be a non-empty string")
        scopes = _scopes(claims)
        if self._required_scope not in scopes:
            raise InsufficientScopeError(f"token does not grant the '{self._required_scope}' permission")
        return Principal(sub=sub, scopes=scopes, expires_at=float(claims["exp"]), claims=claims)


def mint_token(secret: str, sub: str, scope: str = "transcribe", ttl: float = 3600.0,
               audience: str | None = None, issuer: str | None = None) -> str:
    """An HS256 token for ``sub`` (what ``lumen token`` prints)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "scope": scope, "iat": now, "exp": now + int(ttl)}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
