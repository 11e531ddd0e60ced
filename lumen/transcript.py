"""A session's transcript as files: JSON, SRT, WebVTT, RTTM.

:class:`TranscriptRecord` collects a session's finals and applies the
``speakers.updated`` corrections that come later, so a file written at the
end has every segment's and every word's last speaker.  Times are seconds of
session audio.

* **JSON** — ``{"session_id", "model", "audio_seconds", "segments": [{"id",
  "start", "end", "speaker", "text", "words": [{"text", "start", "end",
  "confidence", "speaker"}]}], "turns": [{"start", "end", "speaker"}]}``
  (``turns``: the speaker timeline, null when the session was not diarized);
* **SRT** and **WebVTT** — subtitles: each final is cut at word boundaries into
  cues of at most two lines of ``LINE_CHARS`` characters (speaker prefix
  included), and where its words' speaker changes; the speaker is a ``S1:``
  prefix (SRT) or a ``<v S1>`` voice tag (WebVTT); a cue lasts at least
  ``MIN_CUE_SECONDS`` (whisper may time a short final at one instant);
* **RTTM** — one ``SPEAKER`` line per turn of the diarizer's speaker timeline
  (the ``turns`` of the session's last ``speakers.updated``, or as
  ``speakers.turns`` built it), which follows the voices' own boundaries; without
  one (a session without diarization), one per run of a final's words with
  one speaker, which inherits whisper's word times (NIST's diarization format,
  as read by ``pyannote.metrics`` and ``dscore``; docs/diarization.md compares
  the two).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from lumen.client import (Event, SessionEnded, SpeakersUpdated, SpeakerTurns, Transcript, Word,
                          stored_finals)
from lumen.errors import ConfigError

#: A subtitle cue: at most two lines of 42 characters (the usual broadcast limit)…
LINE_CHARS = 42
MAX_CUE_LINES = 2
#: … shown for at least half a second.
MIN_CUE_SECONDS = 0.5


@dataclass
class Segment:
    id: int
    start: float
    end: float
    speaker: str | None
    text: str
    words: list[Word]


class TranscriptRecord:
    """The finals of one session, speakers as last corrected."""

    def __init__(self, session_id: str = "", model: str = "") -> None:
        self.session_id = session_id
        self.model = model
        self.audio_seconds: float | None = None
        self.turns: list[dict[str, Any]] | None = None
        """The speaker timeline ``[{start, end, speaker}]``, once the server sent one."""
        self._segments: dict[int, Segment] = {}
        # The timeline of the connections before a resume: the next connection's covers its own audio.
        self._earlier_turns: list[dict[str, Any]] = []

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> "TranscriptRecord":
        """A transcript as the store returns it (``GET /v1/sessions/{id}/transcript``,
        :func:`lumen.client.fetch_transcript`): its finals, already corrected, and its timeline."""
        record = cls(stored["session_id"], stored.get("model", ""))
        for event in stored_finals(stored):
            record.add(event)
        record.audio_seconds = stored.get("audio_seconds")
        record.turns = stored.get("turns") or None  # (none stored: a session without diarization)
        return record

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments.values())

    def add(self, event: Event) -> None:
        """Take any event; only non-empty finals, corrections, the timeline and the end matter."""
        if isinstance(event, Transcript) and event.is_final and event.text:
            self._segments[event.segment_id] = Segment(event.segment_id, event.start, event.end,
                                                       event.speaker, event.text, list(event.words))
        elif isinstance(event, SpeakersUpdated):
            for segment_id, speaker in event.labels.items():
                if segment_id in self._segments:
                    self._segments[segment_id].speaker = speaker
            for segment_id, speakers in event.word_labels.items():
                if segment_id in self._segments:
                    segment = self._segments[segment_id]
                    segment.words = [replace(w, speaker=who) for w, who in zip(segment.words, speakers)]
            if event.turns is not None:  # the connection's last: its whole timeline
                self.turns = self._earlier_turns + list(event.turns)
        elif isinstance(event, SpeakerTurns):
            self.turns = event.apply(self.turns or [])
        elif isinstance(event, SessionEnded):
            self.audio_seconds = event.audio_seconds

    def resumed(self, offset: float, turns: list[dict[str, Any]] | None) -> None:
        """The session goes on in a new connection from ``offset`` seconds of audio;
        ``turns``: its timeline up to there, as stored (None: as this record has it)."""
        earlier = self.turns if turns is None else turns
        self._earlier_turns = [dict(t, end=min(t["end"], offset)) for t in earlier or [] if t["start"] < offset]
        self.turns = list(self._earlier_turns) or None

    # -- writers --------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"session_id": self.session_id, "model": self.model,
                           "audio_seconds": self.audio_seconds,
                           "segments": [asdict(s) for s in self.segments], "turns": self.turns},
                          ensure_ascii=False, indent=2) + "\n"

    def to_srt(self) -> str:
        blocks = []
        for n, (start, end, speaker, text) in enumerate(self._cues(), 1):
            blocks.append(f"{n}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n"
                          f"{_wrap(_srt_text(speaker, text))}\n")
        return "\n".join(blocks)

    def to_webvtt(self) -> str:
        blocks = ["WEBVTT\n"]
        for start, end, speaker, text in self._cues():
            voice = f"<v {speaker}>" if speaker else ""
            blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n"
                          f"{voice}{_wrap(_vtt_escape(text))}\n")
        return "\n".join(blocks)

    def to_rttm(self, file_id: str) -> str:
        file_id = "_".join(file_id.split()) or "audio"
        if self.turns is not None:
            turns = [(turn["start"], turn["end"], turn["speaker"]) for turn in self.turns]
        else:
            turns = [(start, end, speaker) for segment in self.segments
                     for start, end, speaker, _ in _turns(segment)]
        return "".join(f"SPEAKER {file_id} 1 {start:.3f} {max(0.0, end - start):.3f} "
                       f"<NA> <NA> {speaker} <NA> <NA>\n"
                       for start, end, speaker in turns if speaker is not None)

    def _cues(self) -> list[tuple[float, float, str | None, str]]:
        """(start, end, speaker, text): finals cut at speaker changes, then at
        word boundaries to fit a cue."""
        cues = []
        for segment in self.segments:
            turns = _turns(segment)
            for start, end, speaker, words in turns:
                text = segment.text if len(turns) == 1 else _join(words)
                if _fits(speaker, text):
                    cues.append((start, end, speaker, text))
                    continue
                group: list[Word] = []
                for word in words:
                    if group and not _fits(speaker, _join(group + [word])):
                        cues.append((group[0].start, group[-1].end, speaker, _join(group)))
                        group = []
                    group.append(word)
                if group:
                    cues.append((group[0].start, group[-1].end, speaker, _join(group)))
        return [(start, _cue_end(start, end, cues[i + 1][0] if i + 1 < len(cues) else None), speaker, text)
                for i, (start, end, speaker, text) in enumerate(cues)]


def _turns(segment: Segment) -> list[tuple[float, float, str | None, list[Word]]]:
    """(start, end, speaker, words) of each run of ``segment``'s words with one
    speaker; the whole segment when its words name none (a server without
    word speakers) or all name the same one."""
    if len({w.speaker for w in segment.words}) <= 1 or any(w.speaker is None for w in segment.words):
        return [(segment.start, segment.end, segment.speaker, segment.words)]
    runs: list[list[Word]] = []
    for word in segment.words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    # The segment's edges for the outer runs (its span may exceed its words').
    return [(segment.start if i == 0 else run[0].start, segment.end if i == len(runs) - 1 else run[-1].end,
             run[0].speaker, run) for i, run in enumerate(runs)]


def _join(words: list[Word]) -> str:
    # Each word carries its own punctuation ("you,"): the server splits text at spaces.
    return " ".join(w.text for w in words)


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, LINE_CHARS)) or text


def _cue_end(start: float, end: float, following: float | None) -> float:
    """A cue's end, so that it lasts at least ``MIN_CUE_SECONDS`` (a cue of no length is
    never shown), up to the next cue's start when that leaves it some time."""
    if end - start >= MIN_CUE_SECONDS:
        return end
    if following is not None and following > start:
        return max(end, min(start + MIN_CUE_SECONDS, following))
    return start + MIN_CUE_SECONDS  # (overlapping a cue that starts at the same instant)


def _srt_text(speaker: str | None, text: str) -> str:
    """A cue's text as SRT writes it: the speaker as a prefix."""
    return f"{speaker}: {text}" if speaker else text


def _fits(speaker: str | None, text: str) -> bool:
    """Whether a cue's text, as SRT writes it (the longer form), wraps into ``MAX_CUE_LINES`` lines."""
    return len(textwrap.wrap(_srt_text(speaker, text), LINE_CHARS)) <= MAX_CUE_LINES


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


#: File format -> how to write it (``file_id`` names the recording in RTTM).
WRITERS: dict[str, Callable[[TranscriptRecord, str], str]] = {
    "json": lambda record, _: record.to_json(),
    "srt": lambda record, _: record.to_srt(),
    "vtt": lambda record, _: record.to_webvtt(),
    "rttm": lambda record, file_id: record.to_rttm(file_id),
}


def output_format(path: str, explicit: str | None = None) -> str:
    """The format to write ``path`` in: ``explicit``, else from its extension."""
    fmt = explicit or Path(path).suffix.lstrip(".").lower()
    fmt = {"webvtt": "vtt"}.get(fmt, fmt)
    if fmt not in WRITERS:
        raise ConfigError(f"cannot tell the output format of {path!r}: use --format "
                          f"({', '.join(WRITERS)}) or one of those extensions")
    return fmt


def write(record: TranscriptRecord, path: str, fmt: str, file_id: str) -> None:
    Path(path).write_text(WRITERS[fmt](record, file_id), encoding="utf-8")


def save(record: TranscriptRecord, formats: Mapping[str, str], file_id: str, log: TextIO) -> bool:
    """Write ``record`` to each path of ``formats`` (path -> format), saying so on ``log``;
    False if one could not be written."""
    speakers = len({s.speaker for s in record.segments if s.speaker})
    ok = True
    for path, fmt in formats.items():
        try:
            write(record, path, fmt, file_id)
        except OSError as exc:
            print(f"cannot write {path}: {exc.strerror}", file=log)
            ok = False
            continue
        print(f"wrote {path} ({fmt}: {len(record.segments)} segments, {speakers} speakers)", file=log)
    return ok
