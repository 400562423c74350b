"""WebSocketHandler: Tornado's websocket handler over the ASGI ``websocket`` scope
(layer: framework). Also the Tornado import path ``tornadoish.websocket``.

The handshake is an ordinary request: arguments, cookies, ``current_user``,
``prepare()`` and ``set_default_headers()`` work as in any handler, and a refused
handshake is an HTTP answer (400, 403, 426...) as in Tornado. Once accepted, one loop
receives a message and awaits ``on_message()`` before receiving the next (messages are
handled in order, and a slow handler slows the client down), while a sibling task
sends, in order, what ``write_message()`` and ``close()`` queued.

Under ASGI the server owns the frames: masking, fragmentation, answering pings and
permessage-deflate are its job, and ``get_compression_options()`` is not consulted
(uvicorn ``--ws-per-message-deflate``, our server's ``ws_per_message_deflate``).

Pings: ASGI has no ping message, but our own server offers one through a private
extension (``tornadoish.websocket.control``). On it, ``ping()`` sends a ping frame (in
order with the messages), ``on_ping()``/``on_pong()`` see the client's pings and pongs
(the server has answered each ping already), and the ``websocket_ping_interval`` and
``websocket_ping_timeout`` settings keep the connection alive as in Tornado. Under
other ASGI servers ``ping()`` raises NotImplementedError, ``on_ping()``/``on_pong()``
are never called, and the settings have no effect (they log one warning): configure
the server's keepalive instead (uvicorn ``--ws-ping-interval``/``--ws-ping-timeout``,
our server's ``ws_ping_interval``/``ws_ping_timeout``).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from tornadoish import _asgi
from tornadoish._ws_connection import Close, Connection, Ping, WriteAwaitable
from tornadoish.handler import RequestHandler
from tornadoish.log import app_log, gen_log

if TYPE_CHECKING:
    from tornadoish.application import Application
    from tornadoish.request import HTTPServerRequest

__all__ = ["WebSocketClosedError", "WebSocketError", "WebSocketHandler"]

# Tornado's default for ``websocket_max_message_size``: large enough for any chat or
# RPC payload, small enough that one client cannot make the process buffer much.
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024
# After close(): how long the client has to answer with its own close frame before
# the connection is given up (Tornado waits 5 s too).
CLOSE_HANDSHAKE_TIMEOUT = 5.0
# RFC 6455 §5.5: a control frame carries at most 125 bytes, 2 of them the code.
_MAX_CLOSE_REASON_BYTES = 123
_MAX_PING_BYTES = 125
# RFC 6455 §7.4: codes an endpoint may put in a close frame (1004-1006 and 1015 are
# reserved for reporting, 1000-2999 are the protocol's, 3000-4999 for applications).
_SENDABLE_CLOSE_CODES = frozenset(range(1000, 5000)) - {1004, 1005, 1006, 1015}


class WebSocketError(Exception):
    """Base class for websocket errors."""


class WebSocketClosedError(WebSocketError):
    """The connection is closed (or closing): nothing more can be sent."""


def _not_supported(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("Method not supported for Web Sockets")


def _message_size(message: str | bytes, limit: int) -> int:
    """The message's size in bytes on the wire (exact once it could matter)."""
    if isinstance(message, bytes):
        return len(message)
    if 4 * len(message) <= limit:  # UTF-8 takes at most 4 bytes per character
        return len(message)
    return len(message.encode("utf-8", "surrogatepass"))


_ping_settings_warned = False
_ping_timeout_clamp_warned = False


class WebSocketHandler(RequestHandler):
    """Subclass this and define ``open()``, ``on_message()`` and ``on_close()``;
    route it like any handler. ``open`` gets the URL pattern's groups."""

    def __init__(self, application: Application, request: HTTPServerRequest, **kwargs: Any):
        self.ws_connection: Connection | None = None
        self.open_args: tuple[str | None, ...] = ()
        self.open_kwargs: dict[str, str | None] = {}
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._selected_subprotocol: str | None = None
        self._on_close_called = False
        self._on_finish_done = False
        super().__init__(application, request, **kwargs)

    # -- the handshake ----------------------------------------------------------------

    async def get(self, *args: str | None, **kwargs: str | None) -> None:
        """The handshake: Tornado's checks in Tornado's order, then accept, ``open()``
        and the message loop, which returns when the connection is over."""
        self.open_args = args
        self.open_kwargs = kwargs
        channel = _asgi.websocket_channel(self._responder)
        headers = self.request.headers
        if channel is None:
            # A plain HTTP request; in a websocket scope the server checked these.
            if headers.get("Upgrade", "").lower() != "websocket":
                self._refuse(400, 'Can "Upgrade" only to "WebSocket".')
                return
            tokens = [token.strip().lower() for token in headers.get("Connection", "").split(",")]
            if "upgrade" not in tokens:
                self._refuse(400, '"Connection" must be "Upgrade".')
                return
        # Browsers let any page open a websocket anywhere, so cross-origin protection
        # is always on. It runs after prepare(): check_origin may rely on it.
        error = self._cross_origin_error(self.check_origin)
        if error is not None:
            self._refuse(403, "Cross origin websockets not allowed", error)
            return
        version = headers.get("Sec-WebSocket-Version")
        if version != "13" and (channel is None or version is not None):
            self.set_status(426, "Upgrade Required")
            self.set_header("Sec-WebSocket-Version", "13")
            return
        if channel is None:
            # Difference from Tornado: an ASGI app cannot take over an HTTP connection.
            gen_log.warning(
                "websocket request %s arrived as plain HTTP: the ASGI server does not "
                "support websockets or has them disabled",
                self._request_summary(),
            )
            self._refuse(400, "WebSocket upgrade is not available on this server")
            return
        await self._accept(channel)

    def _refuse(self, status: int, message: str, detail: str | None = None) -> None:
        self.set_status(status)
        self.finish(message)
        if detail is None:
            gen_log.debug(message)
        else:
            gen_log.debug("%s: %s", message, detail)

    async def _accept(self, channel: _asgi.WebSocketChannel) -> None:
        offered = channel.subprotocols
        selected = self.select_subprotocol(list(offered))
        if selected is not None and selected not in offered:
            raise ValueError(
                f"select_subprotocol() returned {selected!r}, not one of the offered {offered!r}"
            )
        self._selected_subprotocol = selected
        if not channel.can_control:
            self._warn_about_ping_settings()
        self.clear_header("Content-Type")
        self.set_status(101)
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self._headers.get_all()
        ]
        headers.extend(self._set_cookie_headers())
        self._headers_written = True
        self._finished = True
        self.request._finish_time = self.request._start_time + self.request.request_time()
        try:
            await channel.accept(selected, headers)
        except _asgi.ClientGone:
            return  # the client left during the handshake: never opened, nothing to close
        # As in Tornado: the HTTP response is over, its output methods now raise.
        for name in (
            "write",
            "redirect",
            "set_header",
            "set_cookie",
            "set_status",
            "flush",
            "finish",
        ):
            setattr(self, name, _not_supported)
        self.ws_connection = Connection(channel)
        # As in Tornado, the HTTP request ends with the handshake: on_finish() now.
        await super()._run_on_finish()
        self._on_finish_done = True
        await self._run(channel, self.ws_connection)

    async def _run_on_finish(self) -> None:
        if not self._on_finish_done:
            await super()._run_on_finish()

    def _warn_about_ping_settings(self) -> None:
        global _ping_settings_warned
        if _ping_settings_warned:
            return
        if self.ping_interval or self.ping_timeout:
            _ping_settings_warned = True
            gen_log.warning(
                "websocket_ping_interval/websocket_ping_timeout have no effect under ASGI "
                "servers that do not offer pings to the app (only tornadoish's own server "
                "does): configure the server's keepalive pings (uvicorn --ws-ping-interval)"
            )

    def _keepalive_times(self) -> tuple[float, float] | None:
        """(interval, timeout) of the keepalive pings, None for none; as in Tornado 6.5+,
        the timeout defaults to the interval and is never longer (0 disables it)."""
        global _ping_timeout_clamp_warned
        interval = self.ping_interval or 0.0
        if interval <= 0:
            return None
        timeout = self.ping_timeout
        if timeout is None:
            return interval, interval
        if timeout > interval:
            if not _ping_timeout_clamp_warned:
                _ping_timeout_clamp_warned = True
                gen_log.warning(
                    "websocket_ping_timeout (%s) cannot be longer than websocket_ping_interval "
                    "(%s): using %s",
                    timeout,
                    interval,
                    interval,
                )
            return interval, interval
        return interval, timeout

    # -- the connection ---------------------------------------------------------------

    async def _run(self, channel: _asgi.WebSocketChannel, connection: Connection) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(connection.run_sender, group.cancel_scope, CLOSE_HANDSHAKE_TIMEOUT)
                times = self._keepalive_times() if connection.can_ping else None
                if times is not None:
                    group.start_soon(self._keepalive, connection, *times)
                await self._call_user(self.open, *self.open_args, **self.open_kwargs)
                await self._receive_loop(channel, connection)
                group.cancel_scope.cancel()
        finally:
            connection.finish()
            self.ws_connection = None
            self._call_on_close()

    async def _receive_loop(self, channel: _asgi.WebSocketChannel, connection: Connection) -> None:
        limit = self.max_message_size
        while True:
            connection.set_idle(True)
            message = await channel.receive()
            connection.set_idle(False)
            if isinstance(message, _asgi.WebSocketClosed):
                self.close_code = message.code
                self.close_reason = message.reason
                connection.disconnected.set()
                return
            if isinstance(message, _asgi.ControlFrame):
                if message.kind == "pong":
                    connection.pongs += 1
                if not connection.closing:
                    callback = self.on_ping if message.kind == "ping" else self.on_pong
                    await self._call_user(callback, message.data)
                continue
            if connection.closing:
                continue  # as in Tornado: once we close, incoming data is dropped
            if limit is not None and _message_size(message, limit) > limit:
                self.close(1009, "message too big")
                continue
            await self._call_user(self.on_message, message)

    async def _keepalive(self, connection: Connection, interval: float, patience: float) -> None:
        """Tornado's keepalive: a ping every ``interval`` seconds; no pong ``patience``
        seconds after one (0: never mind) closes the connection, as Tornado does, with
        1000 "ping timed out". Runs in the connection's task group."""
        await anyio.sleep(interval)
        while not (connection.closing or connection.closed):
            pongs = connection.pongs
            started = anyio.current_time()
            connection.put(Ping(b""))
            if patience > 0:
                await anyio.sleep(patience)
                # A pong may wait behind messages the handler is still busy with (the
                # loop takes one at a time): that is not the client's fault. Look
                # once everything that arrived has been handled.
                if connection.pongs == pongs:
                    await connection.wait_idle()
                if connection.pongs == pongs:
                    gen_log.debug("websocket ping timed out: closing %s", self._request_summary())
                    self.close(1000, "ping timed out")
                    return
            await anyio.sleep(max(0.0, started + interval - anyio.current_time()))

    async def _call_user(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``open``/``on_message``/``on_ping``/``on_pong``; an exception is logged
        and closes with 1011."""
        try:
            result = method(*args, **kwargs)
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            self.log_exception(*sys.exc_info())
            self.close(1011)

    def _call_on_close(self) -> None:
        if self._on_close_called:
            return
        self._on_close_called = True
        try:
            self.on_close()
        except Exception:
            app_log.error("Uncaught exception in on_close", exc_info=True)

    @classmethod
    def _watches_connection_close(cls) -> bool:
        # The message loop sees the disconnect; a watcher would steal its messages.
        return False

    # -- the API ----------------------------------------------------------------------

    def _open(self, *args: str | None, **kwargs: str | None) -> Awaitable[None] | None:
        """Called once the connection is accepted, with the URL pattern's groups; may be
        async, and no message is delivered before it returns. Override it."""
        return None

    open: Callable[..., Awaitable[None] | None] = _open
    """Called once the connection is accepted, with the URL pattern's groups; may be
    async, and no message is delivered before it returns."""

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Called for each message (str for text, bytes for binary); may be async, and
        the next message waits for it. Must be overridden."""
        raise NotImplementedError("WebSocketHandler subclasses must define on_message()")

    def on_close(self) -> None:
        """Called exactly once when the connection is over, whoever closed it;
        ``close_code``/``close_reason`` hold the client's close frame (1005 when it
        carried no code; 1006 when the connection dropped, if the server says so)."""

    def on_ping(self, data: bytes) -> None:
        """Called for each ping from the client (the server has answered it already),
        in order with the messages. Only on a server that offers pings to the app (our
        own); never under other ASGI servers, which keep pings to themselves."""

    def on_pong(self, data: bytes) -> None:
        """Called for each pong from the client: the answer to ``ping()``, to the
        keepalive pings, or to the server's own. Only on a server that offers pings to
        the app (our own); never under other ASGI servers."""

    def write_message(
        self, message: str | bytes | dict[str, Any], binary: bool = False
    ) -> WriteAwaitable:
        """Queue ``message`` (a dict goes as JSON text) as a text frame, or a binary one
        with ``binary=True``. Awaiting the result waits until it was handed to the
        server; raises WebSocketClosedError once the connection is closing or closed."""
        connection = self.ws_connection
        if connection is None or connection.closing or connection.closed:
            raise WebSocketClosedError()
        value: object = message  # checked at run time: untyped callers pass anything
        if isinstance(value, dict):
            value = self._encode_json(value)
        payload: str | bytes
        if binary:
            if isinstance(value, str):
                payload = value.encode("utf-8")
            elif isinstance(value, bytes):
                payload = value
            else:
                raise TypeError(f"cannot send {type(value).__name__} as a websocket message")
        elif isinstance(value, str):
            payload = value
        elif isinstance(value, bytes):
            # As in Tornado: bytes without binary=True go as a text frame, so they must
            # be UTF-8.
            payload = value.decode("utf-8")
        else:
            raise TypeError(f"cannot send {type(value).__name__} as a websocket message")
        return WriteAwaitable(connection, connection.put(payload))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start closing with ``code`` (default 1000) and ``reason``; ``on_close()``
        follows once the client answered (or after CLOSE_HANDSHAKE_TIMEOUT). Does
        nothing when the connection is not open."""
        if code is None:
            code = 1000  # ASGI has no close frame without a code; Tornado sends none
        if isinstance(code, bool) or code not in _SENDABLE_CLOSE_CODES:
            raise ValueError(f"invalid websocket close code {code!r} (RFC 6455 §7.4)")
        reason = reason or ""
        if len(reason.encode("utf-8")) > _MAX_CLOSE_REASON_BYTES:
            raise ValueError(f"close reason longer than {_MAX_CLOSE_REASON_BYTES} bytes")
        connection = self.ws_connection
        if connection is None or connection.closing or connection.closed:
            return
        connection.closing = True
        connection.put(Close(code, reason))
        self.ws_connection = None

    def ping(self, data: str | bytes = b"") -> None:
        """Queue a ping frame carrying ``data`` (str goes as UTF-8; at most 125 bytes,
        else ValueError), sent in order with the messages; the client's pong reaches
        ``on_pong()``. Raises WebSocketClosedError once the connection is closing or
        closed. Needs a server that offers pings to the app (our own): under other
        ASGI servers, which have no ping message, raises NotImplementedError
        (configure the server's keepalive pings instead)."""
        value: object = data  # checked at run time: untyped callers pass anything
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes):
            raise TypeError(f"cannot send {type(value).__name__} in a ping")
        if len(value) > _MAX_PING_BYTES:
            raise ValueError(
                f"ping data is {len(value)} bytes; at most {_MAX_PING_BYTES} (RFC 6455 §5.5)"
            )
        connection = self.ws_connection
        if connection is None or connection.closing or connection.closed:
            raise WebSocketClosedError()
        if not connection.can_ping:
            raise NotImplementedError(
                "WebSocketHandler.ping() is not available under ASGI (no ping message) "
                "unless the server offers it, as tornadoish's own server does; "
                "configure keepalive pings in the server instead"
            )
        connection.put(Ping(value))

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Return one of the client's ``subprotocols`` to select it, or None (the
        default); called once per handshake, with an empty list when none offered."""
        return None

    @property
    def selected_subprotocol(self) -> str | None:
        """What ``select_subprotocol()`` chose."""
        return self._selected_subprotocol

    def check_origin(self, origin: str) -> bool:
        """Called only for a request that looks cross-origin (its ``Origin`` is not
        the ``Host``, or ``Sec-Fetch-Site`` says so): True accepts it. The default
        accepts what ``check_trusted_origin`` accepts: the ``trusted_origins`` setting
        (as Tornado 6.6)."""
        return self.check_trusted_origin(origin)

    def get_compression_options(self) -> dict[str, Any] | None:
        """Kept for ported code; not consulted: under ASGI the server negotiates
        permessage-deflate itself."""
        return None

    def set_nodelay(self, value: bool) -> None:
        """No effect under ASGI: the server owns the socket."""

    @property
    def ping_interval(self) -> float | None:
        """The ``websocket_ping_interval`` setting: send a ping that often (seconds;
        None or 0 for never). Only on a server that offers pings to the app (our own);
        elsewhere it has no effect."""
        value: float | None = self.settings.get("websocket_ping_interval")
        return value

    @property
    def ping_timeout(self) -> float | None:
        """The ``websocket_ping_timeout`` setting: close the connection when no pong
        came this many seconds after a keepalive ping (None: the interval, as in
        Tornado 6.5+, which also caps it at the interval; 0: never)."""
        value: float | None = self.settings.get("websocket_ping_timeout")
        return value

    @property
    def max_message_size(self) -> int | None:
        """Largest message accepted (``websocket_max_message_size``, 10 MiB by default;
        None for no limit); a larger one closes the connection with 1009."""
        value: int | None = self.settings.get(
            "websocket_max_message_size", DEFAULT_MAX_MESSAGE_SIZE
        )
        return value
