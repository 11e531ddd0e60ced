"""The ``/ws/transcribe`` handler: handshake, framing, nothing else.

Authentication, query parsing and the session caps are checked in
``prepare()``, before Tornado upgrades the connection, so a refused client
gets a plain HTTP answer (400/401/403/429/503) and no session ever exists for
it.  Last, the session is written to the transcript store, or a stored one
claimed for ``?resume=`` (404/409/410 when it cannot be).  After the upgrade
every frame goes to the :class:`~lumen.session.Session`.
"""

from __future__ import annotations

import logging
from asyncio import Future
from typing import Any
from urllib.parse import urlsplit

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from lumen import protocol
from lumen.auth import Principal
from lumen.errors import BadRequestError, LumenError, OriginNotAllowedError, ShuttingDownError
from lumen.server.context import ServerContext
from lumen.server.refusals import write_refusal
from lumen.session import Session
from lumen.store.recorder import SessionRecorder

log = logging.getLogger(__name__)


def bearer_token(authorization: str | None, query_token: str | None) -> str | None:
    """The token from ``Authorization: Bearer …`` or, failing that, ``?token=``."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None if query_token is None else query_token
    return query_token


class TranscribeHandler(WebSocketHandler):
    """One WebSocket connection = one :class:`Session`."""

    def initialize(self, context: ServerContext) -> None:
        self.context = context
        self.session: Session | None = None
        self.principal: Principal | None = None
        self.options: protocol.SessionOptions | None = None
        self.recorder: SessionRecorder | None = None
        self._slot_held = False
        self._handshaking = False  # counted in context.handshakes
        self._unsent = 0  # bytes handed to Tornado that the client has not taken yet

    # -- handshake ------------------------------------------------------------
    def check_origin(self, origin: str) -> bool:
        return True  # checked in prepare(), before a token is even looked at

    def _check_origin(self) -> None:
        """Refuse browser pages from origins not allowed (cross-site WebSocket hijacking).

        A browser sends ``Origin`` with every WebSocket handshake and lets any
        page connect anywhere, with a token the page may have obtained from
        the user; the server is the only place to stop a foreign page.
        Clients that send no ``Origin`` are not browsers and are not affected.
        """
        origin = self.request.headers.get("Origin")
        if origin is None:
            return
        allowed = {o.strip().rstrip("/").lower() for o in self.context.session_services.settings.allowed_origins.split(",")
                   if o.strip()}
        if "*" in allowed or origin.rstrip("/").lower() in allowed:
            return
        if not allowed and urlsplit(origin).netloc.lower() == self.request.host.lower():
            return  # same origin: the demo page served by this server
        raise OriginNotAllowedError(f"origin {origin!r} may not open sessions on this server")

    async def prepare(self) -> None:
        self._handshaking = True
        self.context.handshakes += 1
        try:
            if self.context.stopping:
                raise ShuttingDownError("the server is shutting down; connect again")
            self._check_origin()
            protocol.refuse_repeated(self.request.query_arguments)
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            token = bearer_token(self.request.headers.get("Authorization"), query.get("token"))
            self.principal = self.context.verifier.verify(token)
            self.options = protocol.parse_session_options(query, ignore=("token", protocol.RESUME_OPTION))
            resume = protocol.parse_resume(query)
            services = self.context.session_services
            services.engine.resolve_language(self.options.language)
            if services.diarizer is not None and self.options.diarize:
                services.diarizer.check_overrides(self.options.speaker_overrides())
            self.context.limits.acquire(self.principal.sub)
            self._slot_held = True
            await self._record(resume)
        except LumenError as exc:
            self._refuse(exc)

    async def _record(self, resume: str | None) -> None:
        """Store the new session, or claim the stored one ``resume`` names."""
        assert self.principal is not None and self.options is not None
        services = self.context.session_services
        if services.store is None:
            if resume is not None:
                raise BadRequestError("this server keeps no transcripts (database_url is none), "
                                      "so sessions cannot be resumed")
            return
        if resume is not None:
            self.recorder = await SessionRecorder.resume(services.store, resume, self.principal.sub,
                                                         services.settings.resume_grace,
                                                         services.settings.port)
        else:
            self.recorder = await SessionRecorder.begin(services.store, self.principal.sub,
                                                        services.model_name, self.options.to_dict(),
                                                        services.settings.port)

    def _refuse(self, exc: LumenError) -> None:
        self.context.metrics.refused(exc.code)
        log.info("handshake refused: %s (%s)", exc.code, exc)
        write_refusal(self, exc)

    def get_compression_options(self) -> None:
        return None  # audio does not compress; per-message deflate only costs CPU

    # -- connection -----------------------------------------------------------
    def open(self, *args: Any, **kwargs: Any) -> None:
        assert self.principal is not None and self.options is not None
        self._handshake_done()
        self.meter = self.context.metrics.session()
        try:
            session = Session(self.context.session_services, self.principal, self.options,
                              send=self._send, close=self._close, recorder=self.recorder)
        except Exception:  # a bug: this client gets 1011, the slot and the stored row are freed
            log.exception("session setup failed")
            self._give_up_handshake()
            self._close(protocol.CLOSE_INTERNAL, "internal_error")
            return
        self.session = session
        self.context.sessions.add(session)
        session.start()

    def _handshake_done(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self.context.handshakes -= 1

    def _give_up_handshake(self) -> None:
        """Free what prepare() took for a session that will not be."""
        if self._slot_held:
            self._release(None)
            if self.recorder is not None:
                self.recorder.abandon()

    def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return  # its setup failed: the connection is closing
        if isinstance(message, bytes):
            self.session.on_audio(message)
            self.meter.received(self.session.audio_seconds)
        else:
            self.session.on_text(message)

    def on_close(self) -> None:
        if self.session is not None:
            session = self.session
            session.on_connection_closed()
            session.when_ended(lambda: self._release(session))

    def on_finish(self) -> None:
        # Also called after a successful upgrade (status 101); only a handshake
        # that failed after prepare() reserved a slot still holds one here
        # (stored, then the upgrade failed: the client left).
        self._handshake_done()
        if self.get_status() != 101:
            self._give_up_handshake()

    def _release(self, session: Session | None) -> None:
        if self._slot_held and self.principal is not None:
            self._slot_held = False
            self.context.limits.release(self.principal.sub)
        if session is not None:
            self.context.sessions.discard(session)
            self.context.sweeper.session_ended()

    def _close(self, code: int, reason: str) -> None:
        self.meter.closed(code)
        self.close(code, reason)

    def _send(self, message: str) -> None:
        """Send, keeping what waits for a client that does not read bounded.

        Tornado buffers without limit whatever the socket does not take.  The
        future of each write resolves once the kernel has it, so the bytes of
        unresolved writes are exactly what this connection holds in memory.
        """
        self.meter.sent(message)
        try:
            written = self.write_message(message)
        except WebSocketClosedError:
            log.debug("client gone before a message could be sent")
            return
        if written.done():
            return
        size = len(message)
        self._unsent += size
        written.add_done_callback(lambda future: self._sent(size, future))
        limit = self.context.session_services.settings.max_send_buffer
        if self._unsent > limit and self.session is not None:
            log.warning("client does not read: %d bytes unsent (limit %d); dropping the connection",
                        self._unsent, limit, extra={"session_id": self.session.id})
            self.session.on_connection_closed("client_too_slow")  # nothing more is sent
            self.meter.closed(protocol.CLOSE_POLICY, "client_too_slow")
            # The close frame queues behind the unread data; Tornado drops the
            # TCP connection when the client has not answered it within 5 s.
            self.close(protocol.CLOSE_POLICY, "client_too_slow")

    def _sent(self, size: int, future: "Future[None]") -> None:
        self._unsent -= size
        if not future.cancelled():
            future.exception()  # retrieved: a write cut short by the close is no error
