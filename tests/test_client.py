"""The client side without a server: message parsing, the terminal display, transcript files,
TLS contexts and log formatting.  (Against a real server: tests/e2e/test_cli.py, test_tls.py.)"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from lumen.client import (ServerError, SessionEnded, SpeakersUpdated, SpeakerTurns, Transcript,
                          Word, parse_event)
from lumen.errors import ConfigError
from lumen.logs import JsonFormatter, TextFormatter, make_handler, redact_tokens
from lumen.terminal import CLEAR_LINE, LiveDisplay, clock, speaker_colour, use_colour
from lumen.tls import client_context
from lumen.transcript import LINE_CHARS, MAX_CUE_LINES, MIN_CUE_SECONDS, TranscriptRecord, output_format

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXBhcnQ"


def transcript(segment_id: int, text: str, start: float, end: float, speaker: str | None = "S1",
               is_final: bool = True) -> Transcript:
    words = text.split()
    step = (end - start) / max(1, len(words))
    return Transcript(segment_id, is_final, text, start, end, speaker,
                      [Word(w, start + i * step, start + (i + 1) * step, 0.9) for i, w in enumerate(words)],
                      "en", 0.0)


def test_parse_every_server_message():
    message = {"type": "transcript", "session_id": "s", "segment_id": 2, "is_final": True,
               "text": "Ask not.", "start": 1.0, "end": 2.0, "speaker": "S2",
               "words": [{"text": "Ask", "start": 1.0, "end": 1.4, "confidence": 0.8},
                         {"text": "not.", "start": 1.5, "end": 2.0, "confidence": 0.9}],
               "language": "en", "lag": 0.25}
    event = parse_event(message)
    assert event == Transcript(2, True, "Ask not.", 1.0, 2.0, "S2",
                               [Word("Ask", 1.0, 1.4, 0.8), Word("not.", 1.5, 2.0, 0.9)], "en", 0.25)
    update = parse_event({"type": "speakers.updated", "session_id": "s",
                          "segments": [{"segment_id": 2, "speaker": "S1"}]})
    assert isinstance(update, SpeakersUpdated) and update.labels == {2: "S1"}
    assert parse_event({"type": "error", "code": "idle_timeout", "message": "m"}) == \
        ServerError("idle_timeout", "m")
    assert parse_event({"type": "session.ended", "session_id": "s", "audio_seconds": 3.5,
                        "segments": 1, "reason": "client_end"}) == SessionEnded(3.5, 1, "client_end")
    assert parse_event({"type": "something.new"}) is None


# -- terminal -------------------------------------------------------------------
@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("LINES", "20")


def test_plain_display_prints_finals_and_corrections(terminal):
    out = io.StringIO()
    display = LiveDisplay(out, interactive=False, colour=False)
    display.partial(transcript(0, "and so", 0.3, 1.0, is_final=False))
    display.final(transcript(0, "and so my fellow Americans", 0.32, 7.6))
    display.final(transcript(1, "", 7.6, 8.0, speaker=None))  # speech that was nothing
    display.final(transcript(2, "ask what you can do", 8.0, 10.0, "S2"))
    display.speakers({2: "S1", 0: "S1", 9: "S3"})  # only segment 2 changes; 9 was never shown
    display.close()
    assert out.getvalue().splitlines() == [
        "[00:00.32 → 00:07.60] S1: and so my fellow Americans",
        "[00:08.00 → 00:10.00] S2: ask what you can do",
        "[00:08.00 → 00:10.00] S1: ask what you can do (speaker corrected)",
    ]


def test_terminal_redraws_partials_and_corrected_finals_in_place(terminal):
    out = io.StringIO()
    display = LiveDisplay(out, interactive=True, colour=True)
    display.final(transcript(0, "first", 0.0, 1.0, "S1"))
    display.final(transcript(1, "second " * 12, 1.0, 5.0, "S2"))  # 84+ characters: two rows at 60
    display.partial(transcript(2, "third in prog", 5.0, 6.0, is_final=False))
    partial_line = out.getvalue().rsplit(CLEAR_LINE, 1)[1]
    assert "third in prog" in partial_line and "\n" not in partial_line
    out.truncate(0), out.seek(0)
    display.speakers({1: "S1"})
    redraw = out.getvalue()
    assert redraw.startswith("\r\x1b[2A\x1b[J"), "up the two rows of segment 1, clear below"
    assert "\x1b[1;36mS1\x1b[0m: second" in redraw and "S2" not in redraw
    assert redraw.endswith("third in prog\x1b[0m"), "the partial comes back on the last line"
    out.truncate(0), out.seek(0)
    display.final(transcript(2, "third in progress", 5.0, 6.5, "S1"))
    assert out.getvalue().startswith(CLEAR_LINE) and out.getvalue().endswith("third in progress\n")


def test_terminal_reprints_corrections_that_scrolled_away(terminal):
    out = io.StringIO()
    display = LiveDisplay(out, interactive=True, colour=False)
    for n in range(25):  # more lines than the 20-line terminal
        display.final(transcript(n, f"line {n}", n, n + 0.5, "S1"))
    out.truncate(0), out.seek(0)
    display.speakers({0: "S2"})
    assert out.getvalue() == CLEAR_LINE + "[00:00.00 → 00:00.50] S2: line 0 (speaker corrected)\n"


def test_colours_and_clock(monkeypatch):
    assert [speaker_colour(f"S{n}") for n in (1, 2, 13)] == [36, 33, 36]
    assert clock(7.6) == "00:07.60" and clock(3725.25) == "1:02:05.25"
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(tty) and not use_colour(io.StringIO()) and use_colour(io.StringIO(), "always")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(tty)


# -- transcript files -------------------------------------------------------------
def record_of(*events) -> TranscriptRecord:
    record = TranscriptRecord("sid", "tiny.en")
    for event in events:
        record.add(event)
    return record


def test_cues_are_two_lines_and_never_of_no_length():
    """Regressions: 84 characters cut at 42 may need three lines (sample.wav's "there isn't
    that much difference. At / least, you know, they all call me a Yankee / down"); a final
    whisper timed at one instant made a cue players never show."""
    text = "there isn't that much difference. At least, you know, they all call me a Yankee down here"
    record = record_of(transcript(0, text, 22.0, 28.0), transcript(1, "I'm originally from Chicago", 30.0, 30.0),
                       transcript(2, "Oh.", 30.2, 30.2), transcript(3, "Yes.", 40.0, 40.0))
    blocks = [block.split("\n") for block in record.to_srt().strip().split("\n\n")]
    assert all(len(block[2:]) <= MAX_CUE_LINES and all(len(line) <= LINE_CHARS for line in block[2:])
               for block in blocks), blocks
    times = [block[1] for block in blocks]
    assert times[-3:] == ["00:00:30,000 --> 00:00:30,200",  # up to the next cue
                          "00:00:30,200 --> 00:00:30,700", "00:00:40,000 --> 00:00:40,500"]
    assert MIN_CUE_SECONDS == 0.5


def test_long_finals_become_several_cues_and_text_is_escaped():
    long_text = " ".join(f"word{n}" for n in range(40))  # 270 characters
    record = record_of(transcript(0, long_text, 0.0, 12.0), transcript(1, "a < b & c", 12.0, 13.0, None),
                       SessionEnded(13.0, 2, "client_end"))
    srt = record.to_srt()
    blocks = srt.strip().split("\n\n")
    assert len(blocks) == 5  # 4 cues for the long final, 1 for the short one
    lines = [block.split("\n")[2:] for block in blocks[:4]]
    assert all(len(cue) <= MAX_CUE_LINES and all(len(line) <= LINE_CHARS for line in cue) for cue in lines)
    assert " ".join(" ".join(cue) for cue in lines).replace("S1: ", "") == long_text
    assert blocks[0].split("\n")[1] == "00:00:00,000 --> 00:00:03,600"  # 12 words of 0.3 s
    assert blocks[4].endswith("a < b & c")  # SRT has no markup; no speaker, no prefix
    vtt = record.to_webvtt()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.600\n<v S1>word0")
    assert vtt.rstrip().endswith("00:00:12.000 --> 00:00:13.000\na &lt; b &amp; c")
    assert record.to_rttm("my file") == "SPEAKER my_file 1 0.000 12.000 <NA> <NA> S1 <NA> <NA>\n"
    document = json.loads(record.to_json())
    assert document["audio_seconds"] == 13.0 and [s["id"] for s in document["segments"]] == [0, 1]


def test_word_speaker_corrections_split_cues_and_rttm_turns():
    """A final sent with one speaker, then corrected word by word (a change the
    diarizer heard only later): the files follow the words."""
    record = record_of(transcript(0, "hello there general kenobi", 1.0, 3.0),
                       SpeakersUpdated([{"segment_id": 0, "speaker": "S1",
                                         "word_speakers": ["S1", "S1", "S2", "S2"]}]),
                       SessionEnded(3.0, 1, "client_end"))
    assert [w.speaker for w in record.segments[0].words] == ["S1", "S1", "S2", "S2"]
    assert record.to_rttm("f") == ("SPEAKER f 1 1.000 1.000 <NA> <NA> S1 <NA> <NA>\n"
                                   "SPEAKER f 1 2.000 1.000 <NA> <NA> S2 <NA> <NA>\n")
    blocks = record.to_srt().strip().split("\n\n")
    assert [block.split("\n")[2] for block in blocks] == ["S1: hello there", "S2: general kenobi"]
    assert json.loads(record.to_json())["segments"][0]["words"][3]["speaker"] == "S2"
    # A segment-only correction (a server without word speakers) keeps one turn.
    plain = record_of(transcript(0, "hello there", 0.0, 1.0), SpeakersUpdated([{"segment_id": 0, "speaker": "S2"}]))
    assert plain.to_rttm("f") == "SPEAKER f 1 0.000 1.000 <NA> <NA> S2 <NA> <NA>\n"


def test_speaker_turns_replace_the_timeline_after_since_and_rttm_follows_the_timeline():
    """speakers.turns: turns after ``since`` are replaced, one across it is cut; the
    timeline (live, then the last speakers.updated's whole one) is what RTTM writes."""
    event = parse_event({"type": "speakers.turns", "session_id": "x", "since": 4.0,
                         "turns": [{"start": 4.5, "end": 6.0, "speaker": "S2"}]})
    assert event == SpeakerTurns(4.0, [{"start": 4.5, "end": 6.0, "speaker": "S2"}])
    held = [{"start": 1.0, "end": 3.0, "speaker": "S1"}, {"start": 3.5, "end": 5.0, "speaker": "S1"},
            {"start": 5.5, "end": 6.0, "speaker": "S1"}]
    assert event.apply(held) == [{"start": 1.0, "end": 3.0, "speaker": "S1"},
                                 {"start": 3.5, "end": 4.0, "speaker": "S1"},
                                 {"start": 4.5, "end": 6.0, "speaker": "S2"}]
    record = record_of(transcript(0, "hello there general kenobi", 1.0, 3.0),
                       SpeakerTurns(0.0, [{"start": 0.9, "end": 2.1, "speaker": "S1"}]),
                       SpeakerTurns(2.0, [{"start": 2.0, "end": 3.2, "speaker": "S2"}]))
    assert record.to_rttm("f") == ("SPEAKER f 1 0.900 1.100 <NA> <NA> S1 <NA> <NA>\n"
                                   "SPEAKER f 1 2.000 1.200 <NA> <NA> S2 <NA> <NA>\n")
    record.add(SpeakersUpdated([], [{"start": 0.95, "end": 3.1, "speaker": "S1"}]))
    assert record.to_rttm("f") == "SPEAKER f 1 0.950 2.150 <NA> <NA> S1 <NA> <NA>\n"
    assert json.loads(record.to_json())["turns"] == [{"start": 0.95, "end": 3.1, "speaker": "S1"}]
    assert json.loads(record_of(transcript(0, "hi", 0.0, 1.0)).to_json())["turns"] is None


def test_output_format_from_extension_or_flag():
    assert output_format("a/b.SRT") == "srt" and output_format("x.webvtt") == "vtt"
    assert output_format("x.txt", "rttm") == "rttm"
    with pytest.raises(ConfigError, match="--format"):
        output_format("transcript.txt")


# -- TLS and logs --------------------------------------------------------------------
def test_client_context_errors(tmp_path):
    with pytest.raises(ConfigError, match="cafile: no such file"):
        client_context(str(tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        client_context(str(garbage))


def test_log_lines_are_redacted_in_both_formats():
    record = logging.LogRecord("lumen.x", logging.WARNING, __file__, 1, "token %s leaked", (JWT,), None)
    record.session_id = "abc"
    try:
        raise ValueError(f"bad {JWT}")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = TextFormatter().format(record)
    assert JWT not in text and "token [redacted-jwt] leaked" in text and "bad [redacted-jwt]" in text
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "token [redacted-jwt] leaked" and entry["session_id"] == "abc"
    assert "bad [redacted-jwt]" in entry["exception"] and entry["level"] == "WARNING"
    assert redact_tokens("no token here") == "no token here"
    assert isinstance(make_handler("auto", io.StringIO()).formatter, JsonFormatter)
