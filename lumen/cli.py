"""The ``lumen`` command: ``serve``, ``token``, ``models``, ``transcribe``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys
from dataclasses import fields
from typing import Any, Sequence

from lumen import __version__
from lumen.config import Settings, load_settings, replace
from lumen.errors import LumenError

log = logging.getLogger(__name__)

#: Seconds that SIGTERM waits for live sessions to flush their finals.
SHUTDOWN_GRACE_SECONDS = 30.0


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per :class:`Settings` field, documented from the field."""
    group = parser.add_argument_group("settings (also LUMEN_<NAME> or the config file)")
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            group.add_argument(flag, dest=f.name, action="store_const", const=True, default=None,
                               help=f.metadata["doc"])
        else:
            group.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(),
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
    from lumen.server.app import build_context, make_app

    context = build_context(settings)
    app = make_app(context)
    return asyncio.run(_serve(app, context, settings, dev_token))


async def _serve(app: Any, context: Any, settings: Settings, dev_token: str | None) -> int:
    from lumen.errors import SessionPolicyError

    server = app.listen(settings.port, settings.host, max_buffer_size=4 * settings.max_frame_bytes)
    url = f"ws://{'localhost' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    log.info("lumen %s serving %s/ws/transcribe with model %s", __version__, url,
             context.session_services.model_name)
    if dev_token is not None:
        print(f"\n  Development mode: an ephemeral secret signs this token (valid 24 h):\n\n"
              f"  {dev_token}\n\n  Try it:\n    lumen transcribe ../shared/testdata/jfk.wav "
              f"--url {url} --token {dev_token}\n", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: no new connections; flushing %d sessions", len(context.sessions))
    server.stop()
    sessions = list(context.sessions)
    for session in sessions:
        session.end(SessionPolicyError("server_shutdown", "the server is shutting down", 1001))
    if sessions:
        await asyncio.wait([asyncio.ensure_future(s.ended.wait()) for s in sessions],
                           timeout=SHUTDOWN_GRACE_SECONDS)
    context.session_services.engine.close()
    return 0


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


# -- transcribe ---------------------------------------------------------------
def cmd_transcribe(args: argparse.Namespace) -> int:
    from lumen.client import transcribe_file

    return asyncio.run(transcribe_file(args.file, url=args.url, token=args.token,
                                       realtime=not args.fast, chunk_seconds=args.chunk))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lumen", description="Live speech transcription server.")
    parser.add_argument("--version", action="version", version=f"lumen {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server",
                           description="Serve ws://HOST:PORT/ws/transcribe.")
    serve.add_argument("--config", help="TOML config file (also LUMEN_CONFIG)")
    _add_setting_flags(serve)
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="mint an HS256 token with the configured secret")
    token.add_argument("--config", help="TOML config file (also LUMEN_CONFIG)")
    token.add_argument("--sub", required=True, help="the user the token speaks for")
    token.add_argument("--scope", default="transcribe", help="space-separated scopes (default: transcribe)")
    token.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds (default: 3600)")
    token.set_defaults(func=cmd_token)

    models = sub.add_parser("models", help="list or prepare the built-in models")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list", help="built-in models and whether they are prepared")
    prepare = models_sub.add_parser("prepare", help="convert a built-in model to ggml now")
    prepare.add_argument("name", nargs="?", default="tiny.en")
    models.set_defaults(func=cmd_models)

    transcribe = sub.add_parser("transcribe", help="stream a WAV/PCM file to a server")
    transcribe.add_argument("file", help="a WAV file, or - for WAV on standard input")
    transcribe.add_argument("--url", default="ws://localhost:8000/ws/transcribe")
    transcribe.add_argument("--token", required=True)
    transcribe.add_argument("--fast", action="store_true", help="send as fast as possible")
    transcribe.add_argument("--chunk", type=float, default=0.1, help="seconds per message (default 0.1)")
    transcribe.set_defaults(func=cmd_transcribe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except LumenError as exc:
        print(f"lumen {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
