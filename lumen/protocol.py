"""The wire protocol: session options, every message type and close code.

``docs/protocol.md`` mirrors this module.  Times on the wire are seconds of
audio since the session started, rounded to milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

from lumen.errors import BadRequestError

# RFC 6455 close codes used by the server.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_OVERLOADED = 1013

ENCODINGS = ("pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "mulaw", "alaw")
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
MAX_CHANNELS = 32
MAX_SPEAKERS = 16

#: Query parameter that continues a stored session instead of starting one (docs/store.md).
RESUME_OPTION = "resume"
_SESSION_ID = re.compile(r"[0-9a-f]{32}")

#: Client → server text message types.
CLIENT_TYPES = ("finalize", "end", "keepalive", "configure")
#: Limits on ``keyterms``: whisper's prompt holds at most 224 tokens, and a
#: long glossary both costs decoding time and dilutes the bias.
MAX_KEYTERMS = 50
MAX_KEYTERM_CHARS = 50
MAX_KEYTERMS_CHARS = 600


@dataclass(frozen=True)
class SessionOptions:
    """Per-session options, from the handshake's query string.

    Raw-audio fields describe headerless PCM; a stream that starts with
    ``RIFF`` is parsed as WAV and its header wins.
    """

    sample_rate: int = 16000
    """Sample rate of raw PCM, 8000-192000 Hz (resampled to 16 kHz)."""
    encoding: str = "pcm_s16le"
    """Raw PCM encoding: one of :data:`ENCODINGS`."""
    channels: int = 1
    """Interleaved channels of raw PCM (1-32); down-mixed to mono."""
    language: str | None = None
    """Spoken language (ISO 639-1, e.g. ``en``); ``auto`` detects per utterance
    (multilingual models only); unset means the model's default."""
    interim_results: bool = True
    """Send partial transcripts (``is_final: false``) while speech goes on."""
    diarize: bool = True
    """Label speakers (``speaker`` field) when the server has diarization."""
    speaker_turns: bool = False
    """Send the live speaker timeline as ``speakers.turns`` messages (who spoke
    when, on the diarizer's own boundaries) as it is labelled and relabelled."""
    num_speakers: int | None = None
    """Exact number of speakers, when known (1-16)."""
    min_speakers: int | None = None
    """Fewest speakers to find (1-16; server default 1)."""
    max_speakers: int | None = None
    """Most speakers to find (1-16; server default 8)."""
    keyterms: tuple[str, ...] = ()
    """Words and names to bias recognition towards (whisper's prompt): drug
    names, people, jargon.  Query: comma-separated; ``configure`` replaces them."""
    terms: bool | None = None
    """Mark drug names and clinical conditions on finals (``terms`` field);
    unset: the server's ``terms`` setting."""
    denoise: bool | None = None
    """Clean the audio before the VAD and recognition: high-pass, noise
    suppression (DeepFilterNet 3), automatic gain (docs/frontend.md); unset:
    the server's ``denoise`` setting."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def speaker_overrides(self) -> dict[str, int]:
        """The speaker-count options the client set (for the diarizer)."""
        return {name: value for name in ("num_speakers", "min_speakers", "max_speakers")
                if (value := getattr(self, name)) is not None}


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise BadRequestError(f"{name} must be true or false, got {value!r}")


def _parse_int(name: str, value: str, low: int, high: int) -> int:
    # ASCII digits only: int() also takes " 16000", "16_000" and other scripts' digits.
    if not (value.isascii() and value.isdigit()):
        raise BadRequestError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise BadRequestError(f"{name} must be between {low} and {high}, got {number}")
    return number


def parse_session_options(query: Mapping[str, str], ignore: Iterable[str] = ("token",)) -> SessionOptions:
    """Parse the handshake query (one value per key) or raise :class:`BadRequestError`."""
    known = {f.name for f in fields(SessionOptions)}
    unknown = sorted(set(query) - known - set(ignore))
    if unknown:
        raise BadRequestError(f"unknown query parameter(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    if "sample_rate" in query:
        values["sample_rate"] = _parse_int("sample_rate", query["sample_rate"], MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
    if "channels" in query:
        values["channels"] = _parse_int("channels", query["channels"], 1, MAX_CHANNELS)
    if "encoding" in query:
        if query["encoding"] not in ENCODINGS:
            raise BadRequestError(f"encoding must be one of {', '.join(ENCODINGS)}, got {query['encoding']!r}")
        values["encoding"] = query["encoding"]
    if "language" in query:
        language = query["language"].lower()
        if not (language == "auto" or (2 <= len(language) <= 3 and language.isalpha())):
            raise BadRequestError(f"language must be an ISO 639-1 code or 'auto', got {query['language']!r}")
        values["language"] = language
    if "keyterms" in query:
        values["keyterms"] = parse_keyterms([k for k in query["keyterms"].split(",") if k.strip()])
    for name in ("interim_results", "diarize", "speaker_turns", "terms", "denoise"):
        if name in query:
            values[name] = _parse_bool(name, query[name])
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        if name in query:
            values[name] = _parse_int(name, query[name], 1, MAX_SPEAKERS)
    low, high = values.get("min_speakers"), values.get("max_speakers")
    if low is not None and high is not None and low > high:
        raise BadRequestError(f"min_speakers ({low}) must not exceed max_speakers ({high})")
    count = values.get("num_speakers")
    if count is not None and not (low or 1) <= count <= (high or MAX_SPEAKERS):
        raise BadRequestError(f"num_speakers ({count}) must lie between min_speakers and max_speakers")
    return SessionOptions(**values)


def refuse_repeated(arguments: Mapping[str, list[bytes]]) -> None:
    """:class:`BadRequestError` when a query parameter (Tornado's ``query_arguments``) is
    given more than once: which one would count is anybody's guess."""
    repeated = sorted(name for name, values in arguments.items() if len(values) > 1)
    if repeated:
        raise BadRequestError(f"query parameter(s) given more than once: {', '.join(repeated)}")


def is_session_id(text: str) -> bool:
    """Whether ``text`` has the form of a session id (32 lowercase hex digits)."""
    return _SESSION_ID.fullmatch(text) is not None


def parse_resume(query: Mapping[str, str]) -> str | None:
    """The session id of ``?resume=``, if given, or :class:`BadRequestError` if it is no session id."""
    session_id = query.get(RESUME_OPTION)
    if session_id is not None and not is_session_id(session_id):
        raise BadRequestError(f"{RESUME_OPTION} must be a session_id (32 hex digits), got {session_id[:64]!r}")
    return session_id


def t(seconds: float) -> float:
    """A time as it goes on the wire: seconds, 3 decimals."""
    return round(float(seconds), 3)


def encode(message_type: str, **body: Any) -> str:
    """A server → client message as JSON text."""
    return json.dumps({"type": message_type, **body}, ensure_ascii=False, separators=(",", ":"))


def session_started(session_id: str, user: str, model: str, config: Mapping[str, Any],
                    expires_at: float, resumed_from: Mapping[str, Any] | None = None) -> str:
    """``resumed_from`` only on a resumed session: where its audio and segment ids continue."""
    extra = {} if resumed_from is None else {"resumed_from": dict(resumed_from)}
    return encode("session.started", session_id=session_id, user=user, model=model,
                  config=dict(config), expires_at=int(expires_at), **extra)


def transcript(session_id: str, segment_id: int, is_final: bool, text: str, start: float,
               end: float, speaker: str | None, words: list[dict[str, Any]], language: str,
               language_probability: float | None, lag: float,
               terms: list[dict[str, Any]] | None = None) -> str:
    """``terms`` (finals of sessions with ``terms`` on) is left out when None."""
    extra = {} if terms is None else {"terms": terms}
    probability = None if language_probability is None else round(language_probability, 3)
    return encode("transcript", session_id=session_id, segment_id=segment_id, is_final=is_final,
                  text=text, start=t(start), end=t(end), speaker=speaker, words=words,
                  language=language, language_probability=probability, lag=t(lag), **extra)


def speakers_updated(session_id: str, segments: list[dict[str, Any]],
                     turns: list[dict[str, Any]] | None = None) -> str:
    """``turns`` (the session's whole speaker timeline) only in the last one of a session."""
    body: dict[str, Any] = {"segments": segments}
    if turns is not None:
        body["turns"] = turns
    return encode("speakers.updated", session_id=session_id, **body)


def speaker_turns(session_id: str, since: float, turns: list[dict[str, Any]]) -> str:
    """The live timeline from ``since`` on: ``turns`` replace what the client holds after ``since``."""
    return encode("speakers.turns", session_id=session_id, since=since, turns=turns)


def error(code: str, message: str) -> str:
    return encode("error", code=code, message=message)


def session_ended(session_id: str, audio_seconds: float, segments: int, reason: str) -> str:
    return encode("session.ended", session_id=session_id, audio_seconds=t(audio_seconds),
                  segments=segments, reason=reason)


def parse_keyterms(terms: Any) -> tuple[str, ...]:
    """Validated key terms (stripped, duplicates dropped) or :class:`BadRequestError`."""
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise BadRequestError("keyterms must be a list of strings")
    cleaned = tuple(dict.fromkeys(" ".join(t.split()) for t in terms if t.strip()))
    if len(cleaned) > MAX_KEYTERMS:
        raise BadRequestError(f"at most {MAX_KEYTERMS} keyterms, got {len(cleaned)}")
    long = [t for t in cleaned if len(t) > MAX_KEYTERM_CHARS]
    if long:
        raise BadRequestError(f"keyterm {long[0][:20]!r}… is over {MAX_KEYTERM_CHARS} characters")
    if sum(len(t) + 2 for t in cleaned) > MAX_KEYTERMS_CHARS:
        raise BadRequestError(f"keyterms total over {MAX_KEYTERMS_CHARS} characters")
    return cleaned


@dataclass(frozen=True)
class ClientMessage:
    """A client text message."""

    type: str
    """One of :data:`CLIENT_TYPES`."""
    keyterms: tuple[str, ...] | None = None
    """``configure`` only: the session's new key terms (None: unchanged)."""


def parse_client_message(text: str) -> ClientMessage:
    """A client text message, or :class:`BadRequestError` saying what is wrong with it."""
    try:
        message = json.loads(text)
    except ValueError:
        raise BadRequestError("text messages must be JSON objects, e.g. {\"type\": \"end\"}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadRequestError("text messages must be JSON objects with a string 'type'")
    if message["type"] not in CLIENT_TYPES:
        raise BadRequestError(f"unknown message type {message['type']!r} (expected one of "
                              f"{', '.join(CLIENT_TYPES)})")
    if message["type"] != "configure":
        return ClientMessage(message["type"])
    unknown = sorted(set(message) - {"type", "keyterms"})
    if unknown:
        raise BadRequestError(f"configure does not take {', '.join(unknown)} (it takes keyterms)")
    keyterms = parse_keyterms(message["keyterms"]) if "keyterms" in message else None
    return ClientMessage("configure", keyterms)
