"""The ``lumen`` command as a user runs it: transcribe against a real server, serve and SIGTERM."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import numpy as np
import pytest
import soundfile
import soxr
from serve_process import LUMEN, START_SECONDS, ServeProcess, free_port, run_lumen
from support import SECRET, collect, final_text, finals, pcm_s16, read_wav, stream_session, wav_bytes, wer
from test_speakers import final_speakers

from lumen.auth import mint_token
from lumen.client import Closed, LumenClient, ServerError, SessionEnded, fetch_transcript
from lumen.transcribe import SentAudio, Source, send_source
from lumen.transcript import TranscriptRecord

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FINAL_LINE = re.compile(r"^\[(\d\d):(\d\d\.\d\d) → (\d\d):(\d\d\.\d\d)\](?: (S\d+):)? (.+)$")


def transcribe(server, token: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_lumen("transcribe", "--url", server.url, *args, env={"LUMEN_TOKEN": token}, **kwargs)


def srt_cues(text: str) -> list[tuple[str, str, str]]:
    """(start, end, text) of each SRT block; fails on a malformed one."""
    cues = []
    for n, block in enumerate(text.strip().split("\n\n"), 1):
        lines = block.split("\n")
        assert lines[0] == str(n), block
        start, end = re.fullmatch(r"(\S+) --> (\S+)", lines[1]).groups()
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d\d\d", start) and start <= end, block
        cues.append((start, end, " ".join(lines[2:])))
    return cues


def test_help_reads_well():
    top = run_lumen("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("serve", "token", "models", "transcribe", "sessions"))
    serve = run_lumen("serve", "--help").stdout
    for flag in ("--workers", "--certfile", "--keyfile", "--log-format", "--no-diarization", "/metrics"):
        assert flag in serve
    transcribe_help = run_lumen("transcribe", "--help").stdout
    for flag in ("--out", "--format", "--fast", "--raw", "--cafile", "examples:"):
        assert flag in transcribe_help


def test_transcribe_writes_every_format(server, token, testdata, tmp_path):
    out = {fmt: tmp_path / f"call.{fmt}" for fmt in ("json", "srt", "vtt", "rttm")}
    result = transcribe(server, token, str(testdata / "sample.wav"), "--fast",
                        *[arg for path in out.values() for arg in ("--out", str(path))])
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout), "no escape codes when stdout is not a terminal"

    document = json.loads(out["json"].read_text())
    segments = document["segments"]
    assert document["session_id"] and document["audio_seconds"] == pytest.approx(30.0, abs=0.1)
    assert len(segments) >= 4 and {s["speaker"] for s in segments} >= {"S1", "S2"}
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    for segment in segments:
        assert segment["words"] and segment["start"] <= segment["end"]
    text = " ".join(s["text"] for s in segments)

    # stdout: every final once, and any corrected one again with its new speaker.
    printed = [FINAL_LINE.match(line) for line in result.stdout.splitlines()]
    assert all(printed), result.stdout
    last_print = {m.group(6).removesuffix(" (speaker corrected)"): m.group(5) for m in printed}
    assert {s["text"]: s["speaker"] for s in segments} == last_print

    cues = srt_cues(out["srt"].read_text())
    assert " ".join(re.sub(r"^S\d+: ", "", c[2]) for c in cues).split() == text.split()

    vtt = out["vtt"].read_text()
    assert vtt.startswith("WEBVTT\n\n")
    voices = re.findall(r"^\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d\n<v (S\d+)>", vtt, re.M)
    assert len(voices) == len(cues) and set(voices) == {s["speaker"] for s in segments}

    # RTTM: the diarizer's speaker timeline (the session's final turns), also in the JSON.
    rttm = [line.split() for line in out["rttm"].read_text().splitlines()]
    assert {(r[0], r[1]) for r in rttm} == {("SPEAKER", "sample")}
    turns = [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rttm]
    assert turns == [pytest.approx((t["start"], t["end"], t["speaker"]), abs=0.0011) for t in document["turns"]]
    assert len(turns) >= 4 and {who for *_, who in turns} == {s["speaker"] for s in segments}
    assert all(a < b <= c for (a, b, _), (c, _, _) in zip(turns, turns[1:]))
    assert "wrote" in result.stderr

    # The same transcript fetched back from the store, as a client that lost its connection would.
    session_id = document["session_id"]
    fetched = {fmt: tmp_path / f"fetched.{fmt}" for fmt in ("json", "rttm")}
    result = run_lumen("sessions", "fetch", session_id, "--url", server.url,
                       *[arg for path in fetched.values() for arg in ("--out", str(path))],
                       env={"LUMEN_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert json.loads(fetched["json"].read_text()) == document
    assert fetched["rttm"].read_text() == out["rttm"].read_text().replace(" sample ", f" {session_id} ")
    lines = [FINAL_LINE.match(line) for line in result.stdout.splitlines()]
    assert all(lines) and {m.group(6): m.group(5) for m in lines} == last_print, "each final once, as corrected"
    assert f"session {session_id}: ended (client_end), 30.0" in result.stderr
    refused = run_lumen("sessions", "fetch", session_id, "--url", server.url,
                        env={"LUMEN_TOKEN": mint_token(SECRET, sub="mallory")})
    assert refused.returncode == 1 and "HTTP 404, session_not_found" in refused.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
def test_transcribe_resumes_across_a_server_restart(tiny_model, testdata, tmp_path, stop):
    """The server goes away mid-file (a restart: 1001 after its finals; a crash: no close at all)
    and a new one takes its port: the CLI resumes and the transcript has every word, once."""
    database = f"sqlite:{tmp_path / 'store.sqlite3'}"
    token = mint_token(SECRET, sub="resumer")
    first = ServeProcess(tiny_model, tmp_path, "--database-url", database, diarization=True).start()
    out = tmp_path / "jfk.json"
    cli = subprocess.Popen([LUMEN, "transcribe", str(testdata / "jfk.wav"), "--url", first.url,
                            "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "LUMEN_TOKEN": token})
    second = None
    try:
        time.sleep(5)  # at real-time pace: "And so my fellow Americans" has been sent
        first.signal(stop)
        first.wait()
        second = ServeProcess(tiny_model, tmp_path, "--database-url", database, port=first.port,
                              diarization=True).start()
        stdout, stderr = cli.communicate(timeout=120)
        stored = asyncio.run(fetch_transcript(second.url, json.loads(out.read_text())["session_id"], token))
    finally:
        cli.kill()
        first.stop()
        if second is not None:
            second.stop()
    assert cli.returncode == 0, stderr
    assert "resuming the session" in stderr and "resumed session" in stderr, stderr
    document = json.loads(out.read_text())
    segments = document["segments"]
    assert [s["id"] for s in segments] == sorted(s["id"] for s in segments)
    assert all(a["end"] <= b["start"] + 0.05 for a, b in zip(segments, segments[1:])), "no word twice"
    assert segments[-1]["end"] <= 11.0 and document["audio_seconds"] == pytest.approx(11.0, abs=0.001)
    text = " ".join(s["text"] for s in segments)
    # The first connection's last final is cut mid-speech, and the resumed one decodes its first
    # utterance without the first one's words as context: tiny.en may hear a word or two
    # differently there, where a lost or doubled replay would cost a dozen.  (Its echo into the
    # padding, "What your country can do for you. What your country can", is dropped.)
    assert wer((testdata / "jfk.txt").read_text(), text) <= 0.25, stdout + stderr
    spoken = re.sub(r"[^a-z ]", "", text.lower())
    assert spoken.count("fellow americans") == spoken.count("do for your country") == 1, stdout + stderr
    shown = [FINAL_LINE.match(line) for line in stdout.splitlines() if not line.endswith("(speaker corrected)")]
    assert all(shown) and [m.group(6) for m in shown] == [s["text"] for s in segments], stdout
    # The speaker timeline of both connections, as stored (it was the resumed one's alone).
    assert document["turns"] == stored["turns"] and stored["turns"][-1]["end"] > 5, stored["turns"]
    if stop == signal.SIGTERM:  # (a crashed server stored no timeline of the first connection)
        assert stored["turns"][0]["start"] < 1.0, stored["turns"]


def test_sent_audio_keeps_what_a_resume_may_ask_for():
    sent = SentAudio(bytes_per_second=100, frame_bytes=2, keep_seconds=1.0)
    for n in range(5):
        sent.add(bytes([n]) * 40)  # 0.4 s each
    assert sent.total == 200
    assert sent.since(2.0) == b""
    assert sent.since(1.5) == bytes([3]) * 10 + bytes([4]) * 40
    assert sent.since(0.8) == bytes([2]) * 40 + bytes([3]) * 40 + bytes([4]) * 40, "the last second, at least"
    assert sent.since(0.7) is None, "older than what is kept"


def test_a_chunk_read_when_the_connection_closes_goes_to_the_next():
    """Found by CI (the restart test above lost 0.1 s once): a connection that closed while
    the sender was reading a chunk from the file cancelled the read, and that chunk, taken
    from the file but in neither ``SentAudio`` nor the socket, was never sent again."""
    gate = threading.Event()

    def chunks():
        yield b"a"
        gate.wait(30)  # the file is slow: the connection closes meanwhile
        yield b"b"
        yield b"c"

    class Client:
        def __init__(self) -> None:
            self.audio: list[bytes] = []

        async def send_audio(self, data: bytes) -> None:
            self.audio.append(data)

        async def end(self) -> None:
            pass

    source = Source("slow", {}, 1.0, 1, chunks())
    sent = SentAudio(bytes_per_second=1.0, frame_bytes=1)
    first, second = Client(), Client()

    async def scenario() -> None:
        sender = asyncio.ensure_future(send_source(first, source, False, asyncio.Event(), sent))
        while not first.audio:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # reading "b"
        sender.cancel()  # the connection closed
        await asyncio.gather(sender, return_exceptions=True)
        gate.set()
        await send_source(second, source, False, asyncio.Event(), sent, replay=sent.since(1.0))

    asyncio.run(scenario())
    assert first.audio + second.audio == [b"a", b"b", b"c"]
    assert sent.total == 3


def test_sessions_list_and_delete(make_server, testdata, tmp_path):
    server = make_server(database_url=f"sqlite:{tmp_path / 'store.sqlite3'}")
    token = mint_token(SECRET, sub="lister")
    ids = [transcribe(server, token, str(testdata / "jfk.wav"), "--fast", "--no-diarize", "--out",
                      str(tmp_path / f"{n}.json")) for n in range(2)]
    assert all(r.returncode == 0 for r in ids), [r.stderr for r in ids]
    ids = [json.loads((tmp_path / f"{n}.json").read_text())["session_id"] for n in range(2)]

    def sessions(*args: str, user_token: str = token) -> subprocess.CompletedProcess:
        return run_lumen("sessions", *args, "--url", server.url, env={"LUMEN_TOKEN": user_token})

    listed = sessions("list")
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert listed.returncode == 0 and [r[0] for r in rows] == ids[::-1], "newest first"
    assert all(r[3:5] == ["ended", "(client_end)"] and r[5] == "11.0" for r in rows), listed.stdout
    first_page = sessions("list", "--limit", "1")
    assert [line.split()[0] for line in first_page.stdout.splitlines()] == [ids[1]]
    before = re.search(r"--before (\S+)\)", first_page.stderr).group(1)
    assert [line.split()[0] for line in sessions("list", "--before", before).stdout.splitlines()] == [ids[0]]

    other = sessions("delete", ids[0], user_token=mint_token(SECRET, sub="mallory"))
    assert other.returncode == 1 and "HTTP 404, session_not_found" in other.stderr
    deleted = sessions("delete", *ids)
    assert deleted.returncode == 0 and deleted.stderr.count("deleted") == 2, deleted.stderr
    assert sessions("list").stdout == ""
    gone = sessions("fetch", ids[0])
    assert gone.returncode == 1 and "HTTP 404, session_not_found" in gone.stderr


def test_record_follows_speaker_corrections(server, token, testdata):
    """The record a file is written from = every final, with the speakers as last corrected."""
    audio, rate = read_wav(testdata / "sample.wav")
    _, events = asyncio.run(stream_session(server.url, token, wav_bytes(audio, rate), rate * 2,
                                           chunk_seconds=0.5))
    record = TranscriptRecord()
    for event in events:
        record.add(event)
    assert {s.id: s.speaker for s in record.segments} == final_speakers(events)
    assert " ".join(s.text for s in record.segments) == final_text(events)
    assert record.audio_seconds == pytest.approx(audio.size / rate, abs=0.001)


def test_transcribe_flac_and_raw_pcm_from_stdin(server, token, testdata, tmp_path):
    audio, rate = read_wav(testdata / "jfk.wav")
    reference = (testdata / "jfk.txt").read_text()
    flac = tmp_path / "jfk.flac"
    soundfile.write(flac, audio, rate)
    result = transcribe(server, token, str(flac), "--fast")
    assert result.returncode == 0, result.stderr
    assert wer(reference, " ".join(FINAL_LINE.match(l).group(6) for l in result.stdout.splitlines())) <= 0.1

    pcm8k = pcm_s16(soxr.resample(audio, rate, 8000))
    result = subprocess.run([LUMEN, "transcribe", "-", "--raw", "--sample-rate", "8000", "--fast",
                             "--url", server.url], input=pcm8k, capture_output=True, timeout=300,
                            env={**os.environ, "LUMEN_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert "country" in result.stdout.decode()


def test_transcribe_refused_token_and_unreadable_file(server, tmp_path, testdata):
    result = transcribe(server, "not-a-jwt", str(testdata / "jfk.wav"))
    assert result.returncode == 1 and "HTTP 401, invalid_token" in result.stderr
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not audio")
    result = transcribe(server, "not-a-jwt", str(garbage))
    assert result.returncode == 2 and "--raw" in result.stderr


def read_terminal(fd: int, process: subprocess.Popen) -> str:
    """Everything written to a pseudo-terminal until the process exits."""
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    return output.decode()


def test_transcribe_on_a_terminal(server, token, testdata):
    """Partials overwrite the last line; finals stay, with the speaker in colour."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen([LUMEN, "transcribe", str(testdata / "jfk.wav"), "--url", server.url],
                               stdout=follower, stderr=subprocess.PIPE,
                               env={**os.environ, "LUMEN_TOKEN": token, "NO_COLOR": ""})
    os.close(follower)
    screen = read_terminal(leader, process)
    os.close(leader)
    assert process.wait(60) == 0, process.stderr.read()
    assert screen.count("\r\x1b[K") >= 3, "partials were drawn over the same line"
    assert "\x1b[1;36mS1\x1b[0m" in screen, "S1 in its colour"
    lines = [ANSI.sub("", line).strip() for line in screen.replace("\r\n", "\n").split("\n")]
    finals_shown = [FINAL_LINE.match(line.split("\r")[-1]) for line in lines if "→ 0" in line]
    assert any(m and "country" in m.group(6) for m in finals_shown), screen


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_mid_stream_flushes_finals_then_1001(tiny_model, testdata, tmp_path, workers):
    served = ServeProcess(tiny_model, tmp_path, "--workers", str(workers), "--log-format", "json").start()
    token = mint_token(SECRET, sub="sigterm")
    audio, rate = read_wav(testdata / "jfk.wav")
    data = wav_bytes(audio, rate)

    signal_after = 40 * rate * 2 // 10  # 4 s: "And so my fellow Americans" has been sent
    sent = [0, 0]  # bytes each stream has sent
    signalled = []

    async def stream(client: LumenClient, index: int):
        receiver = asyncio.ensure_future(collect(client))
        chunk = rate * 2 // 10  # 0.1 s
        for offset in range(0, len(data), chunk):
            # SIGTERM once both streams have sent 4 s (a loaded machine may start one late).
            if min(sent) >= signal_after and not signalled:
                signalled.append(True)
                served.signal(signal.SIGTERM)
            try:
                await client.send_audio(data[offset:offset + chunk])
            except Exception:  # the server closed the connection: the session is over
                break
            sent[index] = offset + chunk
            await asyncio.sleep(0.1)
        return await asyncio.wait_for(receiver, 120)

    async def scenario():
        # Two sessions at once (with 2 workers they may land on either).
        clients = await asyncio.gather(*(LumenClient.connect(served.url, token, token_in_query=True)
                                         for _ in range(2)))
        return await asyncio.gather(*(stream(client, i) for i, client in enumerate(clients)))

    try:
        sessions = asyncio.run(scenario())
        assert served.wait() == 0
    finally:
        served.stop()
    for events in sessions:
        assert "fellow americans" in final_text(events).lower(), "audio sent before SIGTERM got its finals"
        assert [e.code for e in events if isinstance(e, ServerError)] == ["server_shutdown"]
        ended = [e for e in events if isinstance(e, SessionEnded)]
        assert len(ended) == 1 and ended[0].reason == "server_shutdown"
        assert isinstance(events[-1], Closed) and events[-1].code == 1001
        assert events.index(ended[0]) > max(events.index(f) for f in finals(events))

    logs = served.json_logs()  # every line is JSON
    assert token not in served.stderr and token.split(".")[2] not in served.stderr
    session_lines = [entry for entry in logs if entry["logger"] == "lumen.session"]
    assert session_lines and all(entry["session_id"] for entry in session_lines)
    workers_ready = {entry["pid"] for entry in logs if entry["message"].startswith("worker ")
                     and entry["message"].endswith("ready (model tiny.en.ggml.bin)")}
    assert len(workers_ready) == workers
    shutdowns = [entry for entry in logs if entry["message"].startswith("shutting down")]
    assert {entry["pid"] for entry in shutdowns} == workers_ready, "every worker shut down cleanly"


def test_a_handshake_after_sigterm_is_refused_not_forgotten(tiny_model, testdata, tmp_path):
    """Found by an audit: an upgrade sent after SIGTERM on a kept-alive HTTP connection
    opened a session that the shutdown never ended (cut at the grace's end, without
    close frame, error or session.ended).  Now a stopping server answers 503."""
    served = ServeProcess(tiny_model, tmp_path, "--log-format", "json").start()
    token = mint_token(SECRET, sub="late")
    audio, rate = read_wav(testdata / "sample.wav")

    async def scenario():
        busy = await LumenClient.connect(served.url, token)  # its flush keeps the server up a while
        receiver = asyncio.ensure_future(collect(busy))
        await busy.send_audio(wav_bytes(audio, rate))
        late = socket.create_connection(("127.0.0.1", served.port))
        late.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert late.recv(4096).startswith(b"HTTP/1.1 200"), "kept alive"
        served.signal(signal.SIGTERM)
        await asyncio.to_thread(wait_for_log, served, lambda entries: any(
            e["message"].startswith("shutting down") for e in entries), "the shutdown")
        late.sendall(f"GET /ws/transcribe?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        answer = await asyncio.to_thread(late.recv, 4096)
        late.close()
        return answer, await asyncio.wait_for(receiver, 120)

    try:
        answer, events = asyncio.run(scenario())
        assert served.wait() == 0
    finally:
        served.stop()
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"Retry-After" in answer and b'"error": "server_shutdown"' in answer, answer
    assert [e.code for e in events if isinstance(e, ServerError)] == ["server_shutdown"]
    assert isinstance(events[-1], Closed) and events[-1].code == 1001


def test_sessions_past_the_shutdown_grace_are_cut_and_counted(tiny_model, testdata, tmp_path):
    served = ServeProcess(tiny_model, tmp_path, "--shutdown-grace", "0.5", "--log-format", "json").start()
    audio, rate = read_wav(testdata / "sample.wav")

    async def scenario():
        client = await LumenClient.connect(served.url, mint_token(SECRET, sub="backlog"))
        await client.send_audio(wav_bytes(audio, rate))  # seconds of work
        served.signal(signal.SIGTERM)
        return await asyncio.wait_for(collect(client), 60)

    try:
        events = asyncio.run(scenario())
        assert served.wait(60) == 0
    finally:
        served.stop()
    assert not [e for e in events if isinstance(e, SessionEnded)], "cut before its end"
    messages = [entry["message"] for entry in served.json_logs()]
    assert "1 session(s) still flushing after 0.5 s; their connections are cut" in messages, served.stderr
    # Its inference was stopped, not waited for (a call is almost always in flight then).
    assert any(re.fullmatch(r"[01] whisper call\(s\) stopped at the end of the shutdown grace", m)
               for m in messages), served.stderr


def wait_for_log(served: ServeProcess, predicate, what: str) -> list[dict]:
    """Poll the server's JSON log until ``predicate(entries)`` holds."""
    deadline = time.monotonic() + START_SECONDS
    while not predicate(entries := served.json_logs()):
        assert time.monotonic() < deadline and served.process.poll() is None, \
            f"never saw {what}:\n{served.stderr}"
        time.sleep(0.2)
    return entries


def test_a_worker_that_dies_is_replaced(tiny_model, tmp_path):
    served = ServeProcess(tiny_model, tmp_path, "--workers", "2").start()
    try:
        def ready(entries):
            return [e["pid"] for e in entries if re.fullmatch(r"worker \d+ ready .*", e["message"])]
        first = wait_for_log(served, lambda entries: len(ready(entries)) == 2, "two workers ready")
        victim = ready(first)[0]
        os.kill(victim, signal.SIGKILL)
        entries = wait_for_log(served, lambda entries: len(ready(entries)) == 3, "a new worker")
        assert ready(entries)[2] not in ready(first)
        assert any(f"(pid {victim}) exited with -9; restarting" in e["message"] for e in entries)
        assert served.get("/readyz")[0] == 200
        served.signal(signal.SIGTERM)
        assert served.wait() == 0
    finally:
        served.stop()


def test_serve_refuses_bad_keys_and_a_busy_port_before_forking(tmp_path, tiny_model):
    garbage = tmp_path / "public.pem"
    garbage.write_text("not a key")
    result = run_lumen("serve", "--workers", "2", "--jwt-public-key", str(garbage), timeout=120)
    assert result.returncode == 2 and "cannot read a PEM public key" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_lumen("serve", "--host", "127.0.0.1", "--port", str(busy.getsockname()[1]),
                           "--model", str(tiny_model), env={"LUMEN_JWT_SECRET": SECRET}, timeout=120)
    assert result.returncode == 2 and "cannot listen on 127.0.0.1:" in result.stderr


@pytest.mark.parametrize("content", [None, b"", os.urandom(100_000)], ids=["missing", "empty", "random"])
def test_serve_refuses_a_bad_model_before_listening(tmp_path, content):
    """A missing or corrupt model stops `lumen serve` with a clear message and exit code != 0
    (whisper.cpp would abort the process at load time on some bad files)."""
    model = tmp_path / "model.bin"
    if content is not None:
        model.write_bytes(content)
    done = run_lumen("serve", "--port", str(free_port()), "--model", str(model), "--no-diarization",
                     env={"LUMEN_JWT_SECRET": SECRET}, timeout=120)
    assert done.returncode not in (0, None) and done.returncode > 0, done
    assert str(model) in done.stderr and "Traceback" not in done.stderr, done.stderr
