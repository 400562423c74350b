"""The one framework module that reads and builds ASGI messages (layer: framework).

Everything else in the framework sees an ``HTTPServerRequest`` and calls the small
functions here to read the body and send the response; websocket connections go
through a ``WebSocketChannel``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from tornadoish.errors import HTTPError
from tornadoish.httputil import HTTPHeaders
from tornadoish.proxies import TrustedProxies
from tornadoish.request import HTTPServerRequest
from tornadoish.types import ASGIReceive, ASGISend, Message, Scope

__all__ = [
    "ClientGone",
    "ControlFrame",
    "Responder",
    "WebSocketChannel",
    "WebSocketClosed",
    "read_body",
    "request_and_routing_path",
    "request_from_scope",
    "routing_path",
    "wait_for_disconnect",
    "websocket_channel",
]


class ClientGone(Exception):
    """The client disconnected before the request finished."""


_SCHEME_PROTOCOL = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def request_from_scope(scope: Scope, proxies: TrustedProxies | None = None) -> HTTPServerRequest:
    """Build the request object from an ``http`` or ``websocket`` scope; with
    ``proxies``, X-Forwarded-* headers from those proxies give the client and scheme."""
    return request_and_routing_path(scope, proxies)[0]


def request_and_routing_path(
    scope: Scope, proxies: TrustedProxies | None = None
) -> tuple[HTTPServerRequest, str]:
    """``request_from_scope()`` and ``routing_path()`` together, sharing their work."""
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    raw_path: bytes | None = scope.get("raw_path")
    routed = raw = raw_path.decode("latin-1") if raw_path else urllib.parse.quote(path)
    if root_path and not path.startswith(root_path):
        # Servers following the pre-2024 reading of the spec leave the prefix out of
        # `path`; show the client-visible URL either way.
        raw = urllib.parse.quote(root_path) + raw
    query: bytes = scope.get("query_string", b"")
    uri = raw + "?" + query.decode("latin-1") if query else raw
    headers = HTTPHeaders.from_asgi(scope["headers"])
    client = scope.get("client")
    host_values = headers._values.get("Host")  # (a normalized name: no lookup needed)
    host = ",".join(host_values) if host_values else None
    if not host:
        server = scope.get("server")
        if server and server[1] is not None:
            # RFC 3986 §3.2.2: an IPv6 address in a host[:port] is bracketed.
            address = f"[{server[0]}]" if ":" in server[0] else server[0]
            host = f"{address}:{server[1]}"
        else:
            host = "127.0.0.1"
    remote_ip = client[0] if client else None
    protocol = _SCHEME_PROTOCOL.get(scope.get("scheme", "http"), "http")
    if proxies:
        remote_ip, forwarded_protocol = proxies.resolve(remote_ip, headers)
        protocol = forwarded_protocol or protocol
    # Positional arguments: a keyword call costs notably more, on every request.
    request = HTTPServerRequest(
        scope.get("method", "GET"),  # method
        uri,
        "HTTP/" + scope.get("http_version", "1.1"),  # version
        headers,
        b"",  # body
        remote_ip,
        protocol,
        host,
        root_path,
    )
    return request, _below_root(routed, root_path) if root_path else routed


def routing_path(scope: Scope) -> str:
    """The still-%-encoded path below ``root_path``: what route patterns match."""
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else urllib.parse.quote(scope["path"])
    return _below_root(path, scope.get("root_path", ""))


def _below_root(path: str, root_path: str) -> str:
    """``path`` (still %-encoded) without the ``root_path`` prefix, when it has it."""
    if root_path:
        for prefix in (root_path, urllib.parse.quote(root_path)):
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
                return path[len(prefix) :] or "/"
    return path


async def read_body(
    receive: ASGIReceive,
    headers: HTTPHeaders,
    limit: int | None,
    on_chunk: Callable[[bytes], Awaitable[None]] | None = None,
    chunk_timeout: float | None = None,
) -> bytes:
    """Read the request body: 413 past ``limit`` bytes, 408 when a chunk takes longer
    than ``chunk_timeout``, ClientGone on disconnect.

    With ``on_chunk`` each chunk is handed over as it arrives (streaming) and b"" is
    returned; otherwise the whole body is returned.
    """
    if limit is not None:
        declared = headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPError(413, "Content-Length %s exceeds the body limit", declared)
    chunks: list[bytes] = []
    size = 0
    while True:
        if chunk_timeout is None:
            message = await receive()
        else:
            with anyio.move_on_after(chunk_timeout) as scope:
                message = await receive()
            if scope.cancelled_caught:
                raise HTTPError(408, "no request body data for %.1f s", chunk_timeout)
        if message["type"] != "http.request":
            raise ClientGone()
        chunk: bytes = message.get("body", b"")
        if type(chunk) is not bytes:
            # ASGI says bytes, yet servers hand over what their parser holds (h11 gives
            # bytearray slices); the handler's request.body is bytes whatever the server.
            chunk = bytes(chunk)
        if chunk:
            size += len(chunk)
            if limit is not None and size > limit:
                raise HTTPError(413, "request body exceeds the body limit")
            if on_chunk is not None:
                await on_chunk(chunk)
            else:
                chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def wait_for_disconnect(receive: ASGIReceive) -> None:
    """Return once the client has gone (call only after the body was read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class Responder:
    """Sends the response's ASGI messages; a send to a gone client raises ClientGone."""

    __slots__ = ("_send", "can_send_path")

    def __init__(self, send: ASGISend, extensions: Mapping[str, object] | None = None) -> None:
        self._send = send
        # The scope's "extensions": does the server take http.response.pathsend?
        self.can_send_path = extensions is not None and "http.response.pathsend" in extensions

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        await self._call({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool) -> None:
        await self._call({"type": "http.response.body", "body": data, "more_body": more})

    async def response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A complete response: ``start()`` then ``body(body, more=False)``, in one call
        (the usual case, so it skips a layer of coroutines)."""
        send = self._send
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        except OSError as exc:
            raise ClientGone() from exc

    async def path(self, path: str) -> None:
        """The whole body: the file at ``path``, sent by the server (only when
        ``can_send_path``; after ``start()``, with no body message before)."""
        await self._call({"type": "http.response.pathsend", "path": path})

    async def _call(self, message: dict[str, Any]) -> None:
        try:
            await self._send(message)
        except OSError as exc:
            # ASGI 2.4: send() after the client left raises an OSError subclass.
            raise ClientGone() from exc


def websocket_channel(responder: Responder | None) -> WebSocketChannel | None:
    """The websocket connection a handler's responder belongs to (None for ``http``)."""
    return responder.channel if isinstance(responder, _WebSocketResponder) else None


class WebSocketClosed:
    """What ``WebSocketChannel.receive()`` returns once the connection is gone:
    the close code and reason the client sent (1005 when it sent none)."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


# Our server's private extension for ping frames (tornadoish/server/ws_handshake.py):
# offered in the scope; opted in to by a key in websocket.accept; one message type each
# way for pings (app -> server: send one; server -> app: the peer sent one), one
# receive event for the peer's pongs.
_CONTROL_EXTENSION = "tornadoish.websocket.control"
_CONTROL_OPT_IN = "tornadoish.control"
_PING = "tornadoish.websocket.ping"
_PONG = "tornadoish.websocket.pong"


class ControlFrame:
    """What ``WebSocketChannel.receive()`` returns for a ping (``kind`` "ping", already
    answered by the server) or a pong (``kind`` "pong") from the client."""

    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: bytes) -> None:
        self.kind = kind
        self.data = data

    def __repr__(self) -> str:
        return f"ControlFrame({self.kind!r}, {self.data!r})"


class WebSocketChannel:
    """One ``websocket`` scope's ASGI messages, seen as a connection.

    Before ``accept()`` the handler runs its usual HTTP lifecycle through
    ``handshake_receive`` and ``responder``: an HTTP answer (a rejection) goes out
    through the ``websocket.http.response`` extension when the server offers it, else
    as a close before accept, which servers answer with 403. Sends after the client
    left raise ClientGone.

    ``can_control``: the server offers our ping extension; then ``accept()`` opts in
    to ping/pong events, ``ping()`` works and ``receive()`` returns ControlFrames.
    """

    __slots__ = (
        "_connected",
        "_receive",
        "_send",
        "can_control",
        "can_respond",
        "responder",
        "subprotocols",
    )

    def __init__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        self._receive = receive
        self._send = send
        self._connected = False
        self.subprotocols: list[str] = list(scope.get("subprotocols", ()))
        extensions = scope.get("extensions") or {}
        self.can_respond = "websocket.http.response" in extensions
        self.can_control = _CONTROL_EXTENSION in extensions
        self.responder = _WebSocketResponder(self)

    async def handshake_receive(self) -> Message:
        """An ASGI ``receive`` for the handshake's HTTP lifecycle: the (empty)
        request body once the server reported the connection, then a disconnect."""
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return {"type": "http.disconnect"}
            if kind == "websocket.connect" and not self._connected:
                self._connected = True
                return {"type": "http.request", "body": b"", "more_body": False}

    async def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        """Complete the handshake (the server answers 101)."""
        # ASGI: the subprotocol travels in its own key, never as a header.
        headers = [(k, v) for k, v in headers if k != b"sec-websocket-protocol"]
        message: dict[str, Any] = {
            "type": "websocket.accept",
            "subprotocol": subprotocol,
            "headers": headers,
        }
        if self.can_control:
            message[_CONTROL_OPT_IN] = True
        await self._call(message)

    async def send_text(self, text: str) -> None:
        await self._call({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._call({"type": "websocket.send", "bytes": data})

    async def ping(self, data: bytes) -> None:
        """Send a ping frame (only when ``can_control``; at most 125 bytes)."""
        await self._call({"type": _PING, "data": data})

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (``reason`` needs ASGI websocket spec 2.3)."""
        await self._call({"type": "websocket.close", "code": code, "reason": reason})

    async def receive(self) -> str | bytes | ControlFrame | WebSocketClosed:
        """The next message from the client (str for text, bytes for binary), or a
        ping or pong it sent (only when ``can_control``)."""
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text: str | None = message.get("text")
                if text is not None:
                    return text
                data: bytes | None = message.get("bytes")
                return data if data is not None else b""
            if kind == "websocket.disconnect":
                # RFC 6455 §7.1.5: no status code in the close frame reads as 1005.
                return WebSocketClosed(message.get("code", 1005), message.get("reason") or "")
            if kind in (_PING, _PONG):
                payload: bytes = message.get("data", b"")
                return ControlFrame("ping" if kind == _PING else "pong", bytes(payload))

    async def _call(self, message: dict[str, Any]) -> None:
        try:
            await self._send(message)
        except OSError as exc:
            raise ClientGone() from exc


class _WebSocketResponder(Responder):
    """Sends an HTTP response to a websocket request that was not accepted."""

    __slots__ = ("_closed", "channel")

    def __init__(self, channel: WebSocketChannel) -> None:
        super().__init__(channel._send)
        self.channel = channel
        self._closed = False

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self.channel.can_respond:
            message = {"type": "websocket.http.response.start", "status": status}
            await self._call({**message, "headers": headers})
        else:
            # ASGI: a close before accept makes the server refuse the handshake (403).
            self._closed = True
            await self._call({"type": "websocket.close", "code": 1000, "reason": ""})

    async def response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await self.start(status, headers)
        await self.body(body, False)

    async def body(self, data: bytes, more: bool) -> None:
        if not self._closed:
            await self._call(
                {"type": "websocket.http.response.body", "body": data, "more_body": more}
            )
