"""WebSocketHandler over real sockets: the same handler on our own server, under uvicorn
(each websocket implementation) and hypercorn, driven by the ``websockets`` client library; and the
handshake refusals compared with Tornado's own WebSocketHandler on Tornado's server.

Asyncio only: the servers are asyncio programs run in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
import tornado.httpserver
import tornado.web
import tornado.websocket
import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.apps import client
from tests.servers import listening_socket, serving_on_a_socket
from tornadoish import Application
from tornadoish.testing import live_server, websocket_connect
from tornadoish.types import ASGIApp
from tornadoish.websocket import WebSocketHandler

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    # uvicorn's `--ws websockets` announces its own deprecation (and that of the
    # websockets library's legacy API it uses) on every connection.
    pytest.mark.filterwarnings("ignore::uvicorn.config.UvicornDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:remove second argument of ws_handler:DeprecationWarning"),
]

SERVERS = [
    "tornadoish",
    "uvicorn-websockets",
    "uvicorn-wsproto",
    "uvicorn-websockets-sansio",
    "hypercorn",
]
# The per-operation bound for client waits.
WAIT = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running(app: ASGIApp, server: str) -> AsyncIterator[str]:
    """Serve ``app`` with ``server`` on an ephemeral loopback port; yields the base
    ``ws://`` URL. The socket listens before the server starts, so clients may connect
    at once (the kernel queues them)."""
    if server == "tornadoish":
        async with live_server(app, lifespan="off") as ours:
            yield f"ws://127.0.0.1:{ours.port}"
        return
    stop: Callable[[], None]
    serve: Callable[[socket.socket], asyncio.Task[None]]
    if server.startswith("uvicorn-"):
        config = uvicorn.Config(
            app,
            ws=server.removeprefix("uvicorn-"),
            lifespan="off",
            log_config=None,
            access_log=False,
        )
        instance = uvicorn.Server(config)

        def serve(sock: socket.socket) -> asyncio.Task[None]:
            return asyncio.create_task(instance.serve(sockets=[sock]))

        def stop() -> None:
            instance.should_exit = True

    else:
        shutdown = asyncio.Event()

        def serve(sock: socket.socket) -> asyncio.Task[None]:
            hyper_config = HypercornConfig()
            hyper_config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn owns the dup
            hyper_config.accesslog = None
            return asyncio.create_task(
                hypercorn_serve(app, hyper_config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]  # hypercorn's own ASGI types
            )

        stop = shutdown.set
    async with serving_on_a_socket(serve, stop) as url:
        yield "ws://" + url.removeprefix("http://")


class Seen:
    def __init__(self) -> None:
        self.closes: list[tuple[int | None, str | None]] = []
        self.closed = anyio.Event()
        self.open_count = 0


class EchoHandler(WebSocketHandler):
    def initialize(self, seen: Seen) -> None:
        self.seen = seen

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "chat.v2" if "chat.v2" in subprotocols else None

    def open(self) -> None:
        self.seen.open_count += 1

    async def on_message(self, message: str | bytes) -> None:
        if message == "close":
            self.close(4000, "asked to")
        else:
            await self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.seen.closes.append((self.close_code, self.close_reason))
        self.seen.closed.set()


def make_app() -> tuple[Application, Seen]:
    seen = Seen()
    return Application([(r"/ws", EchoHandler, {"seen": seen})]), seen


@pytest.mark.parametrize("server", SERVERS)
async def test_text_and_binary_echo_and_the_selected_subprotocol(server: str) -> None:
    app, seen = make_app()
    async with running(app, server) as base:
        async with connect(f"{base}/ws", subprotocols=["chat.v1", "chat.v2"]) as ws:  # type: ignore[list-item]  # Subprotocol is a str NewType
            assert ws.subprotocol == "chat.v2"
            await ws.send("héllo")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo"
            await ws.send(b"\x00\x01binary")
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\x01binary"
        with anyio.fail_after(WAIT):
            await seen.closed.wait()
    assert seen.open_count == 1


@pytest.mark.parametrize("server", SERVERS)
async def test_a_cross_origin_handshake_gets_tornados_403(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, seen = make_app()
    async with running(app, server) as base:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{base}/ws", origin="http://evil.example"):  # type: ignore[arg-type]  # Origin is a str NewType
                pass
    # Every one of these servers offers websocket.http.response: the body gets through.
    assert refused.value.response.status_code == 403
    assert refused.value.response.body == b"Cross origin websockets not allowed"
    assert seen.open_count == 0
    if server == "uvicorn-websockets-sansio":
        # uvicorn 0.54's sans-I/O websockets forgets that an HTTP response answered the
        # handshake and logs a spurious error.
        assert "returned without completing handshake" in caplog.text
        caplog.clear()


# What the handler sees when the client closes with 4321: hypercorn 0.18 does not pass
# the client's close code on (its websocket.disconnect always says 1006); nor, after the
# server's close, the echoed code (1000).
CLIENT_CLOSE_SEEN = {"hypercorn": (1006, "")}
SERVER_CLOSE_SEEN = {"hypercorn": (1000, "")}


@pytest.mark.parametrize("server", SERVERS)
async def test_close_codes_travel_both_ways(server: str) -> None:
    app, seen = make_app()
    async with running(app, server) as base:
        async with connect(f"{base}/ws") as ws:
            await ws.close(4321, "client leaves")
        with anyio.fail_after(WAIT):
            await seen.closed.wait()
        seen.closed = anyio.Event()
        async with connect(f"{base}/ws") as ws:
            await ws.send("close")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WAIT)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "asked to")
        with anyio.fail_after(WAIT):
            await seen.closed.wait()
    assert seen.closes == [
        CLIENT_CLOSE_SEEN.get(server, (4321, "client leaves")),
        SERVER_CLOSE_SEEN.get(server, (4000, "asked to")),
    ]


@pytest.mark.parametrize("server", SERVERS)
async def test_fifty_concurrent_connections_each_get_their_own_echoes(server: str) -> None:
    app, seen = make_app()

    async def chat(base: str, index: int) -> list[str | bytes]:
        async with connect(f"{base}/ws") as ws:
            for round_ in range(5):
                await ws.send(f"{index}:{round_}")
            return [await asyncio.wait_for(ws.recv(), WAIT) for _ in range(5)]

    async with running(app, server) as base:
        with anyio.fail_after(20):
            replies = await asyncio.gather(*(chat(base, index) for index in range(50)))
    assert replies == [[f"{index}:{r}" for r in range(5)] for index in range(50)]
    assert seen.open_count == 50


# -- Tornado's own answers to refused handshakes -------------------------------------------


class TornadoEcho(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


_KEY = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
_UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade"), _KEY]


async def _tornado_answer(port: int, headers: list[tuple[str, str]]) -> tuple[int, str, bytes]:
    """Status, Sec-WebSocket-Version and body of Tornado's answer to a raw GET."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
        writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{lines}\r\n".encode())
        with anyio.fail_after(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
            fields = dict(
                line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if line
            )
            fields = {name.lower(): value for name, value in fields.items()}
            body = await reader.readexactly(int(fields.get("content-length", "0")))
    finally:
        writer.close()
    return int(head.split(b" ")[1]), fields.get("sec-websocket-version", ""), body


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 400),  # a plain GET
        ([("Upgrade", "websocket")], 400),  # no Connection: Upgrade
        ([*_UPGRADE, ("Sec-WebSocket-Version", "13"), ("Origin", "http://evil.example")], 403),
        ([*_UPGRADE, ("Sec-WebSocket-Version", "8")], 426),
    ],
)
async def test_refused_handshakes_get_the_same_answer_as_from_tornado(
    headers: list[tuple[str, str]], status: int
) -> None:
    sock = listening_socket()
    tornado_server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/ws", TornadoEcho)]))
    tornado_server.add_sockets([sock])
    try:
        expected = await _tornado_answer(sock.getsockname()[1], headers)
    finally:
        tornado_server.stop()
        await tornado_server.close_all_connections()
    assert expected[0] == status

    app, seen = make_app()
    as_dict = dict(headers)
    if as_dict.get("Upgrade") and as_dict.get("Connection"):
        # A complete upgrade: what an ASGI server hands over as a websocket scope.
        offered = {k: v for k, v in headers if k not in ("Upgrade", "Connection", _KEY[0])}
        async with websocket_connect(app, "/ws", headers=offered) as ws:
            assert ws.rejection is not None
            actual = (
                ws.rejection.status,
                ws.rejection.headers.get("Sec-WebSocket-Version", ""),
                ws.rejection.body,
            )
    else:
        async with client(app) as http:
            response = await http.get("/ws", headers=headers)
        actual = (
            response.status_code,
            response.headers.get("Sec-WebSocket-Version", ""),
            response.content,
        )
    assert actual == expected
    assert seen.open_count == 0
