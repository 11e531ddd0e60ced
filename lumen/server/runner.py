"""Running the server: TLS, the listening socket, worker processes, graceful shutdown.

``serve`` checks everything that can be checked once — the TLS files, the
model (converted now if needed, so workers never race to convert it), the
port — then serves in this process or, with ``workers > 1``, forks that many
workers sharing the listening socket.  The kernel hands each new connection
to one of them; a WebSocket stays on the worker that accepted it, and the
model is loaded in each worker after the fork (whisper.cpp and torch keep
threads, which do not survive a fork).

The supervising parent forwards SIGTERM/SIGINT to its workers and waits for
them, and restarts a worker that dies on its own once it had been serving
(each worker tells the parent through a pipe when it is ready); a worker that
dies before that stops the whole server, since a broken set-up would otherwise
restart forever.

Shutdown, in each worker: stop accepting, end every session with
``server_shutdown`` (close 1001) after its finals are flushed, wait up to
the ``shutdown_grace`` setting for them, abort the inference of those still
flushing, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
import time
from typing import TYPE_CHECKING, Callable

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from lumen import __version__
from lumen.asr.models import resolve_model
from lumen.auth import TokenVerifier
from lumen.config import Settings
from lumen.errors import ConfigError, ShuttingDownError
from lumen.server.memory import fix_mmap_threshold
from lumen.store import parse_database_url, recover_sessions, server_key
from lumen.store.retention import RetentionSweeper
from lumen.tls import server_context

if TYPE_CHECKING:
    from lumen.server.context import ServerContext

log = logging.getLogger(__name__)

def serve(settings: Settings, dev_token: str | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit status.  See the module docstring."""
    fix_mmap_threshold()
    tls = (server_context(settings.tls_certfile, settings.tls_keyfile)
           if settings.tls_certfile and settings.tls_keyfile else None)
    TokenVerifier(settings)  # the keys load, or ConfigError now rather than in every worker
    resolve_model(settings.model)
    try:
        sockets = bind_sockets(settings.port, settings.host)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    location = parse_database_url(settings.database_url)
    if location is not None:
        # Once the port is ours (no other server of this address is live) and before any
        # worker: sessions still active in the store were cut off by a server that died.
        recover_sessions(location, server_key(settings.port))
    _announce(settings, tls is not None, dev_token)
    if settings.workers == 1:
        return _worker(settings, sockets, tls)
    return _Supervisor(settings, sockets, tls).run()


def _announce(settings: Settings, tls: bool, dev_token: str | None) -> None:
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    http, ws = ("https", "wss") if tls else ("http", "ws")
    base = f"{host}:{settings.port}"
    log.info("lumen %s: %s://%s/ws/transcribe, demo %s://%s/, model %s, %d worker(s)",
             __version__, ws, base, http, base, settings.model, settings.workers)
    if dev_token is not None:
        print(f"\n  Development mode: an ephemeral secret signs this token (valid 24 h):\n\n"
              f"  {dev_token}\n\n"
              f"  Browser demo:  {http}://{base}/#token={dev_token}\n"
              f"  From a file:   lumen transcribe ../shared/testdata/jfk.wav "
              f"--url {ws}://{base}/ws/transcribe --token {dev_token}\n", flush=True)


def _worker(settings: Settings, sockets: list[socket.socket], tls: ssl.SSLContext | None,
            ready: Callable[[], None] | None = None) -> int:
    """Load the models and serve ``sockets``; ``ready()`` once accepting connections."""
    from lumen.server.app import build_context, make_app

    context = build_context(settings)
    server = HTTPServer(make_app(context), ssl_options=tls, xheaders=settings.proxy_headers,
                        max_buffer_size=4 * settings.max_frame_bytes)
    return asyncio.run(_serve(server, context, sockets, ready))


async def _serve(server: HTTPServer, context: ServerContext, sockets: list[socket.socket],
                 ready: Callable[[], None] | None) -> int:
    server.add_sockets(sockets)
    log.info("worker %d ready (model %s)", os.getpid(), context.session_services.model_name)
    if ready is not None:
        ready()
    store, settings = context.session_services.store, context.session_services.settings
    sweeper = (RetentionSweeper(store, settings.retention_days, settings.resume_grace)
               if store is not None else None)
    if sweeper is not None:
        sweeper.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: no new connections; flushing %d session(s)", len(context.sessions))
    context.stopping = True  # handshakes from now on: 503
    server.stop()
    if sweeper is not None:
        sweeper.stop()
    # A session leaves context.sessions once it has ended and its connection
    # closed.  Handshakes under way (an upgrade on a kept-alive connection, a
    # store write) may still open one: it is ended as soon as it is there.
    shutting_down = ShuttingDownError("the server is shutting down")
    deadline = time.monotonic() + settings.shutdown_grace
    while (context.sessions or context.handshakes) and time.monotonic() < deadline:
        for session in list(context.sessions):
            session.end(shutting_down)  # (once: end() is idempotent)
        await asyncio.sleep(0.05)
    engine, aborted = context.session_services.engine, None
    if context.sessions:
        log.warning("%d session(s) still flushing after %g s; their connections are cut",
                    len(context.sessions), settings.shutdown_grace)
        # Stop their inference rather than wait for it (a large model's call may run for seconds).
        aborted = engine.aborted
        await asyncio.gather(*(session.cut() for session in list(context.sessions)))
    engine.close()  # (waits for the calls still running to reach whisper's abort check)
    if aborted is not None:
        log.info("%d whisper call(s) stopped at the end of the shutdown grace", engine.aborted - aborted)
    if context.session_services.frontend_executor is not None:
        context.session_services.frontend_executor.shutdown(wait=False)
    if context.session_services.store is not None:
        context.session_services.store.close()
    return 0


class _Supervisor:
    """The parent of ``settings.workers`` worker processes (see the module docstring)."""

    def __init__(self, settings: Settings, sockets: list[socket.socket],
                 tls: ssl.SSLContext | None) -> None:
        self.settings = settings
        self.sockets = sockets
        self.tls = tls
        self.children: dict[int, tuple[int, int]] = {}
        """pid -> (worker number, read end of its readiness pipe)."""
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for number in range(self.settings.workers):
            self._spawn(number)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.children:
                continue
            number, pipe = self.children.pop(pid)
            had_served = os.read(pipe, 1) == b"1"  # the child is gone: this does not block
            os.close(pipe)
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                continue
            if not had_served:
                log.error("worker %d (pid %d) failed while starting (exit %d); stopping",
                          number, pid, code)
                self.failed = True
                self._stop()
            else:
                log.warning("worker %d (pid %d) exited with %d; restarting", number, pid, code)
                self._spawn(number)
        return 1 if self.failed else 0

    def _spawn(self, number: int) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            # The child: default signal handling until its IOLoop installs its own.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.close(read_end)
            for _, other in self.children.values():
                os.close(other)

            def ready() -> None:
                os.write(write_end, b"1")

            status = 1
            try:
                status = _worker(self.settings, self.sockets, self.tls, ready)
            except Exception:
                log.exception("worker %d failed", number)
            finally:
                logging.shutdown()
                sys.stdout.flush()
                os._exit(status)
        os.close(write_end)
        self.children[pid] = (number, read_end)

    def _stop(self, *_: object) -> None:
        self.stopping = True
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
