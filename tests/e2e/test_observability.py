"""Health, readiness, Prometheus metrics and JSON logs of a real server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import SECRET, finals, read_wav, stream_session, wav_bytes
from test_handshake import handshake, token_with

from lumen.auth import mint_token
from lumen.client import LumenClient, Transcript
from lumen.logs import make_handler


def get(server, path: str, accept: str | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    request = urllib.request.Request(server.http + path, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def metrics(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    status, content_type, body = get(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_health_and_readiness(make_server, token):
    capped = make_server(max_sessions=1)
    assert get(capped, "/healthz")[:2] == (200, "application/json")
    status, _, body = get(capped, "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready", "model": "tiny.en",
                                                  "sessions": 0, "capacity": 1}

    async def full():
        client = await LumenClient.connect(capped.url, token)
        status, _, body = await asyncio.to_thread(get, capped, "/readyz")
        await client.end()
        async for _ in client.events():
            pass
        return status, json.loads(body)
    assert asyncio.run(full()) == (503, {"status": "full", "model": "tiny.en", "sessions": 1,
                                         "capacity": 0})


def test_metrics_count_sessions_audio_inference_latency_refusals_errors(make_server, token, testdata):
    observed, other = make_server(), make_server()
    audio, rate = read_wav(testdata / "jfk.wav")
    _, events = asyncio.run(stream_session(observed.url, token, wav_bytes(audio, rate), rate * 2))
    for query in ("", "?token=garbage", "?sample_rate=3"):
        handshake(observed, query=query, headers={"Authorization": f"Bearer {token_with()}"}
                  if query.startswith("?sample") else None)

    async def garbage():
        client = await LumenClient.connect(observed.url, token)
        await client.send_audio(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 20)
        async for _ in client.events():
            pass
    asyncio.run(garbage())
    observed.wait_idle()

    samples = metrics(observed)
    assert value(samples, "lumen_build_info", version="0.1.0", model="tiny.en") == 1
    assert value(samples, "lumen_sessions_started_total") == 2
    assert value(samples, "lumen_sessions_active") == 0
    assert value(samples, "lumen_audio_received_seconds_total") == pytest.approx(11.0, abs=0.001)
    assert value(samples, "lumen_inference_realtime_factor_count") >= len(finals(events))
    assert value(samples, "lumen_inference_realtime_factor_sum") > 0
    assert value(samples, "lumen_inference_seconds_total") > 0
    assert value(samples, "lumen_inference_queue_depth") == 0
    assert value(samples, "lumen_final_latency_seconds_count") == len([f for f in finals(events) if f.text])
    transcripts = [e for e in events if isinstance(e, Transcript)]
    assert value(samples, "lumen_result_lag_seconds_count") == len(transcripts)
    assert value(samples, "lumen_result_lag_seconds_sum") == pytest.approx(sum(t.lag for t in transcripts))
    assert value(samples, "lumen_handshake_rejections_total", reason="missing_token") == 1
    assert value(samples, "lumen_handshake_rejections_total", reason="invalid_token") == 1
    assert value(samples, "lumen_handshake_rejections_total", reason="bad_request") == 1
    assert value(samples, "lumen_session_errors_total", code="invalid_audio", close_code="1007") == 1
    assert value(samples, "lumen_session_errors_total", code="none", close_code="1000") == 0

    # The other server shares the engine and the process, not the counts.
    untouched = metrics(other)
    assert value(untouched, "lumen_sessions_started_total") == 0
    assert value(untouched, "lumen_inference_realtime_factor_count") == 0

    status, content_type, body = get(observed, "/metrics", accept="application/openmetrics-text")
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


def test_json_logs_have_session_ids_and_never_a_token(server, testdata):
    """In-process, every logger's lines as JSON (the lumen serve flag: test_cli.py)."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    token = mint_token(SECRET, sub="logged")
    audio, rate = read_wav(testdata / "jfk.wav")
    try:
        handshake(server, query=f"?token={token}x")  # refused: its URL is logged
        asyncio.run(stream_session(server.url, token, wav_bytes(audio[: 2 * rate], rate), rate * 2))
        server.wait_idle()
        logging.getLogger("lumen.test").warning("a careless message with %s in it", token)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    assert token not in text and token.split(".")[2] not in text
    assert {"time", "level", "logger", "message", "pid"} <= set(entries[0])
    session_entries = [e for e in entries if e["logger"] == "lumen.session"]
    assert [e["message"] for e in session_entries][0] == "session started"
    assert len({e["session_id"] for e in session_entries}) == 1 and session_entries[0]["user"] == "logged"
    access = [e["message"] for e in entries if e["logger"] == "lumen.access"]
    assert any("401 GET /ws/transcribe?token=[redacted]" in m for m in access)
    assert "a careless message with [redacted-jwt] in it" in [e["message"] for e in entries]
