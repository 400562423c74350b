"""The HTTP/1.1 connection: bytes of one TCP connection to ASGI ``http`` calls (layer: server).

One :class:`HTTPProtocol` per connection. Raw bytes go to a
:class:`~tornadoish.server.framing.RequestParser`, which queues request heads, body
pieces and ends of messages; each request runs as one task around a
:class:`~tornadoish.server.cycle.RequestCycle`, which frames the response.

Why not h11 (the design started with it): on the benchmark machine h11 took ~60% of
the server's time per request, parsing each head a second time after our framer had
scanned it for limits and smuggling rules, and checking response headers a second time
after :func:`~tornadoish.server.parsing.validate_response_start`. Parsing once and
writing heads directly made the raw-ASGI server ~3x faster; the conformance tables in
``tests/server`` pin the behaviour h11 gave us.

Deadlines (request head, keep-alive, body, linger): see ``timers.py``.

Pipelining: requests are answered in order, one at a time: a pipelined request waits,
unparsed, in the parser until the response before it is complete. Reading goes on
meanwhile (so that a client that vanishes is noticed and its app gets
``http.disconnect``), but only until ``limit_buffered_bytes`` of pipelined bytes or
unread body wait; then reading pauses.

Half-close: an EOF after a complete request keeps the transport open until the response
is written. The flip side: a client that closes its socket (FIN, not reset) while its
app waits for ``http.disconnect`` is only noticed when the app writes.

HTTP/1.0 requests that ask for keep-alive get it (RFC 9112 §9.3).

The server knows nothing of the framework: it takes any ASGI 3 callable.

WebSocket: :meth:`HTTPProtocol._upgrade` validates an HTTP/1.1 ``Upgrade: websocket``
request (``ws_handshake.py``) and hands it to a
:class:`~tornadoish.server.websocket.WebSocketSession`, which writes the 101. This
protocol stays the transport's protocol for the life of the connection and forwards the
transport's events to the session once it has answered 101 (rather than
``transport.set_protocol()`` to a new protocol object): whoever tracks this object (the
runner's shutdown, its ``connection_lost`` bookkeeping, ``state.connections``) keeps
working unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Final, cast

from tornadoish.server.config import ServerConfig
from tornadoish.server.cycle import RequestCycle
from tornadoish.server.framing import END_OF_MESSAGE, RequestParser
from tornadoish.server.parsing import (
    DateHeader,
    RequestHead,
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
        self.parser = RequestParser(
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
        # The client sent EOF (after whatever the parser still holds).
        self._eof = False
        # The whole request of the cycle in flight has been read (or no request is).
        self._request_done = True
        self._reading_paused = False
        self._processing = False
        self._again = False
        self._requests = 0
        self._drained = 0
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
        if self._closing:
            return  # lingering or closing
        parser = self.parser
        if parser.stopped:
            return  # after a "Connection: close" request, or an error
        self.timers.head_started()
        # (Pipelined bytes wait unparsed in the parser until the response before them
        # is done; _update_reading bounds them.)
        parser.feed(data)
        self._process()

    def eof_received(self) -> bool:
        websocket = self.websocket
        if websocket is not None and websocket.upgraded:
            return websocket.eof_received()
        if self._closing:
            self._close()
            return False
        self._eof = True
        if not self.parser.holding:
            # (Bytes after an upgrade request are held: the EOF after them waits until
            # the upgrade is decided.)
            self._process()
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
        if not cycle.keep_alive or self._shutdown or self.state.shutting_down:
            if self._request_done:
                self._close()
            else:
                self._linger()
        elif not self._request_done:
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
        return self.parser.take_held(), self._eof

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
        """Act on what the parser has queued, re-entrancy safe."""
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
                self.timers.arm_idle(head_in_progress=self.parser.head_in_progress)
            self._update_reading()

    def _pump(self) -> None:
        events = self.parser.events
        while events and not self._closing:
            event = events[0]
            kind = type(event)
            cycle = self.cycle
            if kind is bytes:
                events.popleft()
                assert cycle is not None
                if cycle.response_complete:
                    self._drained += len(cast(bytes, event))
                    if self._drained > self.config.limit_drain_bytes:
                        self._linger()
                        return
                else:
                    cycle.feed_body(cast(bytes, event))
            elif event is END_OF_MESSAGE:
                events.popleft()
                assert cycle is not None
                self._request_done = True
                if cycle.response_complete:
                    self._finish_cycle()
                    return  # _finish_cycle went on with the queue
                cycle.end_body()
            elif kind is RequestHead:
                # (The parser holds a pipelined request until the one before is done.)
                assert cycle is None
                events.popleft()
                self._start_cycle(cast(RequestHead, event))
            else:
                # A request the client got wrong: its head, or the body in flight.
                events.popleft()
                self._reject(cast(RequestRejected, event))
                return
        if self._eof and not events and not self._closing:
            if self.cycle is None:
                self._close()
            elif not self._request_done:
                self._reject(RequestRejected(400, "Bad Request", "body cut short by EOF"))

    def _start_cycle(self, request: RequestHead) -> None:
        self.timers.cancel_idle()
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
        self._requests += 1
        self.state.total_requests += 1
        limit = self.config.limit_requests_per_connection
        keep_alive = request.keep_alive and not (
            self._shutdown
            or self.state.shutting_down
            or (limit is not None and self._requests >= limit)
        )
        events = self.parser.events
        # Most requests have no body: their end is queued right behind the head.
        bodiless = bool(events) and events[0] is END_OF_MESSAGE
        if bodiless:
            events.popleft()
        self._request_done = bodiless
        cycle = RequestCycle(
            self,
            scope,
            self.config,
            method=request.method,
            keep_alive=keep_alive,
            expects_body=not bodiless,
            http10=request.http_version == b"1.0",
            expect_continue=request.expect_continue and not bodiless,
        )
        self.cycle = cycle
        if request.upgrade and self._upgrade(request, cycle):
            return
        task = _start_task(self.loop, cycle.run(self.app))
        if not task.done():  # (an eager task may have finished already)
            self.tasks[task] = cycle
            cycle.task = task

    def _upgrade(self, request: RequestHead, cycle: RequestCycle) -> bool:
        """Protocol upgrades: True if the request went to a websocket session (or was
        refused as a bad handshake) instead of an ``http`` app call.

        Other upgrades are served as plain HTTP. The session answers 101 and takes
        the bytes that followed the request from the parser (which holds
        everything after an upgrade request, unexamined).
        """
        if not is_websocket_request(cycle.scope["http_version"], request.headers):
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
        # The handshake has no body (validate_handshake saw to it).
        assert self._request_done
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
        if self._shutdown or self.state.shutting_down:
            self._close()
            return
        # The next request, pipelined or not, is parsed now (or the bytes after an
        # upgrade request whose upgrade did not happen).
        self.parser.resume()
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
        parser = self.parser
        pause = parser.failed or (
            cycle is not None and (cycle.buffered >= limit or parser.held_bytes >= limit)
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _on_head_timeout(self) -> None:
        if self.cycle is None and self.parser.head_in_progress:
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
