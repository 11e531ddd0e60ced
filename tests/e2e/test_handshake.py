"""Every way a handshake is refused, against a real server (no session is created)."""

from __future__ import annotations

import asyncio
import logging
import time

import jwt
import pytest
from support import SECRET, handshake

from lumen.auth import mint_token
from lumen.client import ClientError, LumenClient


def token_with(**claims) -> str:
    now = int(time.time())
    base = {"sub": "tester", "scope": "transcribe", "exp": now + 600}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, "HS256")


def test_missing_token_401_without_error_attribute(server):
    status, response, body = handshake(server)
    assert status == 401 and body["error"] == "missing_token"
    challenge = response.getheader("WWW-Authenticate")
    assert challenge.startswith("Bearer") and "error=" not in challenge


@pytest.mark.parametrize("token,code", [
    ("garbage", "invalid_token"),
    (jwt.encode({"sub": "x", "scope": "transcribe", "exp": int(time.time()) + 600}, "w" * 40, "HS256"),
     "invalid_token"),
    (token_with(exp=int(time.time()) - 3600), "token_expired"),
    (token_with(sub=None), "invalid_token"),
    (token_with(exp=None), "invalid_token"),
])
@pytest.mark.parametrize("where", ["header", "query"])
def test_bad_tokens_401(server, token, code, where):
    if where == "header":
        status, response, body = handshake(server, headers={"Authorization": f"Bearer {token}"})
    else:
        status, response, body = handshake(server, query=f"?token={token}")
    assert status == 401 and body["error"] == code and body["message"]
    assert 'error="invalid_token"' in response.getheader("WWW-Authenticate")


def test_insufficient_scope_403(server):
    status, response, body = handshake(server, headers={"Authorization": f"Bearer {token_with(scope='read')}"})
    assert status == 403 and body["error"] == "insufficient_scope"


@pytest.mark.parametrize("query", ["?sample_rate=3", "?encoding=ogg", "?channels=0", "?bogus=1",
                                   "?interim_results=sometimes", "?language=fr",
                                   "?num_speakers=0", "?min_speakers=5&max_speakers=2",
                                   "?min_speakers=17", "?sample_rate=abc&sample_rate=16000"])
def test_bad_query_400(server, query):
    status, _, body = handshake(server, query=query, headers={"Authorization": f"Bearer {token_with()}"})
    assert status == 400 and body["error"] == "bad_request"


def test_valid_handshake_switches_protocols(server):
    status, _, _ = handshake(server, headers={"Authorization": f"Bearer {token_with()}"})
    assert status == 101


@pytest.mark.parametrize("query", ["?min_speakers=9", "?min_speakers=9&diarize=false", "?max_speakers=1",
                                   "?num_speakers=12"])
def test_speaker_bounds_in_1_to_16_are_taken_alone(server, query):
    """A bound given alone moves the server's other one (default 1-8) when they would cross."""
    status, _, body = handshake(server, query=query, headers={"Authorization": f"Bearer {token_with()}"})
    assert status == 101, body


def test_refusals_create_no_session(server):
    for _ in range(3):
        handshake(server, headers={"Authorization": "Bearer nope"})
    server.wait_idle()
    assert server.call(lambda: server.context.limits.active) == 0


def test_token_in_query_never_logged(server, caplog):
    token = token_with()
    caplog.set_level(logging.DEBUG)

    async def session():
        client = await LumenClient.connect(server.url, token, token_in_query=True)
        await client.end()
        async for _ in client.events():
            pass
    asyncio.run(session())
    handshake(server, query=f"?token={token}x")
    server.wait_idle()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/ws/transcribe?token=[redacted]" in text
    assert token not in text and token.split(".")[2] not in text


def test_user_and_server_caps(make_server):
    capped = make_server(max_sessions=2, max_sessions_per_user=1)

    async def scenario():
        alice = await LumenClient.connect(capped.url, mint_token(SECRET, sub="alice"))
        with pytest.raises(ClientError) as refused:
            await LumenClient.connect(capped.url, mint_token(SECRET, sub="alice"))
        assert refused.value.status == 429 and refused.value.code == "too_many_sessions"
        bob = await LumenClient.connect(capped.url, mint_token(SECRET, sub="bob"))
        with pytest.raises(ClientError) as full:
            await LumenClient.connect(capped.url, mint_token(SECRET, sub="carol"))
        assert full.value.status == 503 and full.value.code == "server_busy"
        for client in (alice, bob):
            await client.end()
            async for _ in client.events():
                pass
    asyncio.run(scenario())
    status, response, _ = handshake(capped, headers={"Authorization": f"Bearer {token_with()}"})
    assert status == 101  # slots were released
    capped.wait_idle()


def test_retry_after_on_503(make_server):
    capped = make_server(max_sessions=1)

    async def scenario():
        first = await LumenClient.connect(capped.url, mint_token(SECRET, sub="a"))
        status, response, body = await asyncio.get_running_loop().run_in_executor(
            None, lambda: handshake(capped, headers={"Authorization": f"Bearer {token_with(sub='b')}"}))
        assert status == 503 and response.getheader("Retry-After")
        await first.end()
        async for _ in first.events():
            pass
    asyncio.run(scenario())
