"""Prometheus metrics of one server, served at ``/metrics``.

Each server owns a :class:`ServerMetrics` with its own ``CollectorRegistry``
(never the process-global one), so several servers in one process — tests —
keep separate counts.  What is measured, and where:

* ``lumen_sessions_active`` / ``lumen_sessions_started_total``: sessions.
* ``lumen_audio_received_seconds_total``: seconds of audio decoded from
  clients (at their own sample rate).
* ``lumen_inference_realtime_factor``: per whisper call, its wall time divided
  by the seconds of audio it read (partials re-read an utterance, so the sum
  of audio exceeds what clients sent); ``lumen_inference_seconds_total`` is
  the busy time, ``lumen_inference_queue_depth`` the calls waiting for a
  context now.
* ``lumen_final_latency_seconds``: per non-empty final, the wall time from
  the arrival of the WebSocket message holding the end of its last word to
  the moment the final is sent.  It includes the ``endpoint_silence`` the
  server must hear before it knows speech ended, queueing and inference; it
  cannot include the network or the client's own buffering, which the server
  does not see.  Audio sent faster than real time arrives long before it is
  reached, so such sessions show large values: read it on live traffic.
* ``lumen_result_lag_seconds``: the ``lag`` of every transcript message (audio
  received beyond the result's audio when it was sent: how far recognition
  trails the stream).
* ``lumen_handshake_rejections_total{reason}``: refused handshakes by error code.
* ``lumen_session_errors_total{code,close_code}``: sessions the server closed
  abnormally, by error code and WebSocket close code.

Thread-safety: everything is updated on the IOLoop thread, except the
inference metrics, which ``prometheus_client`` updates atomically.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics)
from prometheus_client.exposition import choose_encoder

from lumen import __version__
from lumen.asr.engine import DecodeOptions, Transcription, WhisperEngine

RTF_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class ServerMetrics:
    """The metrics of one server (see the module docstring)."""

    def __init__(self, model_name: str, active_sessions: Callable[[], int],
                 queue_depth: Callable[[], int], arrival_horizon: float) -> None:
        """``arrival_horizon``: seconds of audio behind the newest for which arrival
        times are kept (finals never end further back: the session closes first)."""
        # The `_created` series (a timestamp per counter) only double the output.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.arrival_horizon = arrival_horizon
        registry = self.registry
        Gauge("lumen_build_info", "Version and model of this server (always 1).",
              ["version", "model"], registry=registry).labels(__version__, model_name).set(1)
        Gauge("lumen_sessions_active", "Sessions open now.",
              registry=registry).set_function(active_sessions)
        self.sessions_started = Counter("lumen_sessions_started", "Sessions opened.", registry=registry)
        self.audio_seconds = Counter("lumen_audio_received_seconds",
                                     "Seconds of audio received from clients and decoded.",
                                     registry=registry)
        self.inference_rtf = Histogram("lumen_inference_realtime_factor",
                                       "Wall time of a whisper call divided by the seconds of audio it read.",
                                       buckets=RTF_BUCKETS, registry=registry)
        self.inference_seconds = Counter("lumen_inference_seconds", "Wall time spent in whisper calls.",
                                         registry=registry)
        Gauge("lumen_inference_queue_depth", "Whisper calls waiting for a free context.",
              registry=registry).set_function(queue_depth)
        self.final_latency = Histogram(
            "lumen_final_latency_seconds",
            "From the arrival of the audio holding a final's last word to sending the final.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.result_lag = Histogram("lumen_result_lag_seconds",
                                    "Audio received beyond a transcript's audio when it was sent.",
                                    buckets=LAG_BUCKETS, registry=registry)
        self.rejections = Counter("lumen_handshake_rejections", "Refused handshakes, by error code.",
                                  ["reason"], registry=registry)
        self.session_errors = Counter("lumen_session_errors",
                                      "Sessions closed by the server with an error.",
                                      ["code", "close_code"], registry=registry)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for: (body, content type)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def refused(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def inference(self, result: Transcription) -> None:
        self.inference_seconds.inc(result.inference_seconds)
        if result.audio_seconds > 0:
            self.inference_rtf.observe(result.inference_seconds / result.audio_seconds)

    def session(self) -> "SessionMeter":
        self.sessions_started.inc()
        return SessionMeter(self)


class SessionMeter:
    """Watches one session's traffic: audio in, messages out, the close."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics
        self._seconds = 0.0
        self._arrivals: deque[tuple[float, float]] = deque()
        """(seconds of audio decoded so far, monotonic time it arrived)."""
        self._error: str | None = None

    def received(self, audio_seconds: float) -> None:
        """After each audio message: the session's decoded audio so far."""
        if audio_seconds <= self._seconds:
            return
        self._metrics.audio_seconds.inc(audio_seconds - self._seconds)
        self._seconds = audio_seconds
        self._arrivals.append((audio_seconds, time.monotonic()))
        while self._arrivals[0][0] < audio_seconds - self._metrics.arrival_horizon:
            self._arrivals.popleft()

    def sent(self, message: str) -> None:
        """Every message the server sends."""
        body: dict[str, Any] = json.loads(message)
        kind = body["type"]
        if kind == "transcript":
            self._metrics.result_lag.observe(body["lag"])
            if body["is_final"] and body["words"]:
                self._metrics.final_latency.observe(time.monotonic() - self._arrival(body["end"]))
        elif kind == "error":
            self._error = body["code"]

    def closed(self, code: int, error: str | None = None) -> None:
        """The server closes the session with ``code`` (and ``error``, when no message said it)."""
        if code != 1000:
            self._metrics.session_errors.labels(error or self._error or "none", str(code)).inc()

    def _arrival(self, audio_time: float) -> float:
        """When the message holding ``audio_time`` arrived (finals come in time order)."""
        while len(self._arrivals) > 1 and self._arrivals[0][0] < audio_time:
            self._arrivals.popleft()
        return self._arrivals[0][1] if self._arrivals else time.monotonic()


class MeteredEngine:
    """A server's view of a (possibly shared) engine that records every call it makes.

    It stands in for the :class:`WhisperEngine` in the session services: ``run``
    is measured, everything else is the engine's own.
    """

    def __init__(self, engine: WhisperEngine, metrics: ServerMetrics) -> None:
        self._engine = engine
        self._metrics = metrics

    async def run(self, audio: np.ndarray, options: DecodeOptions,
                  abort: threading.Event | None = None) -> Transcription:
        result = await self._engine.run(audio, options, abort)
        self._metrics.inference(result)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
