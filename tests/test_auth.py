"""Token verification: each key bound to its algorithm, claims, scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lumen.auth import Principal, TokenVerifier, mint_token
from lumen.config import Settings
from lumen.errors import (ConfigError, InsufficientScopeError, InvalidTokenError, MissingTokenError,
                          TokenExpiredError)

SECRET = "s" * 40


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("keys") / "public.pem"
    path.write_bytes(pem)
    return key, path, pem


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def claims(**extra):
    now = int(time.time())
    base = {"sub": "alice", "scope": "transcribe", "iat": now, "exp": now + 600}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_hs256_token_accepted():
    principal = TokenVerifier(Settings(jwt_secret=SECRET)).verify(jwt.encode(claims(), SECRET, "HS256"))
    assert isinstance(principal, Principal)
    assert principal.sub == "alice" and "transcribe" in principal.scopes


def test_rs256_token_accepted(rsa_key):
    key, path, _ = rsa_key
    verifier = TokenVerifier(Settings(jwt_public_key=str(path)))
    assert verifier.verify(jwt.encode(claims(), key, "RS256")).sub == "alice"


def test_both_keys_each_bound_to_its_algorithm(rsa_key):
    key, path, pem = rsa_key
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_public_key=str(path)))
    assert verifier.verify(jwt.encode(claims(), SECRET, "HS256")).sub == "alice"
    assert verifier.verify(jwt.encode(claims(), key, "RS256")).sub == "alice"
    # Algorithm confusion: the RS256 public key used as an HS256 secret (pyjwt
    # refuses to sign with a PEM as HMAC key, so sign by hand).
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims()).encode())
    signature = _b64(hmac.new(pem, header + b"." + payload, hashlib.sha256).digest())
    with pytest.raises(InvalidTokenError):
        verifier.verify((header + b"." + payload + b"." + signature).decode())


def test_rs256_refused_when_only_hs256_configured(rsa_key):
    key, _, _ = rsa_key
    with pytest.raises(InvalidTokenError, match="not accepted"):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(jwt.encode(claims(), key, "RS256"))


def test_alg_none_refused():
    token = jwt.encode(claims(), None, algorithm="none")
    with pytest.raises(InvalidTokenError):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(token)


@pytest.mark.parametrize("token,error", [
    (None, MissingTokenError),
    ("", MissingTokenError),
    ("not-a-jwt", InvalidTokenError),
    ("a.b.c", InvalidTokenError),
    ("x" * 10000, InvalidTokenError),
])
def test_malformed_tokens(token, error):
    with pytest.raises(error):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(token)


def test_expired_and_leeway():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_leeway=0))
    with pytest.raises(TokenExpiredError):
        verifier.verify(jwt.encode(claims(exp=int(time.time()) - 5), SECRET, "HS256"))
    lenient = TokenVerifier(Settings(jwt_secret=SECRET, jwt_leeway=60))
    assert lenient.verify(jwt.encode(claims(exp=int(time.time()) - 5), SECRET, "HS256")).sub == "alice"


@pytest.mark.parametrize("missing", ["exp", "sub"])
def test_required_claims(missing):
    token = jwt.encode(claims(**{missing: None}), SECRET, "HS256")
    with pytest.raises(InvalidTokenError, match=missing):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(token)


def test_nbf_in_future_refused():
    token = jwt.encode(claims(nbf=int(time.time()) + 3600), SECRET, "HS256")
    with pytest.raises(InvalidTokenError):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(token)


def test_audience_and_issuer_checked_when_configured():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET, jwt_audience="lumen", jwt_issuer="auth.example"))
    good = jwt.encode(claims(aud="lumen", iss="auth.example"), SECRET, "HS256")
    assert verifier.verify(good).sub == "alice"
    for bad in (claims(aud="other", iss="auth.example"), claims(iss="auth.example"),
                claims(aud="lumen", iss="evil"), claims(aud="lumen")):
        with pytest.raises(InvalidTokenError):
            verifier.verify(jwt.encode(bad, SECRET, "HS256"))


def test_scope_or_permissions_must_grant_transcribe():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET))
    assert verifier.verify(jwt.encode(claims(scope="read transcribe"), SECRET, "HS256"))
    assert verifier.verify(jwt.encode(claims(scope=None, permissions=["transcribe"]), SECRET, "HS256"))
    with pytest.raises(InsufficientScopeError):
        verifier.verify(jwt.encode(claims(scope="read"), SECRET, "HS256"))
    with pytest.raises(InsufficientScopeError):
        verifier.verify(jwt.encode(claims(scope=None), SECRET, "HS256"))


def test_bad_signature_and_tampering():
    verifier = TokenVerifier(Settings(jwt_secret=SECRET))
    token = jwt.encode(claims(), SECRET, "HS256")
    head, payload, sig = token.split(".")
    with pytest.raises(InvalidTokenError):
        verifier.verify(jwt.encode(claims(), "o" * 40, "HS256"))
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{head}.{payload}.{sig[:-4]}AAAA")
    other = jwt.encode(claims(sub="mallory"), SECRET, "HS256").split(".")[1]
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{head}.{other}.{sig}")


def test_no_key_is_a_config_error():
    with pytest.raises(ConfigError, match="no JWT key"):
        TokenVerifier(Settings())


def test_short_secret_refused():
    with pytest.raises(ConfigError, match="at least 32"):
        Settings(jwt_secret="short")


def test_public_key_file_must_be_rsa(tmp_path):
    path = tmp_path / "k.pem"
    path.write_text("not a key")
    with pytest.raises(ConfigError, match="PEM"):
        TokenVerifier(Settings(jwt_public_key=str(path)))


def test_mint_token_round_trip():
    token = mint_token(SECRET, sub="bob", ttl=60, audience="lumen")
    principal = TokenVerifier(Settings(jwt_secret=SECRET, jwt_audience="lumen")).verify(token)
    assert principal.sub == "bob" and principal.expires_at > time.time()
