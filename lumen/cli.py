"""The ``lumen`` command: ``serve``, ``token``, ``models``, ``transcribe``, ``sessions``."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Sequence

from lumen import __version__
from lumen.config import Settings, load_settings, replace
from lumen.errors import LumenError
from lumen.logs import FORMATS, configure

if TYPE_CHECKING:
    from lumen.client import ClientError

#: Short flags for settings whose generated ``--flag`` is long.
SETTING_ALIASES = {"tls_certfile": "--certfile", "tls_keyfile": "--keyfile"}


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per :class:`Settings` field, documented from the field."""
    group = parser.add_argument_group("settings (also LUMEN_<NAME> or the config file)")
    for f in fields(Settings):
        flags = ["--" + f.name.replace("_", "-")]
        if f.name in SETTING_ALIASES:
            flags.insert(0, SETTING_ALIASES[f.name])
        if f.type in ("bool", bool):
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=f"{f.metadata['doc']} (default: {f.default})")
        else:
            group.add_argument(*flags, dest=f.name, default=None, metavar=f.name.upper(),
                               help=f"{f.metadata['doc']} (default: {f.default})")


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    return load_settings(overrides, config_file=args.config)


# -- serve --------------------------------------------------------------------
def _dev_settings(settings: Settings) -> tuple[Settings, str | None]:
    """In --dev mode with no key: an ephemeral secret and a token to print."""
    if not settings.dev or settings.has_jwt_key:
        return settings, None
    from lumen.auth import mint_token

    secret = secrets.token_urlsafe(48)
    settings = replace(settings, jwt_secret=secret)
    return settings, mint_token(secret, sub="dev", ttl=24 * 3600,
                                audience=settings.jwt_audience, issuer=settings.jwt_issuer)


def cmd_serve(args: argparse.Namespace) -> int:
    settings, dev_token = _dev_settings(_settings_from(args))
    if not settings.has_jwt_key:
        print("lumen serve: no JWT key configured. Set LUMEN_JWT_SECRET (HS256, 32+ bytes) and/or "
              "LUMEN_JWT_PUBLIC_KEY (path to an RS256 PEM), or run 'lumen serve --dev' for an "
              "ephemeral development secret.", file=sys.stderr)
        return 2
    from lumen.server.runner import serve

    return serve(settings, dev_token)


# -- token --------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    from lumen.auth import mint_token

    settings = _settings_from(args)
    if settings.jwt_secret is None:
        print("lumen token: set LUMEN_JWT_SECRET (tokens are signed with the HS256 secret)",
              file=sys.stderr)
        return 2
    print(mint_token(settings.jwt_secret, sub=args.sub, scope=args.scope, ttl=args.ttl,
                     audience=settings.jwt_audience, issuer=settings.jwt_issuer))
    return 0


# -- models -------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from lumen.asr import models

    if args.action == "list":
        for info in models.list_models():
            print(info.describe())
        return 0
    path = models.prepare_model(args.name, progress=models.terminal_progress(f"preparing {args.name}"))
    print(path)
    return 0


# -- transcribe, sessions ------------------------------------------------------
def _client_token(args: argparse.Namespace) -> str | None:
    """The token of a client command (``--token`` or ``$LUMEN_TOKEN``); says how to give one."""
    token = args.token or os.environ.get("LUMEN_TOKEN")
    if not token:
        print(f"lumen {args.command}: give a token with --token or LUMEN_TOKEN "
              "(e.g. LUMEN_TOKEN=$(lumen token --sub me))", file=sys.stderr)
    return token


def _refused(command: str, exc: ClientError) -> int:
    print(f"lumen {command}: {exc.summary}", file=sys.stderr)
    return 1


def cmd_transcribe(args: argparse.Namespace) -> int:
    from lumen.client import ClientError
    from lumen.terminal import LiveDisplay, use_colour
    from lumen.transcribe import RawFormat, open_source, transcribe

    token = _client_token(args)
    if not token:
        return 2
    raw = RawFormat(args.sample_rate, args.encoding, args.channels) if args.raw else None
    source = open_source(args.file, raw, args.chunk)
    session_options = {name: value for name, value in (
        ("language", args.language), ("diarize", False if args.no_diarize else None),
        ("num_speakers", args.num_speakers), ("min_speakers", args.min_speakers),
        ("max_speakers", args.max_speakers), ("denoise", args.denoise)) if value is not None}
    display = LiveDisplay(sys.stdout, interactive=sys.stdout.isatty(),
                          colour=use_colour(sys.stdout, args.color))
    try:
        return asyncio.run(transcribe(source, args.url, token, session_options=session_options,
                                      realtime=not args.fast, cafile=args.cafile, display=display,
                                      outputs=args.out, out_format=args.format,
                                      reconnect=args.reconnect))
    except ClientError as exc:
        return _refused("transcribe", exc)


def cmd_sessions(args: argparse.Namespace) -> int:
    """``lumen sessions list|fetch|delete``: the user's stored sessions."""
    from lumen.client import ClientError

    token = _client_token(args)
    if not token:
        return 2
    try:
        return {"list": _sessions_list, "fetch": _sessions_fetch, "delete": _sessions_delete}[args.action](
            args, token)
    except ClientError as exc:
        return _refused(f"sessions {args.action}", exc)


def _sessions_list(args: argparse.Namespace, token: str) -> int:
    from lumen.client import list_sessions
    from lumen.terminal import local_time

    page = asyncio.run(list_sessions(args.url, token, limit=args.limit, before=args.before,
                                     cafile=args.cafile))
    for session in page["sessions"]:
        state = f"ended ({session['end_reason']})" if session["status"] == "ended" else "live"
        resumable = (f"  resumable until {local_time(session['resumable_until'])}"
                     if (session["resumable_until"] or 0) > time.time() else "")  # (a past one: no more)
        print(f"{session['session_id']}  {local_time(session['created_at'])}  {state:<24} "
              f"{session['audio_seconds']:9.1f} s  {session['segments']:5d} segments{resumable}")
    if page["next_before"] is not None:
        print(f"(more: lumen sessions list --before {page['next_before']})", file=sys.stderr)
    return 0


def _sessions_fetch(args: argparse.Namespace, token: str) -> int:
    from lumen.client import fetch_transcript, stored_finals
    from lumen.terminal import LiveDisplay, use_colour
    from lumen.transcript import TranscriptRecord, output_format, save

    formats = {path: output_format(path, args.format) for path in args.out}
    stored = asyncio.run(fetch_transcript(args.url, args.session_id, token, cafile=args.cafile))
    record = TranscriptRecord.from_stored(stored)
    display = LiveDisplay(sys.stdout, interactive=False, colour=use_colour(sys.stdout, args.color))
    for event in stored_finals(stored):
        display.final(event)
    ended = f"ended ({stored['end_reason']})" if stored["status"] == "ended" else "live: finals so far"
    print(f"session {record.session_id}: {ended}, {stored['audio_seconds']:.3f} s of audio, "
          f"{len(record.segments)} segments, {stored['connections']} connection(s)", file=sys.stderr)
    return 0 if save(record, formats, record.session_id, sys.stderr) else 1


def _sessions_delete(args: argparse.Namespace, token: str) -> int:
    from lumen.client import delete_session

    for session_id in args.session_ids:
        asyncio.run(delete_session(args.url, session_id, token, cafile=args.cafile))
        print(f"deleted {session_id}", file=sys.stderr)
    return 0


def _logging_options() -> argparse.ArgumentParser:
    """``--log-level`` and ``--log-format``, accepted by every command."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("logging")
    group.add_argument("--log-level", default=os.environ.get("LUMEN_LOG_LEVEL", "INFO"),
                       help="DEBUG, INFO, WARNING or ERROR (default: INFO; also LUMEN_LOG_LEVEL)")
    group.add_argument("--log-format", choices=FORMATS,
                       default=os.environ.get("LUMEN_LOG_FORMAT", "auto"),
                       help="text, json (one object per line), or auto: text on a terminal, "
                            "json otherwise (default: auto; also LUMEN_LOG_FORMAT)")
    return common


def _add_transcribe(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from lumen.protocol import ENCODINGS, MAX_SPEAKERS

    transcribe = sub.add_parser(
        "transcribe", parents=[common], help="stream an audio file or standard input to a server",
        description="Stream audio to a Lumen server and print the transcript as it is recognised:\n"
                    "on a terminal, partials overwrite the last line and finals are printed with\n"
                    "their times and speakers (in colour). Reads any format libsndfile reads (WAV,\n"
                    "FLAC, Ogg, MP3, ...) or headerless PCM with --raw; --out saves the transcript\n"
                    "as JSON, SRT, WebVTT or RTTM.",
        epilog="examples:\n"
               "  lumen transcribe meeting.flac --token $TOKEN --out meeting.srt\n"
               "  LUMEN_TOKEN=$TOKEN lumen transcribe call.wav --fast --out call.rttm\n"
               "  arecord -q -f S16_LE -r 16000 -c 1 -t raw | lumen transcribe - --raw\n"
               "  lumen transcribe talk.wav --url wss://asr.example.com/ws/transcribe "
               "--cafile ca.pem",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    transcribe.add_argument("file", help="audio file, or - for standard input")
    _add_connection(transcribe)
    transcribe.add_argument_group("resuming").add_argument(
        "--reconnect", type=float, default=60.0, metavar="SECONDS",
        help="when the connection breaks or the server restarts, resume the session, retrying for "
             "up to SECONDS; the audio the server did not get is sent again (default: %(default)s; "
             "0: never)")
    sending = transcribe.add_argument_group("sending")
    sending.add_argument("--fast", action="store_true",
                         help="send as fast as the connection takes it, not at real-time pace")
    sending.add_argument("--chunk", type=float, default=0.1,
                         help="seconds of audio per message (default: %(default)s)")
    sending.add_argument("--raw", action="store_true",
                         help="the input is headerless PCM described by the three options below")
    sending.add_argument("--sample-rate", type=int, default=16000, help="raw PCM rate (default: 16000)")
    sending.add_argument("--encoding", choices=ENCODINGS, default="pcm_s16le",
                         help="raw PCM encoding (default: pcm_s16le)")
    sending.add_argument("--channels", type=int, default=1, help="raw PCM channels (default: 1)")
    session = transcribe.add_argument_group("session options")
    session.add_argument("--language", help="ISO 639-1 code, or auto (multilingual models)")
    session.add_argument("--no-diarize", action="store_true", help="no speaker labels")
    session.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                         help="clean noisy audio on the server before recognition (high-pass, "
                              "noise suppression, gain control; default: the server's setting)")
    for name in ("num", "min", "max"):
        session.add_argument(f"--{name}-speakers", type=int, choices=range(1, MAX_SPEAKERS + 1),
                             metavar="N", help=f"{name}imum number of speakers" if name != "num"
                             else "exact number of speakers, when known")
    _add_output(transcribe)
    transcribe.set_defaults(func=cmd_transcribe)


def _add_sessions(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    sessions = sub.add_parser(
        "sessions", parents=[common], help="list, fetch or delete your stored sessions",
        description="Your sessions as the server stored them (docs/store.md): list them, fetch one's\n"
                    "transcript (printed as lumen transcribe prints it, saved with --out: the way\n"
                    "back to a transcript after a lost connection), or delete ended ones.",
        epilog="examples:\n"
               "  lumen sessions list --token $TOKEN\n"
               "  lumen sessions fetch 8c0f... --token $TOKEN --out call.srt --out call.rttm\n"
               "  lumen sessions delete 8c0f... --token $TOKEN",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="your sessions, newest first")
    listing.add_argument("--limit", type=int, default=20, help="sessions to show (default: %(default)s)")
    listing.add_argument("--before", type=float,
                         help="only sessions created before this Unix time (the next page)")
    fetch = actions.add_parser("fetch", help="print a session's transcript and save it with --out")
    fetch.add_argument("session_id", help="the session's id (session.started's session_id)")
    delete = actions.add_parser("delete", help="delete ended sessions and their transcripts")
    delete.add_argument("session_ids", nargs="+", metavar="session_id")
    for action in (listing, fetch, delete):
        _add_connection(action)
    _add_output(fetch)
    sessions.set_defaults(func=cmd_sessions)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    connection = parser.add_argument_group("connection")
    connection.add_argument("--url", default="ws://localhost:8000/ws/transcribe",
                            help="server endpoint, ws:// or wss:// (default: %(default)s)")
    connection.add_argument("--token", help="JWT to authenticate with (default: $LUMEN_TOKEN)")
    connection.add_argument("--cafile", help="PEM file of the CA to trust for wss:// "
                                             "(default: the system's CAs)")


def _add_output(parser: argparse.ArgumentParser) -> None:
    from lumen.transcript import WRITERS

    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="FILE", action="append", default=[],
                        help="also write the final transcript to FILE (repeatable: "
                             "--out talk.srt --out talk.json)")
    output.add_argument("--format", choices=[*WRITERS, "webvtt"],
                        help="format of every --out (default: from each file's extension)")
    output.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="speaker colours (default: on a terminal, unless NO_COLOR is set)")


def build_parser() -> argparse.ArgumentParser:
    common = _logging_options()
    parser = argparse.ArgumentParser(
        prog="lumen", description="Lumen: a live speech transcription server and its client.",
        epilog="Run 'lumen COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"lumen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve", parents=[common], help="run the server",
        description="Serve the Live API at ws://HOST:PORT/ws/transcribe (wss:// with "
                    "--certfile/--keyfile), the browser demo at /, and /healthz, /readyz, /metrics.")
    serve.add_argument("--config", help="TOML config file (also LUMEN_CONFIG)")
    _add_setting_flags(serve)
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", parents=[common], help="mint an HS256 token with the configured secret",
                           description="Print a token signed with LUMEN_JWT_SECRET.")
    token.add_argument("--config", help="TOML config file (also LUMEN_CONFIG)")
    token.add_argument("--sub", required=True, help="the user the token speaks for")
    token.add_argument("--scope", default="transcribe", help="space-separated scopes (default: transcribe)")
    token.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds (default: 3600)")
    token.set_defaults(func=cmd_token)

    models = sub.add_parser("models", parents=[common], help="list or prepare the built-in models")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list", help="built-in models and whether they are prepared")
    prepare = models_sub.add_parser("prepare", help="convert a built-in model to ggml now")
    prepare.add_argument("name", nargs="?", default="tiny.en")
    models.set_defaults(func=cmd_models)

    _add_transcribe(sub, common)
    _add_sessions(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level, args.log_format)
    try:
        return args.func(args)
    except LumenError as exc:
        print(f"lumen {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
