"""One WebSocket on one connection: ASGI ``websocket`` calls over wsproto (layer: server).

The connection (:class:`~tornadoish.server.protocol.HTTPProtocol`) validates the
opening handshake (``ws_handshake.py``), then hands the request to a
:class:`WebSocketSession` and forwards the transport's events to it. The session runs
the app: ``websocket.connect`` first; then ``websocket.accept`` (the 101, then wsproto
frames everything, starting with the bytes the parser held after the request),
``websocket.close`` (403) or ``websocket.http.response.*`` (an ordinary HTTP response,
through the request cycle).

After the 101:

* messages are reassembled from fragments (``ws_messages.py``), at most
  ``ws_max_message_size`` bytes (else close 1009); pings are answered; any close
  handshake is completed, and the app gets ``websocket.disconnect`` with the peer's
  code and reason;
* when the server closes (app gone, message too big, protocol error, shutdown) it
  sends its close frame, tells the app at once, and waits at most ``CLOSE_TIMEOUT`` for
  the peer's answer; then it closes the TCP connection itself (RFC 6455 §7.1.1);
* ``send()`` waits while the transport has paused writing; reading pauses while the
  messages the app has not received reach ``limit_buffered_bytes`` (or while the peer
  does not read what we write, so that pongs cannot pile up either);
* keepalive: with ``ws_ping_interval`` a ping goes out that often, and a peer that
  does not answer within ``ws_ping_timeout`` is sent close 1011 and disconnected;
* the private ``tornadoish.websocket.control`` extension (``ws_handshake.py``): the
  app's ``tornadoish.websocket.ping`` message sends a ping frame; an app that opted in
  at accept also receives every ping (already answered) and pong from the peer as
  events, in order with the messages, and counted in the queued bytes like them;
* on graceful shutdown every open websocket is sent close **1012** (Service Restart,
  IANA registry of RFC 6455 §11.7) rather than 1001 (Going Away): a server shuts down
  gracefully to be restarted or replaced, and 1012 tells clients to reconnect.

Timers are loop handles, all cancelled in ``connection_lost``. After the connection is
gone the app gets ``websocket.disconnect`` (code 1006 if no close frame came) and
``APP_EXIT_GRACE`` seconds to return; then its task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final, Protocol, cast

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import Extension

from tornadoish.server.config import ServerConfig
from tornadoish.server.cycle import ClientDisconnected, CycleOwner, RequestCycle
from tornadoish.server.parsing import (
    InvalidResponse,
    describe_client,
    describe_request,
    response_head,
)
from tornadoish.server.state import ServerState
from tornadoish.server.ws_handshake import (
    PING_EVENT,
    PONG_EVENT,
    Handshake,
    accept_handshake,
    websocket_scope,
)
from tornadoish.server.ws_messages import (
    MessageAssembler,
    MessageTooBig,
    close_code_and_reason,
    outgoing_payload,
    ping_payload,
)
from tornadoish.types import ASGIApp, Message, Scope

__all__ = [
    "APP_EXIT_GRACE",
    "CLOSE_TIMEOUT",
    "SHUTDOWN_CLOSE_CODE",
    "WebSocketOwner",
    "WebSocketSession",
]

error_log: Final = logging.getLogger("tornadoish.server.error")

# Sent to every open websocket on graceful shutdown (see the module docstring).
SHUTDOWN_CLOSE_CODE: Final = 1012
# After the server sent its close frame: how long the peer has to answer with its own
# before the TCP connection is closed anyway (and, for a peer that reads nothing,
# how long closing may wait for the write buffer to drain before it is aborted).
CLOSE_TIMEOUT: Final = 5.0
# After the connection is gone the app has been given websocket.disconnect; an app
# still running this much later (waiting on something else) is cancelled.
APP_EXIT_GRACE: Final = 1.0
# With permessage-deflate, compressed bytes are handed to wsproto this many at a time
# and the message size checked in between: deflate expands at most ~1032:1, so one
# step can never inflate past ws_max_message_size by more than a few MiB.
_DEFLATE_STEP_BYTES: Final = 4096
_ABNORMAL_CLOSURE: Final = 1006
# What a queued ping/pong event counts toward ``limit_buffered_bytes`` besides its
# payload: about what the event dict costs in memory. An empty frame still counts, so
# a peer flooding pings at an app that does not receive gets its reading paused.
_CONTROL_EVENT_COST: Final = 128

_HANDSHAKE: Final = 0  # the app has not answered the handshake yet
_RESPONSE: Final = 1  # the app is sending an HTTP response (websocket.http.response)
_REFUSED: Final = 2  # the handshake was answered with an HTTP response; all is over
_OPEN: Final = 3  # 101 sent: wsproto frames everything from now on


class WebSocketOwner(CycleOwner, Protocol):
    """What a websocket session needs from the connection that owns it."""

    state: ServerState

    def take_upgrade_bytes(self) -> tuple[bytes, bool]:
        """The bytes held after the handshake request, and whether EOF followed them."""

    def set_reading_paused(self, paused: bool) -> None:
        """Pause or resume reading from the transport."""


class WebSocketSession:
    """The ASGI callables and the protocol state of one websocket request."""

    def __init__(
        self, owner: WebSocketOwner, cycle: RequestCycle, handshake: Handshake, config: ServerConfig
    ) -> None:
        self.owner = owner
        # The HTTP request cycle: logs, and answers the handshake when it is refused.
        self.cycle = cycle
        self.handshake = handshake
        self.config = config
        self.scope = websocket_scope(cycle.scope, handshake)
        self.loop = asyncio.get_running_loop()
        self.task: asyncio.Task[None] | None = None
        self._phase = _HANDSHAKE
        self._ws: Connection | None = None
        self._deflate = False
        self._control = False  # the app opted in to ping/pong events at accept
        self._lost = False
        self._finished = False
        self._shutdown_pending = False
        self._connect_delivered = False
        # Complete messages the app has not received yet, with their sizes.
        self._queue: deque[tuple[Message, int]] = deque()
        self.queued_bytes = 0
        self._disconnect: Message | None = None
        self._receive_waiter: asyncio.Future[None] | None = None
        # The message being reassembled from fragments.
        self._assembler = MessageAssembler(config.ws_max_message_size)
        self._pings = 0
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._exit_timer: asyncio.TimerHandle | None = None

    @property
    def upgraded(self) -> bool:
        """True once the 101 went out: the transport's bytes are websocket frames."""
        return self._phase == _OPEN

    # -- the app -------------------------------------------------------------------------

    async def run(self, app: ASGIApp) -> None:
        """Call the app; turn what it leaves undone into a 403, a 500 or a close frame."""
        try:
            await app(cast(Scope, self.scope), self.receive, self.send)
        except Exception as exc:
            self._app_failed(exc)
            return
        if self._phase == _HANDSHAKE:
            # ASGI: an app that returns without accepting refuses the handshake.
            try:
                await self._refuse()
            except OSError:
                error_log.debug(
                    "client left before the refusal of %s", describe_request(self.scope)
                )
        elif self._phase == _RESPONSE:
            error_log.error(
                "ASGI app returned without completing the response to %s",
                describe_request(self.scope),
            )
            self.owner.response_failed(self.cycle)
        elif self._phase == _OPEN:
            self._close(1000, "")

    def _app_failed(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and (self._disconnect is not None or self.cycle.disconnected):
            # ASGI 2.4: send() raised because the client is gone; not an error.
            error_log.debug("websocket client gone during %s", describe_request(self.scope))
            return
        error_log.exception("exception in ASGI app for websocket %s", describe_request(self.scope))
        if self._phase == _OPEN:
            self._close(1011, "internal error")
        elif self._phase != _REFUSED and not self.cycle.response_complete:
            self.owner.response_failed(self.cycle)

    async def receive(self) -> Message:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        while True:
            if self._queue:
                message, size = self._queue.popleft()
                self.queued_bytes -= size
                self._update_reading()
                return message
            if self._disconnect is not None:
                return dict(self._disconnect)
            waiter = self.loop.create_future()
            self._receive_waiter = waiter
            try:
                await waiter
            finally:
                self._receive_waiter = None

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        phase = self._phase
        if phase == _OPEN:
            if kind == "websocket.send":
                await self._send_message(message)
            elif kind == "websocket.close":
                self._close_from_app(message)
            elif kind == PING_EVENT:
                await self._send_ping_from_app(message)
            else:
                raise InvalidResponse(f"unexpected ASGI message {kind!r} after websocket.accept")
        elif phase == _HANDSHAKE:
            if self._disconnect is not None:
                raise ClientDisconnected("client disconnected")
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                await self._refuse()
            elif kind == "websocket.http.response.start":
                self._phase = _RESPONSE
                await self.cycle.send({**message, "type": "http.response.start"})
            else:
                raise InvalidResponse(
                    f"expected websocket.accept, websocket.close or "
                    f"websocket.http.response.start, got {kind!r}"
                )
        elif phase == _RESPONSE:
            if kind != "websocket.http.response.body":
                raise InvalidResponse(f"expected websocket.http.response.body, got {kind!r}")
            await self.cycle.send({**message, "type": "http.response.body"})
            if self.cycle.response_complete:
                self._refused()
        elif kind != "websocket.close":  # a close after the refusal changes nothing
            raise RuntimeError(f"{kind!r} sent after the handshake was refused")

    async def _refuse(self) -> None:
        """ASGI: close before accept (or no accept at all) is answered 403."""
        self._phase = _RESPONSE
        body = b"403 Forbidden\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        await self.cycle.send({"type": "http.response.start", "status": 403, "headers": headers})
        await self.cycle.send({"type": "http.response.body", "body": body})
        self._refused()

    def _refused(self) -> None:
        self._phase = _REFUSED
        self._set_disconnect(_ABNORMAL_CLOSURE, "")

    def _accept(self, message: Message) -> None:
        accepted = accept_handshake(
            self.handshake, message, deflate=self.config.ws_per_message_deflate
        )
        headers = accepted.headers
        owner, config = self.owner, self.config
        if config.server_header and not accepted.has_server:
            headers.append((b"server", b"tornadoish"))
        if config.date_header and not accepted.has_date:
            headers.append((b"date", owner.date_header()))
        head = response_head(101, headers, b"Switching Protocols")
        self._phase = _OPEN
        cycle = self.cycle
        cycle.status = 101
        cycle.wrote = True
        cycle.log_access(101)
        owner.transport.write(head)
        self._deflate = accepted.deflate is not None
        self._control = accepted.control
        extensions: list[Extension] = [] if accepted.deflate is None else [accepted.deflate]
        self._ws = Connection(ConnectionType.SERVER, extensions)
        self._arm_ping()
        held, eof = owner.take_upgrade_bytes()
        if held:
            self.data_received(held)
        if eof:
            self._finish()
        elif self._shutdown_pending:
            self.shutdown()
        self._update_reading()

    async def _send_message(self, message: Message) -> None:
        payload = outgoing_payload(message)
        ws = await self._wait_can_send()
        if isinstance(payload, str):
            self._write(ws.send(TextMessage(data=payload)))
        else:
            self._write(ws.send(BytesMessage(data=bytes(payload))))

    async def _send_ping_from_app(self, message: Message) -> None:
        payload = ping_payload(message)
        ws = await self._wait_can_send()
        self._write(ws.send(Ping(payload=payload)))

    async def _wait_can_send(self) -> Connection:
        """The open connection, once the transport takes writes; ClientDisconnected
        when it closed (or closes while we wait)."""
        if not self._can_send():
            raise ClientDisconnected("websocket closed")
        if self.owner.writing_paused:
            await self.owner.wait_writable()
            if not self._can_send():
                raise ClientDisconnected("websocket closed")
        ws = self._ws
        assert ws is not None
        return ws

    def _can_send(self) -> bool:
        ws = self._ws
        return ws is not None and ws.state is ConnectionState.OPEN and not self._finished

    def _close_from_app(self, message: Message) -> None:
        code, reason = close_code_and_reason(message)
        # A close after the connection closed changes nothing: the app's wish is met.
        if self._can_send():
            self._send_close(code, reason)

    # -- the transport (forwarded by the connection) -----------------------------------

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        if ws is None or self._finished:
            return
        step = _DEFLATE_STEP_BYTES if self._deflate else max(len(data), 1)
        for start in range(0, len(data), step):
            if self._finished or ws.state not in (
                ConnectionState.OPEN,
                ConnectionState.LOCAL_CLOSING,
            ):
                return  # nothing more to read: the close handshake is over
            ws.receive_data(data[start : start + step])
            self._handle_events(ws)
        self._update_reading()

    def eof_received(self) -> bool:
        """The peer shut its side without a close frame, or after one: close the transport."""
        self._cancel_timers()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = self._finished = True
        self._cancel_timers()
        self._set_disconnect(_ABNORMAL_CLOSURE, "")
        task = self.task
        if task is not None and not task.done():
            self._exit_timer = self.loop.call_later(APP_EXIT_GRACE, task.cancel)
            task.add_done_callback(self._app_exited)

    def writing_changed(self) -> None:
        """The transport paused or resumed writing."""
        self._update_reading()

    def shutdown(self) -> None:
        """Graceful shutdown: close with 1012 (or as soon as the app accepts)."""
        if self._phase == _HANDSHAKE:
            self._shutdown_pending = True
        elif self._can_send():
            self._fail(SHUTDOWN_CLOSE_CODE, "server restarting")

    # -- protocol events -----------------------------------------------------------------

    def _handle_events(self, ws: Connection) -> None:
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._on_data(event)
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    self._write(ws.send(event.response()))
                    self._queue_control(ws, PING_EVENT, event.payload)
            elif isinstance(event, Pong):
                if self._pong_timer is not None:
                    self._pong_timer.cancel()
                    self._pong_timer = None
                self._queue_control(ws, PONG_EVENT, event.payload)
            elif isinstance(event, CloseConnection):
                self._on_close(ws, event)
                return

    def _on_data(self, event: TextMessage | BytesMessage) -> None:
        ws = self._ws
        if ws is None or ws.state is not ConnectionState.OPEN or self._disconnect is not None:
            return  # we are closing: RFC 6455 §1.4 lets us discard what still arrives
        try:
            received = self._assembler.add(event.data, event.message_finished)
        except MessageTooBig:
            error_log.debug(
                "websocket message over %d bytes from %s: closing",
                self._assembler.max_size,
                describe_client(self.scope),
            )
            self._fail(1009, "message too big")
            return
        if received is None:
            return
        message, size = received
        self._queue.append((message, size))
        self.queued_bytes += size
        self._wake()

    def _queue_control(self, ws: Connection, kind: str, payload: bytes | bytearray) -> None:
        """Hand a ping or pong to an app that opted in, in order with the messages."""
        if not self._control or ws.state is not ConnectionState.OPEN:
            return
        if self._disconnect is not None:
            return  # we are closing: the app has its disconnect already
        size = len(payload) + _CONTROL_EVENT_COST
        self._queue.append(({"type": kind, "data": bytes(payload)}, size))
        self.queued_bytes += size
        self._wake()

    def _on_close(self, ws: Connection, event: CloseConnection) -> None:
        state = ws.state
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer began the close handshake: answer with its code (RFC 6455 §5.5.1).
            self._write(ws.send(event.response()))
        elif state is ConnectionState.OPEN:
            # wsproto could not parse the peer's bytes: fail the connection (§7.1.7).
            error_log.debug(
                "websocket protocol error from %s: %s", describe_client(self.scope), event.reason
            )
            self._write(ws.send(CloseConnection(code=event.code, reason=event.reason)))
        # else CLOSED: the peer answered our close frame.
        self._set_disconnect(int(event.code), event.reason or "")
        self._finish()

    def _fail(self, code: int, reason: str) -> None:
        """The server closes: send the frame, tell the app now, await the peer's answer."""
        self._send_close(code, reason)
        self._set_disconnect(code, reason)

    def _close(self, code: int, reason: str) -> None:
        if self._can_send():
            self._send_close(code, reason)

    def _send_close(self, code: int, reason: str) -> None:
        ws = self._ws
        assert ws is not None
        self._write(ws.send(CloseConnection(code=code, reason=reason)))
        self._cancel_keepalive()
        if self._close_timer is None:
            self._close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._on_close_timeout)

    def _on_close_timeout(self) -> None:
        self._close_timer = None
        error_log.debug(
            "websocket peer %s did not finish closing in time", describe_client(self.scope)
        )
        self._finish(abort=self._finished)

    def _finish(self, *, abort: bool = False) -> None:
        """Close the TCP connection (the server closes first: RFC 6455 §7.1.1)."""
        transport = self.owner.transport
        self._cancel_keepalive()
        self._finished = True
        if abort or self.owner.writing_paused:
            # The peer does not read: the buffered bytes would never drain.
            transport.abort()
            return
        transport.close()
        if self._close_timer is None:
            # close() waits for the write buffer to drain; bound that wait.
            self._close_timer = self.loop.call_later(CLOSE_TIMEOUT, self._on_close_timeout)

    # -- keepalive -------------------------------------------------------------------

    def _arm_ping(self) -> None:
        interval = self.config.ws_ping_interval
        if interval and self._ping_timer is None:
            self._ping_timer = self.loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        self._ping_timer = None
        ws = self._ws
        if ws is None or ws.state is not ConnectionState.OPEN or self._finished:
            return
        self._pings += 1
        self._write(ws.send(Ping(payload=b"%d" % self._pings)))
        timeout = self.config.ws_ping_timeout
        if timeout and self._pong_timer is None:
            self._pong_timer = self.loop.call_later(timeout, self._on_pong_timeout)
        self._arm_ping()

    def _on_pong_timeout(self) -> None:
        self._pong_timer = None
        timeout = self.config.ws_ping_timeout
        if self._app_is_behind() and timeout:
            # Reading is paused because the app is slow to receive: the pong may be
            # waiting, unread, in the socket. Not the peer's fault: wait again.
            self._pong_timer = self.loop.call_later(timeout, self._on_pong_timeout)
            return
        error_log.debug(
            "websocket peer %s did not answer a ping: closing", describe_client(self.scope)
        )
        if self._can_send():
            ws = self._ws
            assert ws is not None
            self._write(ws.send(CloseConnection(code=1011, reason="keepalive ping timeout")))
        self._set_disconnect(_ABNORMAL_CLOSURE, "keepalive ping timeout")
        self._finish()

    def _cancel_keepalive(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_keepalive()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

    def _app_exited(self, task: asyncio.Task[None]) -> None:
        if self._exit_timer is not None:
            self._exit_timer.cancel()
            self._exit_timer = None

    # -- helpers ---------------------------------------------------------------------

    def _app_is_behind(self) -> bool:
        return self.queued_bytes >= self.config.limit_buffered_bytes

    def _update_reading(self) -> None:
        ws = self._ws
        if ws is None or self._lost:
            return
        open_ = ws.state is ConnectionState.OPEN
        self.owner.set_reading_paused(
            (open_ and self._app_is_behind()) or self.owner.writing_paused
        )

    def _write(self, data: bytes) -> None:
        if data and not self._lost:
            self.owner.transport.write(data)

    def _set_disconnect(self, code: int, reason: str) -> None:
        if self._disconnect is None:
            self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self._wake()

    def _wake(self) -> None:
        waiter = self._receive_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
