"""Testing helpers (composition root: sees the framework-agnostic server too).

- ``app_client(app)``: an ``httpx.AsyncClient`` talking to any ASGI app in-process,
  with the app's lifespan run around it (asyncio and trio).
- ``websocket_connect(app, path)``: a websocket session with any ASGI app in-process,
  through the ASGI ``websocket`` scope (asyncio and trio).
- ``live_server(app)``: the app on our own server on an ephemeral loopback port, for
  what only real sockets show (streaming, websockets, timeouts); asyncio only.
- ``AsyncHTTPTestCase``/``AsyncTestCase``/``gen_test``: Tornado's unittest API,
  backed by httpx, so Tornado test suites port with small changes.
- Pytest fixtures: add ``pytest_plugins = ["tornadoish.pytest_plugin"]`` to a
  ``conftest.py`` and define an ``app`` fixture.
"""

from __future__ import annotations

import base64
import json
import math
import os
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from tornadoish._asgi import _CONTROL_EXTENSION, _CONTROL_OPT_IN, _PING, _PONG
from tornadoish._testcase import (
    AsyncHTTPClient,
    AsyncHTTPTestCase,
    AsyncTestCase,
    HTTPClientError,
    HTTPResponse,
    gen_test,
)
from tornadoish.httputil import HTTPHeaders
from tornadoish.types import ASGIApp, Message

__all__ = [
    "AsyncHTTPClient",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "HTTPClientError",
    "HTTPResponse",
    "LifespanError",
    "LiveServer",
    "WebSocketRejection",
    "WebSocketSession",
    "WebSocketSessionClosed",
    "app_client",
    "gen_test",
    "lifespan",
    "live_server",
    "websocket_connect",
]


class LifespanError(RuntimeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


@asynccontextmanager
async def lifespan(app: ASGIApp, wait_seconds: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s lifespan startup on entry and shutdown on exit; yields the state dict.

    An app that raises on the lifespan scope before answering is taken as not
    supporting lifespan (as servers do in ``auto`` mode).
    """
    state: dict[str, Any] = {}
    to_app, app_inbox = anyio.create_memory_object_stream[Message](2)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](2)

    async def receive() -> Message:
        return await app_inbox.receive()

    async def send(message: Message) -> None:
        await app_outbox.send(message)

    async def run_app() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = state
        try:
            await app(scope, receive, send)
        except Exception:
            # Not supporting lifespan is allowed; a crash after startup is reported below.
            pass
        finally:
            app_outbox.close()

    async def exchange(kind: str) -> None:
        await to_app.send({"type": f"lifespan.{kind}"})
        with anyio.fail_after(wait_seconds):
            try:
                reply = await from_app.receive()
            except anyio.EndOfStream:
                if kind == "startup":
                    raise _Unsupported() from None
                raise LifespanError(f"the app exited during lifespan {kind}") from None
        if reply["type"] == f"lifespan.{kind}.failed":
            raise LifespanError(reply.get("message", "") or f"lifespan {kind} failed")
        if reply["type"] != f"lifespan.{kind}.complete":
            raise LifespanError(f"unexpected lifespan message {reply['type']!r}")

    # Errors are carried out of the task group and raised after it closed, so callers
    # see the exception itself rather than an ExceptionGroup around it.
    error: BaseException | None = None
    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(run_app)
        supported = True
        try:
            await exchange("startup")
        except _Unsupported:
            supported = False
        except Exception as exc:
            error = exc
        if error is None:
            try:
                yield state
            except BaseException as exc:
                error = exc
            if supported:
                with anyio.CancelScope(shield=True):
                    try:
                        await exchange("shutdown")
                    except Exception as exc:
                        error = error or exc
        group.cancel_scope.cancel()
    if error is not None:
        raise error


class _Unsupported(Exception):
    pass


@asynccontextmanager
async def app_client(
    app: ASGIApp, base_url: str = "http://testserver", **client_options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` wired to ``app`` in-process, with lifespan run around it."""
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url, **client_options
        ) as client:
            yield client


class LiveServer:
    """A running server: ``url`` is its base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def ws_url(self, path: str = "/") -> str:
        """The ``ws://`` URL of ``path`` on this server."""
        return f"ws://{self.host}:{self.port}{path}"


@asynccontextmanager
async def live_server(app: ASGIApp, **config_options: Any) -> AsyncIterator[LiveServer]:
    """Serve ``app`` with our own server on 127.0.0.1 and an ephemeral port, lifespan
    included; ``config_options`` are ``ServerConfig`` fields (short timeouts, limits)."""
    from tornadoish.server.config import ServerConfig
    from tornadoish.server.runner import start_server

    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "access_log": False}
    options.update(config_options)
    server = await start_server(app, ServerConfig(**options))
    try:
        port = server.port
        assert port is not None  # a TCP server always has one
        yield LiveServer(options["host"], port)
    finally:
        await server.close()


# -- websockets, in-process -------------------------------------------------------------


class WebSocketRejection:
    """A refused handshake: the HTTP answer the app sent through the
    ``websocket.http.response`` extension, or 403 with no body when it closed before
    accepting (what servers answer then)."""

    def __init__(self, status: int, headers: HTTPHeaders, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"WebSocketRejection(status={self.status}, body={self.body!r})"


class WebSocketSessionClosed(Exception):
    """The app closed the connection (``code``, ``reason``) or finished."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        super().__init__(f"the websocket was closed by the app: {code} {reason!r}")
        self.code = code
        self.reason = reason


# Our server's private ping extension (see tornadoish/server/ws_handshake.py), which
# websocket_connect(control=True) plays the server's part of; its names come from
# tornadoish._asgi, the framework's side of it.
_MAX_PING_BYTES = 125  # RFC 6455 §5.5


class WebSocketSession:
    """The client side of ``websocket_connect()``. After the handshake, ``accepted``
    tells whether the app accepted (then ``subprotocol`` and ``headers``) or refused
    (then ``rejection``). Every wait is bounded by ``timeout`` seconds.

    With ``websocket_connect(control=True)``, ``pings_sent`` lists the payload of
    each ping the app sent, and ``ping()``/``pong()`` play the client's."""

    def __init__(
        self,
        to_app: MemoryObjectSendStream[Message],
        timeout: float,
        control: bool = False,
        auto_pong: bool = True,
    ) -> None:
        self.timeout = timeout
        self.pings_sent: list[bytes] = []
        self._control = control  # the scope offers the ping extension
        self._control_events = False  # ... and the app opted in to its events
        self._auto_pong = auto_pong
        self.accepted = False
        self.subprotocol: str | None = None
        self.headers = HTTPHeaders()
        self.rejection: WebSocketRejection | None = None
        self.close_code: int | None = None  # from the app's close, once it closed
        self.close_reason: str | None = None
        self._to_app = to_app
        self._inbox_in, self._inbox = anyio.create_memory_object_stream[str | bytes | None](
            math.inf
        )
        self._open = False  # accepted, and neither side closed yet
        self._handshake_done = anyio.Event()
        self._app_closed = anyio.Event()
        self._app_done = anyio.Event()

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        await self._send_to_app({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send_to_app({"type": "websocket.receive", "bytes": data})

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as a JSON text message."""
        await self.send_text(json.dumps(value))

    async def ping(self, data: bytes = b"") -> None:
        """Send a ping (needs ``control=True``): as our server does, it is answered
        for the app, which gets a ``tornadoish.websocket.ping`` event if it opted in."""
        await self._send_control(_PING, data)

    async def pong(self, data: bytes = b"") -> None:
        """Send a pong (needs ``control=True``; RFC 6455 §5.5.3 allows unsolicited
        ones): an app that opted in gets a ``tornadoish.websocket.pong`` event."""
        await self._send_control(_PONG, data)

    async def _send_control(self, kind: str, data: bytes) -> None:
        if not self._control:
            raise RuntimeError("pings need websocket_connect(..., control=True)")
        if len(data) > _MAX_PING_BYTES:
            raise ValueError(f"a control frame carries at most {_MAX_PING_BYTES} bytes")
        if not self._open:
            raise RuntimeError("the websocket is not open (refused or closed)")
        if self._control_events:
            await self._send_to_app({"type": kind, "data": data})

    async def receive(self) -> str | bytes:
        """The app's next message; WebSocketSessionClosed once it closed."""
        with anyio.fail_after(self.timeout):
            item = await self._inbox.receive()
        if item is None:
            self._inbox_in.send_nowait(None)  # every later receive raises too
            raise WebSocketSessionClosed(self.close_code, self.close_reason)
        return item

    async def receive_text(self) -> str:
        """The next message, which must be text."""
        item = await self.receive()
        if not isinstance(item, str):
            raise TypeError(f"expected a text message, got {item!r}")
        return item

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary."""
        item = await self.receive()
        if not isinstance(item, bytes):
            raise TypeError(f"expected a binary message, got {item!r}")
        return item

    async def receive_json(self) -> Any:
        """The next text message, parsed as JSON."""
        return json.loads(await self.receive_text())

    async def wait_closed(self) -> tuple[int | None, str | None]:
        """Wait until the app closed the connection; its close code and reason."""
        with anyio.fail_after(self.timeout):
            await self._app_closed.wait()
        return self.close_code, self.close_reason

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client's side (the app sees ``websocket.disconnect`` with
        ``code``), then wait for the app to finish."""
        if self._open:
            self._open = False
            message = {"type": "websocket.disconnect", "code": code, "reason": reason}
            with anyio.fail_after(self.timeout):
                await self._to_app.send(message)
        with anyio.fail_after(self.timeout):
            await self._app_done.wait()

    async def _send_to_app(self, message: Message) -> None:
        if not self._open:
            raise RuntimeError("the websocket is not open (refused or closed)")
        with anyio.fail_after(self.timeout):
            await self._to_app.send(message)

    async def _pump(self, from_app: MemoryObjectReceiveStream[Message], offered: bool) -> None:
        """Play the server's part for what the app sends."""
        status: int | None = None
        body: list[bytes] = []
        async for message in from_app:
            kind = message["type"]
            if not self._handshake_done.is_set():
                if kind == "websocket.accept":
                    self.accepted = self._open = True
                    self._control_events = self._control and message.get(_CONTROL_OPT_IN) is True
                    self.subprotocol = message.get("subprotocol")
                    self.headers = HTTPHeaders.from_asgi(message.get("headers", []))
                    self._handshake_done.set()
                elif kind == "websocket.close":
                    self.rejection = WebSocketRejection(403, HTTPHeaders(), b"")
                    self._handshake_done.set()
                elif kind == "websocket.http.response.start" and offered and status is None:
                    status = message["status"]
                    self.headers = HTTPHeaders.from_asgi(message.get("headers", []))
                elif kind == "websocket.http.response.body" and status is not None:
                    body.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        self.rejection = WebSocketRejection(status, self.headers, b"".join(body))
                        self._handshake_done.set()
                else:
                    raise RuntimeError(f"unexpected ASGI message during the handshake: {kind!r}")
            elif kind == "websocket.send" and self._open:
                text = message.get("text")
                self._inbox_in.send_nowait(text if text is not None else message.get("bytes", b""))
            elif kind == _PING and self._open:
                await self._app_pinged(message)
            elif kind == "websocket.close" and self._open:
                self._open = False
                self.close_code = message.get("code", 1000)
                self.close_reason = message.get("reason") or ""
                self._app_closed.set()
                self._inbox_in.send_nowait(None)
                # The client answers with its own close frame; the app sees it as
                # websocket.disconnect with the same code.
                echo = {"type": "websocket.disconnect", "code": self.close_code}
                await self._to_app.send({**echo, "reason": self.close_reason})

    async def _app_pinged(self, message: Message) -> None:
        """The app sent a ping: check it as our server does, record it, answer it."""
        data = message.get("data", b"")
        if not self._control:
            raise RuntimeError(f"unexpected ASGI message {_PING!r}: the scope did not offer it")
        if not isinstance(data, bytes) or len(data) > _MAX_PING_BYTES:
            raise RuntimeError(f"invalid {_PING!r} data (bytes, at most 125): {data!r}")
        self.pings_sent.append(data)
        if self._auto_pong and self._control_events:
            await self._to_app.send({"type": _PONG, "data": data})


def _websocket_scope(
    path: str,
    subprotocols: Iterable[str],
    headers: Mapping[str, str] | None,
    offer: bool,
    control: bool = False,
) -> Message:
    target, _, query = path.partition("?")
    key = base64.b64encode(os.urandom(16))
    raw: dict[str, tuple[bytes, bytes]] = {
        name: (name.encode("ascii"), value)
        for name, value in (
            ("host", b"testserver"),
            ("connection", b"Upgrade"),
            ("upgrade", b"websocket"),
            ("sec-websocket-version", b"13"),
            ("sec-websocket-key", key),
        )
    }
    protocols = list(subprotocols)
    if protocols:
        raw["sec-websocket-protocol"] = (b"sec-websocket-protocol", ", ".join(protocols).encode())
    for name, value in (headers or {}).items():
        raw[name.lower()] = (name.lower().encode("latin-1"), value.encode("latin-1"))
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": urllib.parse.unquote(target),
        "raw_path": target.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": list(raw.values()),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "subprotocols": protocols,
        "extensions": {
            **({"websocket.http.response": {}} if offer else {}),
            **({_CONTROL_EXTENSION: {}} if control else {}),
        },
    }


@asynccontextmanager
async def websocket_connect(
    app: ASGIApp,
    path: str = "/",
    subprotocols: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    *,
    http_response_extension: bool = True,
    control: bool = False,
    auto_pong: bool = True,
    wait_seconds: float = 10.0,
) -> AsyncIterator[WebSocketSession]:
    """Open a websocket to ``app`` in-process through the ASGI ``websocket`` scope
    (asyncio and trio) and yield the session once the handshake is over, accepted or
    refused. ``headers`` add to or replace the handshake's (``Origin``...); the scope
    offers the ``websocket.http.response`` extension unless told not to. With
    ``control=True`` it also offers our server's ping extension and plays the server:
    the app's pings are recorded in ``session.pings_sent`` and, with ``auto_pong``,
    answered with a pong event; ``session.ping()``/``pong()`` send the client's.
    Every wait is bounded by ``wait_seconds``. On exit the client disconnects (code 1000) if
    still open, and an exception the app raised is re-raised."""
    scope = _websocket_scope(path, subprotocols, headers, http_response_extension, control)
    to_app, app_inbox = anyio.create_memory_object_stream[Message](16)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](math.inf)
    session = WebSocketSession(to_app, wait_seconds, control, auto_pong)
    errors: list[BaseException] = []

    async def receive() -> Message:
        # Like a server's queue: what has arrived is returned without yielding (the
        # handler's keepalive relies on it to tell a late pong from a queued one).
        try:
            return app_inbox.receive_nowait()
        except anyio.WouldBlock:
            pass
        except anyio.EndOfStream:
            return {"type": "websocket.disconnect", "code": 1006}
        try:
            return await app_inbox.receive()
        except anyio.EndOfStream:
            return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Message) -> None:
        if session._handshake_done.is_set() and not session._open:
            # ASGI 2.4: a send after the connection closed raises an OSError subclass.
            raise OSError("the websocket connection is closed")
        await app_outbox.send(message)

    async def run_app() -> None:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            errors.append(exc)
        finally:
            session._open = False
            app_inbox.close()
            app_outbox.close()
            session._app_done.set()

    async def pump() -> None:
        try:
            await session._pump(from_app, http_response_extension)
        except Exception as exc:
            errors.append(exc)
        finally:
            session._handshake_done.set()
            session._app_closed.set()
            session._inbox_in.send_nowait(None)

    inbox_in, inbox = session._inbox_in, session._inbox
    async with (
        to_app,
        app_inbox,
        app_outbox,
        from_app,
        inbox_in,
        inbox,
        anyio.create_task_group() as group,
    ):
        group.start_soon(run_app)
        group.start_soon(pump)
        with anyio.fail_after(wait_seconds):
            await to_app.send({"type": "websocket.connect"})
            await session._handshake_done.wait()
        try:
            yield session
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(wait_seconds):
                await session.close()
            group.cancel_scope.cancel()
    if errors:
        raise errors[0]
