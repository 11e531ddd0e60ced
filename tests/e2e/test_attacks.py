"""Hostile handshakes against a real server: forged tokens and foreign pages.

Each case is a real WebSocket upgrade on loopback; every refusal must come
with the right status and error code, and leave no session behind
(``test_handshake.py`` covers the everyday refusals: missing, expired,
malformed tokens, scope, bad query, caps).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from unittest.mock import ANY

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support import SECRET, LiveServer, handshake

AUDIENCE, ISSUER = "lumen-api", "https://auth.example.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**extra) -> dict:
    now = int(time.time())
    claims = {"sub": "mallory", "scope": "transcribe", "iat": now, "exp": now + 600,
              "aud": AUDIENCE, "iss": ISSUER}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The server's RSA key pair (public half configured) and an attacker's."""
    server_key = _rsa()
    pem = server_key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("keys") / "public.pem"
    path.write_bytes(pem)
    return {"server": server_key, "pem": pem, "path": path, "attacker": _rsa()}


@pytest.fixture(scope="module")
def strict(make_server, keys) -> LiveServer:
    """Both key kinds, audience and issuer required."""
    return make_server(jwt_public_key=str(keys["path"]), jwt_audience=AUDIENCE, jwt_issuer=ISSUER)


@pytest.fixture(scope="module")
def hs_only(make_server) -> LiveServer:
    return make_server(jwt_audience=AUDIENCE, jwt_issuer=ISSUER)


def _status(server: LiveServer, token: str, where: str = "header") -> tuple[int, dict | None]:
    if where == "header":
        status, _, body = handshake(server, headers={"Authorization": f"Bearer {token}"})
    else:
        status, _, body = handshake(server, query=f"?token={token}")
    return status, body


def _refused(server: LiveServer, token: str, code: str = "invalid_token") -> None:
    for where in ("header", "query"):
        status, body = _status(server, token, where)
        assert status == 401 and body["error"] == code, (where, status, body)
    server.wait_idle()
    assert server.call(lambda: server.context.limits.active) == 0


def test_valid_tokens_of_both_kinds_are_accepted(strict, keys):
    """The control: without it every refusal below could be a broken server."""
    assert _status(strict, jwt.encode(_claims(), SECRET, "HS256"))[0] == 101
    assert _status(strict, jwt.encode(_claims(), keys["server"], "RS256"))[0] == 101
    strict.wait_idle()


def test_alg_none(strict):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    _refused(strict, f"{header}.{body}.")


def _hmac_token(secret: bytes) -> str:
    """An HS256 token signed with ``secret`` (bypassing pyjwt's own key checks)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


# -- one test per published pyjwt advisory (algorithm confusion and friends) ----
def test_CVE_2017_11424_public_pem_as_hmac_secret(strict, keys):
    _refused(strict, _hmac_token(keys["pem"]))


def test_CVE_2022_29217_openssh_public_key_as_hmac_secret(strict, keys):
    ssh = keys["server"].public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                   serialization.PublicFormat.OpenSSH)
    _refused(strict, _hmac_token(ssh))


def test_CVE_2026_48526_public_jwk_as_hmac_secret(strict, keys):
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(keys["server"].public_key())
    _refused(strict, _hmac_token(jwk.encode()))


def test_CVE_2024_53861_partial_issuer_match(strict):
    for iss in (ISSUER[:-4], ISSUER[8:], "_" + ISSUER + "_"):
        _refused(strict, jwt.encode(_claims(iss=iss), SECRET, "HS256"))


def test_CVE_2026_32597_unknown_critical_header(strict):
    """RFC 7515 §4.1.11: a recipient must reject a `crit` extension it does not understand
    (answered 500 by Lumen before this test: pyjwt raises it from get_unverified_header)."""
    _refused(strict, jwt.encode(_claims(), SECRET, "HS256", headers={"crit": ["exp-ext"], "exp-ext": 1}))


def test_CVE_2025_45768_short_hmac_secret_refused_at_start():
    from lumen.config import load_settings
    from lumen.errors import ConfigError
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(environ={"LUMEN_JWT_SECRET": "too-short-for-hs256"})


def test_rs256_where_only_hs256_is_configured(hs_only, keys):
    _refused(hs_only, jwt.encode(_claims(), keys["server"], "RS256"))


def test_hs256_where_only_rs256_is_configured(make_server, keys):
    rs_only = make_server(jwt_secret=None, jwt_public_key=str(keys["path"]))
    _refused(rs_only, jwt.encode(_claims(aud=None, iss=None), SECRET, "HS256"))


@pytest.mark.parametrize("claims,code", [
    ({"exp": int(time.time()) - 3600}, "token_expired"),
    ({"nbf": int(time.time()) + 3600}, "invalid_token"),
    ({"exp": None}, "invalid_token"),
    ({"sub": None}, "invalid_token"),
    ({"aud": "someone-else"}, "invalid_token"),
    ({"aud": None}, "invalid_token"),
    ({"iss": "https://evil.example.com"}, "invalid_token"),
    ({"iss": None}, "invalid_token"),
], ids=["expired", "nbf-future", "no-exp", "no-sub", "wrong-aud", "no-aud", "wrong-iss", "no-iss"])
def test_claims(strict, claims, code):
    _refused(strict, jwt.encode(_claims(**claims), SECRET, "HS256"), code)


def test_tampered_payload_and_signature(strict):
    token = jwt.encode(_claims(), SECRET, "HS256")
    header, body, signature = token.split(".")
    promoted = _b64(json.dumps(_claims(sub="admin")).encode())
    _refused(strict, f"{header}.{promoted}.{signature}")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _refused(strict, f"{header}.{body}.{flipped}")


@pytest.mark.parametrize("mangle", [
    lambda t: t.rsplit(".", 1)[0],                 # two segments
    lambda t: t[: len(t) // 2],                    # truncated
    lambda t: t.replace(".", ".!!*", 1),           # not base64url
    lambda t: "ey" + t,                            # garbage header
], ids=["two-segments", "truncated", "non-base64", "bad-header"])
def test_malformed_segments(strict, mangle):
    _refused(strict, mangle(jwt.encode(_claims(), SECRET, "HS256")))


def test_100_kb_token_gets_a_clean_answer(strict):
    """Padding a token to 100 kB must neither hang nor crash the server.

    The request head is then over Tornado's 64 KiB limit: Tornado drops the
    connection before any handler runs (no status line), which is as clean a
    refusal as a 431; the token verifier's own limit (MAX_TOKEN_BYTES) answers
    401 for tokens that fit in the head."""
    huge = jwt.encode(_claims(pad="x" * 100_000), SECRET, "HS256")
    for where in ("header", "query"):
        try:
            status, _ = _status(strict, huge, where)
        except (ConnectionError, http.client.RemoteDisconnected):
            status = None
        assert status in (None, 400, 401, 414, 431), (where, status)
    big = jwt.encode(_claims(pad="x" * 20_000), SECRET, "HS256")
    assert _status(strict, big) == (401, {"error": "invalid_token", "message": ANY})
    assert _status(strict, jwt.encode(_claims(), SECRET, "HS256"))[0] == 101, "still serving"
    strict.wait_idle()


@pytest.mark.parametrize("field", ["kid", "jku", "x5u"])
def test_key_location_headers_are_ignored(strict, keys, field):
    """A token signed by the attacker's key, pointing at the attacker's key: refused
    (keys come from the configuration only; nothing is fetched)."""
    where = {"kid": "../../../dev/null", "jku": "https://evil.example.com/jwks.json",
             "x5u": "https://evil.example.com/cert.pem"}[field]
    _refused(strict, jwt.encode(_claims(), keys["attacker"], "RS256", headers={field: where}))
    # And on a genuinely signed token the header changes nothing.
    assert _status(strict, jwt.encode(_claims(), keys["server"], "RS256", headers={field: where}))[0] == 101
    strict.wait_idle()


# -- the browser's Origin (cross-site WebSocket hijacking) ----------------------
def _origin(server: LiveServer, origin: str | None) -> tuple[int, dict | None]:
    headers = {"Authorization": f"Bearer {jwt.encode(_claims(aud=None, iss=None), SECRET, 'HS256')}"}
    if origin is not None:
        headers["Origin"] = origin
    status, _, body = handshake(server, headers=headers)
    server.wait_idle()
    return status, body


def test_foreign_page_refused_by_default(server):
    status, body = _origin(server, "https://evil.example.com")
    assert status == 403 and body["error"] == "origin_not_allowed"
    assert server.call(lambda: server.context.limits.active) == 0
    assert _origin(server, f"http://127.0.0.1:{server.port}")[0] == 101, "same origin (the demo page)"
    assert _origin(server, None)[0] == 101, "non-browser clients send no Origin"


def test_allow_list(make_server):
    listed = make_server(allowed_origins="https://app.example.com, https://admin.example.com/")
    assert _origin(listed, "https://app.example.com")[0] == 101
    assert _origin(listed, "https://ADMIN.example.com")[0] == 101
    assert _origin(listed, "https://app.example.com.evil.net")[0] == 403
    assert _origin(listed, f"http://127.0.0.1:{listed.port}")[0] == 403, "the list replaces same-origin"
    anyone = make_server(allowed_origins="*")
    assert _origin(anyone, "https://evil.example.com")[0] == 101
