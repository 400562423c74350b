"""The HTTP/1.1 connection: bytes of one TCP connection to ASGI ``http`` calls (layer: server).

One :class:`HTTPProtocol` per connection and one ``h11.Connection`` reused across
keep-alive requests (``start_next_cycle``). Raw bytes pass through a
:class:`~tornadoish.server.framing.RequestFramer` before h11 sees them, for the limits
and framing rules h11 leaves to us. Each request runs as one task around a
:class:`~tornadoish.server.cycle.RequestCycle`.

Deadlines (request head, keep-alive, body, linger): see ``timers.py``.

Pipelining: requests are answered in order and a request is not parsed while the one
before it is in flight. Reading goes on meanwhile (so that a client that vanishes is
noticed and its app gets ``http.disconnect``), but only until ``limit_buffered_bytes``
of pipelined bytes or unread body wait; then reading pauses.

Half-close: an EOF after a complete request keeps the transport open until the response
is written. The flip side: a client that closes its socket (FIN, not reset) while its
app waits for ``http.disconnect`` is only noticed when the app writes.

Where we depart from h11's defaults: HTTP/1.0 requests that ask for keep-alive get it
(h11 is shown such heads as HTTP/1.1, see ``framing.py``).

The server knows nothing of the framework: it takes any ASGI 3 callable.

WebSocket: :meth:`HTTPProtocol._upgrade` validates an HTTP/1.1 ``Upgrade: websocket``
request (``ws_handshake.py``) and hands it to a
:class:`~tornadoish.server.websocket.WebSocketSession`. This protocol stays the
transport's protocol for the life of the connection and forwards the transport's events
to the session once it has answered 101 (rather than ``transport.set_protocol()`` to a
new protocol object): whoever tracks this object (the runner's shutdown, its
``connection_lost`` bookkeeping, ``state.connections``) keeps working unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Final, cast

import h11

from tornadoish.server.config import ServerConfig
from tornadoish.server.cycle import RequestCycle
from tornadoish.server.framing import HTTP10_KEEP_ALIVE_NO_HOST, PLAIN_HEAD, RequestFramer
from tornadoish.server.parsing import (
    DateHeader,
    RequestRejected,
    build_scope,
    error_response,
)
from tornadoish.server.state import ServerState
from tornadoish.server.timers import ConnectionTimers
from tornadoish.server.ws_handshake import (
    HandshakeRejected,
    is_websocket_request,
    rejection_response,
    validate_handshake,
)
from tornadoish.types import ASGIApp

if TYPE_CHECKING:
    from tornadoish.server.websocket import WebSocketSession

__all__ = ["HTTPProtocol"]

error_log: Final = logging.getLogger("tornadoish.server.error")

# One cache per process: every connection formats the Date header at most once a second.
_DATE: Final = DateHeader()
# States in which h11 would reject further bytes from the client: parse nothing more.
_NOTHING_MORE: Final = (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection serving ``app``.

    Registers itself in ``state.connections`` on ``connection_made`` and removes itself
    in ``connection_lost``, so the runner can call :meth:`shutdown` on each connection.
    """

    transport: asyncio.Transport

    def __init__(self, app: ASGIApp, config: ServerConfig, state: ServerState) -> None:
        self.app = app
        self.config = config
        self.state = state
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=config.limit_head_bytes)
        self.framer = RequestFramer(
            limit_head_bytes=config.limit_head_bytes,
            limit_header_count=config.limit_header_count,
            limit_uri_bytes=config.limit_uri_bytes,
            limit_body_bytes=config.limit_body_bytes,
        )
        self.cycle: RequestCycle | None = None
        # The websocket request in flight, if any; after its 101 it owns the transport.
        self.websocket: WebSocketSession | None = None
        # Every task we start, until it is done (a finished response may leave its app
        # still running, e.g. background work after the body).
        self.tasks: dict[asyncio.Task[None], RequestCycle] = {}
        self.writing_paused = False
        self._writable_waiters: list[asyncio.Future[None]] = []
        self._connected = False
        self._closing = False
        self._closed = False
        self._shutdown = False
        self._eof_after_held = False
        self._reading_paused = False
        self._processing = False
        self._again = False
        self._pending_error: RequestRejected | None = None
        self._requests = 0
        self._drained = 0
        self._pipelined = 0
        self.timers = ConnectionTimers(
            config, on_head=self._on_head_timeout, on_body=self._on_body_timeout, close=self._close
        )
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self._proxy_trusted = False

    # -- public contract ---------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no request is in flight on this connection."""
        return self.cycle is None

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the in-flight response."""
        self._shutdown = True
        if not self._connected or self._closing:
            return
        websocket = self.websocket
        if websocket is not None:
            websocket.shutdown()
            if websocket.upgraded:
                return
        cycle = self.cycle
        if cycle is None:
            self._close()
        elif not cycle.wrote:
            cycle.keep_alive = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.loop = asyncio.get_running_loop()
        self._connected = True
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        if isinstance(sockname, tuple):
            self.server = (str(sockname[0]), int(sockname[1]))
            if isinstance(peername, tuple):
                self.client = (str(peername[0]), int(peername[1]))
        elif isinstance(sockname, str):
            # A unix socket: the peer has no address.
            self.server = (sockname, None)
        if transport.get_extra_info("ssl_object") is not None:
            self.scheme = "https"
        config = self.config
        if config.proxy_headers:
            allowed = config.forwarded_allow_ips
            unix = isinstance(sockname, str)
            # A unix socket peer passed the socket file's permissions: trust it.
            self._proxy_trusted = (
                "*" in allowed or unix or (self.client is not None and self.client[0] in allowed)
            )
        self.state.connections.add(self)
        self.timers.start(self.loop)

    def data_received(self, data: bytes) -> None:
        websocket = self.websocket
        if websocket is not None and websocket.upgraded:
            websocket.data_received(data)
            return
        if self._closing or self.conn.their_state in _NOTHING_MORE:
            return  # lingering, closing, or after a "Connection: close" request
        self.timers.head_started()
        if self.cycle is not None and self.conn.their_state is not h11.SEND_BODY:
            # Pipelined bytes wait (in h11's buffer or the framer's) until the response
            # is done; _update_reading bounds them.
            self._pipelined += len(data)
        self._feed(self.framer.feed(data))

    def _feed(self, scanned: tuple[bytes, RequestRejected | None], *, eof: bool = False) -> None:
        accepted, error = scanned
        if error is not None and self._pending_error is None:
            self._pending_error = error
        if accepted:
            self.conn.receive_data(accepted)
        if eof:
            self.conn.receive_data(b"")
        self._process()

    def eof_received(self) -> bool:
        websocket = self.websocket
        if websocket is not None and websocket.upgraded:
            return websocket.eof_received()
        if self._closing:
            self._close()
            return False
        if self.framer.holding:
            # Bytes after an upgrade request are not h11's yet: tell it of the EOF after
            # them, once the upgrade is decided.
            self._eof_after_held = True
        elif self.conn.their_state not in _NOTHING_MORE:
            self._feed((b"", None), eof=True)
        # Half-close: a client that shut down its sending side after a complete request
        # still gets the response; keep the transport open for writing until then.
        if self.cycle is not None:
            self.cycle.peer_finished()
        return self.cycle is not None and not self._closing

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = self._closed = True
        self._connected = False
        self.state.connections.discard(self)
        self.timers.cancel()
        self.writing_paused = False
        self._wake_writers()
        websocket = self.websocket
        if websocket is not None:
            # The session tells its app and gives it a grace period before cancelling.
            websocket.connection_lost(exc)
        for task, cycle in list(self.tasks.items()):
            cycle.disconnect()
            if websocket is not None and cycle is websocket.cycle:
                continue
            if not cycle.response_complete and not task.done():
                # The app gets one step to see the disconnect, then is cancelled.
                self.loop.call_soon(task.cancel)
        self.cycle = None

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.websocket is not None:
            self.websocket.writing_changed()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_writers()
        if self.websocket is not None:
            self.websocket.writing_changed()

    # -- CycleOwner --------------------------------------------------------------------

    def wait_writable(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = self.loop.create_future()
        if self.writing_paused and not self._closing:
            self._writable_waiters.append(waiter)
        else:
            waiter.set_result(None)
        return waiter

    def date_header(self) -> bytes:
        return _DATE.value(time.time())

    def body_wait_started(self, cycle: RequestCycle) -> None:
        if cycle is self.cycle and not self._closing:
            self.timers.start_body()
        self._update_reading()

    def body_wait_ended(self, cycle: RequestCycle) -> None:
        if cycle is self.cycle:
            self.timers.stop_body()
        self._update_reading()

    def response_complete(self, cycle: RequestCycle) -> None:
        if cycle is not self.cycle or self._closing:
            return
        self.timers.stop_body()
        conn = self.conn
        # After the client's EOF, h11 decides: requests it already holds (pipelined
        # before a half-close) are still answered; otherwise it ends in ConnectionClosed.
        if conn.our_state is not h11.DONE or self._shutdown or self.state.shutting_down:
            if conn.their_state is h11.SEND_BODY:
                self._linger()
            else:
                self._close()
        elif conn.their_state is h11.SEND_BODY:
            # Early response: discard the rest of the body, up to limit_drain_bytes.
            self._drained = cycle.buffered
            cycle.discard_body()
            if self._drained > self.config.limit_drain_bytes:
                self._linger()
            else:
                self._process()
        else:
            self._finish_cycle()

    # -- WebSocketOwner ----------------------------------------------------------------

    def take_upgrade_bytes(self) -> tuple[bytes, bool]:
        return self.framer.take_held(), self._eof_after_held

    def set_reading_paused(self, paused: bool) -> None:
        if paused != self._reading_paused and not self._closing:
            self._reading_paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def response_failed(self, cycle: RequestCycle) -> None:
        if cycle is not self.cycle or self._closing:
            return
        if cycle.wrote:
            # The client sees a truncated response: the only honest signal left.
            self._close()
        else:
            self._send_error(500, head_only=cycle.method == b"HEAD")

    # -- event processing --------------------------------------------------------------

    def _process(self) -> None:
        """Turn what h11 has buffered into events, re-entrancy safe."""
        if self._processing:
            self._again = True
            return
        self._processing = True
        try:
            again = True
            while again and not self._closing:
                self._again = False
                self._pump()
                again = self._again
        finally:
            self._processing = False
        if not self._closing:
            if self.cycle is None:
                self.timers.arm_idle(head_in_progress=self.framer.head_in_progress)
            self._update_reading()

    def _pump(self) -> None:
        conn = self.conn
        while not self._closing:
            if conn.their_state in _NOTHING_MORE:
                return
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._reject(
                    self._pending_error
                    or RequestRejected(exc.error_status_hint, "Bad Request", str(exc))
                )
                return
            if event is h11.NEED_DATA:
                if self._pending_error is not None and self._pending_error_applies():
                    self._reject(self._pending_error)
                return
            if event is h11.PAUSED:
                return
            cycle = self.cycle
            kind = type(event)
            if kind is h11.Data:
                assert cycle is not None
                data = cast(h11.Data, event).data
                if cycle.response_complete:
                    self._drained += len(data)
                    if self._drained > self.config.limit_drain_bytes:
                        self._linger()
                        return
                else:
                    cycle.feed_body(data)
            elif kind is h11.Request:
                self._start_cycle(cast(h11.Request, event))
            elif kind is h11.EndOfMessage:
                assert cycle is not None
                if cycle.response_complete:
                    self._finish_cycle()
                else:
                    cycle.end_body()
            elif kind is h11.ConnectionClosed:
                if self._pending_error is not None and self._pending_error_applies():
                    self._reject(self._pending_error)
                elif cycle is None:
                    self._close()
                return

    def _pending_error_applies(self) -> bool:
        """Whether h11 has reached the point of the stream where the framer's error is."""
        state = self.conn.their_state
        return state is h11.SEND_BODY or (state is h11.IDLE and self.cycle is None)

    def _start_cycle(self, request: h11.Request) -> None:
        self.timers.cancel_idle()
        kinds = self.framer.head_kinds
        kind = kinds.popleft() if kinds else PLAIN_HEAD
        try:
            scope = build_scope(
                request,
                client=self.client,
                server=self.server,
                scheme=self.scheme,
                root_path=self.config.root_path,
                state=dict(self.state.lifespan_state),
                proxy_trusted=self._proxy_trusted,
            )
        except RequestRejected as exc:
            self._reject(exc)
            return
        if kind != PLAIN_HEAD:
            # An HTTP/1.0 keep-alive request that h11 was shown as HTTP/1.1.
            scope["http_version"] = "1.0"
            if kind == HTTP10_KEEP_ALIVE_NO_HOST:
                scope["headers"] = [h for h in scope["headers"] if h != (b"host", b"")]
        self._requests += 1
        self.state.total_requests += 1
        limit = self.config.limit_requests_per_connection
        keep_alive = not (
            self._shutdown
            or self.state.shutting_down
            or (limit is not None and self._requests >= limit)
        )
        cycle = RequestCycle(
            self,
            scope,
            self.config,
            method=request.method,
            keep_alive=keep_alive,
            expects_body=True,
            http10=kind != PLAIN_HEAD,
        )
        self.cycle = cycle
        if self._upgrade(request, cycle):
            return
        task = _start_task(self.loop, cycle.run(self.app))
        if not task.done():
            self.tasks[task] = cycle
            task.add_done_callback(self._task_done)

    def _upgrade(self, request: h11.Request, cycle: RequestCycle) -> bool:
        """Protocol upgrades: True if the request went to a websocket session (or was
        refused as a bad handshake) instead of an ``http`` app call.

        Other upgrades are served as plain HTTP. The session answers 101 through
        ``self.conn`` and takes the bytes that followed the request from the framer
        (which holds everything after an upgrade request, unexamined; h11 has none).
        """
        # The framer holds whatever follows a request with an Upgrade header: without
        # that, no header needs a look (the common case costs one attribute read).
        if not self.framer.holding or not is_websocket_request(
            cycle.scope["http_version"], request.headers
        ):
            return False
        try:
            handshake = validate_handshake(request.method, request.headers)
        except HandshakeRejected as exc:
            error_log.debug("refusing websocket handshake from %s: %s", self.client, exc)
            cycle.disconnect()
            cycle.log_access(exc.status)
            date = self.date_header() if self.config.date_header else None
            self.transport.write(
                rejection_response(
                    exc,
                    date=date,
                    server=self.config.server_header,
                    head_only=request.method == b"HEAD",
                )
            )
            self._linger()
            return True
        # The handshake has no body: let h11 reach the end of the request now, so that
        # it awaits our answer in MIGHT_SWITCH_PROTOCOL before the app can accept.
        end = self.conn.next_event()
        assert type(end) is h11.EndOfMessage, end
        cycle.end_body()
        # Imported on the first upgrade: wsproto costs memory a plain HTTP server
        # never needs.
        from tornadoish.server.websocket import WebSocketSession

        session = WebSocketSession(self, cycle, handshake, self.config)
        self.websocket = session
        task = _start_task(self.loop, session.run(self.app))
        session.task = task
        if not task.done():
            self.tasks[task] = cycle
            task.add_done_callback(self._task_done)
        return True

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.pop(task, None)

    def _finish_cycle(self) -> None:
        """Both sides finished one exchange: reuse the connection for the next one."""
        self.cycle = None
        self.websocket = None
        self._drained = 0
        self._pipelined = 0
        try:
            self.conn.start_next_cycle()
        except h11.LocalProtocolError:
            self._close()
            return
        if self._shutdown or self.state.shutting_down:
            self._close()
            return
        if self.framer.holding and not self.framer.head_kinds:
            # The request before asked for an upgrade that did not happen. (While h11
            # still has heads to hand out, the hold is for a request behind this one.)
            self._feed(self.framer.resume(), eof=self._eof_after_held)
        else:
            self._process()

    # -- errors, closing, deadlines ----------------------------------------------------

    def _reject(self, error: RequestRejected) -> None:
        """Answer a request the client got wrong (if no response was written), then close."""
        error_log.debug("rejecting request from %s: %s", self.client, error)
        cycle = self.cycle
        if cycle is not None:
            cycle.disconnect()
            if cycle.wrote:
                self._close()
                return
        self._send_error(error.status, head_only=cycle is not None and cycle.method == b"HEAD")

    def _send_error(self, status: int, *, head_only: bool = False) -> None:
        if self.cycle is not None:
            self.cycle.disconnect()
            self.cycle.log_access(status)
        date = self.date_header() if self.config.date_header else None
        self.transport.write(
            error_response(status, date=date, server=self.config.server_header, head_only=head_only)
        )
        self._linger()

    def _linger(self) -> None:
        """Half-close, discard input for a moment, then close (see ``timers.LINGER_SECONDS``)."""
        if self._closing:
            return
        transport = self.transport
        if not transport.can_write_eof():
            self._close()  # TLS: no half-close
            return
        self._closing = True
        self.timers.cancel()
        transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self.timers.start_linger()

    def _close(self) -> None:
        if self._closed:
            return
        self._closing = self._closed = True
        self.timers.cancel()
        self.transport.close()

    def _update_reading(self) -> None:
        if self._closing or (self.websocket is not None and self.websocket.upgraded):
            return  # after a 101 the websocket session decides
        cycle = self.cycle
        # Reading goes on while a request is in flight, so that a vanished client is
        # noticed; pipelined requests are not parsed meanwhile, only buffered, and
        # reading stops once the body queue or that buffer reaches limit_buffered_bytes
        # (a bound exceeded by at most one socket read).
        limit = self.config.limit_buffered_bytes
        pause = self._pending_error is not None or (
            cycle is not None and (cycle.buffered >= limit or self._pipelined >= limit)
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _on_head_timeout(self) -> None:
        if self.cycle is None and self.framer.head_in_progress:
            # RFC 9110 §15.5.9: 408 for a request head that did not arrive in time.
            self._send_error(408)
        else:
            self._close()

    def _on_body_timeout(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.wrote:
            self._close()
        else:
            self._send_error(408)

    def _wake_writers(self) -> None:
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


def _start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[None]:
    """The request task, started eagerly where the loop supports it (3.12+)."""
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, eager_start=True)
    return loop.create_task(coro)
