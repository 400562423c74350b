"""WebSockets on our server over real loopback sockets: the ``websockets`` client library,
and raw bytes where a client must misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

import tornadoish.server.websocket as server_websocket
from tests.server.conftest import WAIT, Client, FakeTransport, ServeFn, Server, make_protocol
from tornadoish import Application
from tornadoish.server.config import ServerConfig
from tornadoish.server.runner import start_server
from tornadoish.types import ASGIReceive, ASGISend, Message, Scope
from tornadoish.websocket import WebSocketHandler

pytestmark = pytest.mark.anyio

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
HANDSHAKE = (
    b"GET /raw HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@dataclasses.dataclass
class Seen:
    """What an app saw: its scope, its disconnect message, when it ended."""

    scope: Scope | None = None
    disconnect: Message | None = None
    send_error: BaseException | None = None
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.ended.wait()


def echo(seen: Seen | None = None) -> Any:
    """An app that accepts (the first offered subprotocol) and echoes every message."""
    seen = seen or Seen()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        seen.scope = scope
        try:
            assert (await receive())["type"] == "websocket.connect"
            offered = scope["subprotocols"]
            await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    seen.disconnect = message
                    return
                if message.get("text") == "close please":
                    await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
                    continue
                reply = {k: v for k, v in message.items() if k in ("text", "bytes")}
                await send({"type": "websocket.send", **reply})
        finally:
            seen.ended.set()

    return app


def ws(server: Server, path: str = "/", **options: Any) -> connect:
    options.setdefault("ping_interval", None)
    return connect(
        f"ws://127.0.0.1:{server.port}{path}", open_timeout=WAIT, close_timeout=WAIT, **options
    )


async def recv(client: ClientConnection) -> str | bytes:
    async with asyncio.timeout(WAIT):
        return await client.recv()


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame (masked with a zero key, so the payload reads as is)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    return head + b"\0\0\0\0" + payload


async def read_frame(client: Client) -> tuple[int, bytes]:
    """One server frame: (opcode, payload)."""
    async with asyncio.timeout(WAIT):
        first, second = await client.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await client.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await client.reader.readexactly(8))
        return first & 0x0F, await client.reader.readexactly(size)


async def raw_upgrade(server: Server, extra: bytes = b"") -> Client:
    client = await server.connect()
    client.send(HANDSHAKE + extra)
    reply = await client.reply()
    assert reply.status == 101
    assert reply.header(b"sec-websocket-accept") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    return client


# -- messages --------------------------------------------------------------------------


async def test_text_and_binary_messages_are_echoed(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    async with ws(server, "/chat?room=1") as client:
        await client.send("héllo")
        assert await recv(client) == "héllo"
        await client.send(b"\x00\xffbin")
        assert await recv(client) == b"\x00\xffbin"
        await client.send("")
        assert await recv(client) == ""
    await seen.wait()
    assert seen.scope is not None
    assert (seen.scope["path"], seen.scope["query_string"]) == ("/chat", b"room=1")
    assert seen.disconnect == {"type": "websocket.disconnect", "code": 1000, "reason": ""}


async def test_fragmented_messages_are_reassembled(serve: ServeFn) -> None:
    server = await serve(echo())
    async with ws(server) as client:
        await client.send(iter(["frag", "ment", "é" * 3000]))
        assert await recv(client) == "fragment" + "é" * 3000
        await client.send(iter([b"a" * 70000, b"", b"b"]))
        assert await recv(client) == b"a" * 70000 + b"b"


async def test_bytes_sent_right_behind_the_handshake_are_the_first_frame(serve: ServeFn) -> None:
    server = await serve(echo())
    client = await raw_upgrade(server, masked(0x1, b"early"))
    assert await read_frame(client) == (0x1, b"early")


async def test_a_handshake_trickling_in_byte_by_byte_is_upgraded(serve: ServeFn) -> None:
    server = await serve(echo())
    client = await server.connect()
    for i in range(len(HANDSHAKE)):
        client.send(HANDSHAKE[i : i + 1])
        await client.writer.drain()
    assert (await client.reply()).status == 101
    client.send(masked(0x2, b"ok"))
    assert await read_frame(client) == (0x2, b"ok")


async def test_a_handshake_pipelined_behind_a_request_is_upgraded_after_it(
    serve: ServeFn,
) -> None:
    plain = echo()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "websocket":
            await plain(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first"})

    server = await serve(app)
    client = await server.connect()
    client.send(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n" + HANDSHAKE + masked(0x1, b"then"))
    assert (await client.reply()).body == b"first"
    assert (await client.reply()).status == 101
    assert await read_frame(client) == (0x1, b"then")


async def test_a_message_over_the_size_limit_closes_with_1009(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen), ws_max_message_size=1000)
    async with ws(server) as client:
        await client.send("x" * 1000)
        assert await recv(client) == "x" * 1000
        await client.send("é" * 501)  # 1002 bytes of UTF-8
        with pytest.raises(ConnectionClosed) as closed:
            await recv(client)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    await seen.wait()
    assert seen.disconnect is not None
    assert seen.disconnect["code"] == 1009


async def test_the_size_limit_applies_across_fragments(serve: ServeFn) -> None:
    server = await serve(echo(), ws_max_message_size=1000)
    async with ws(server) as client:
        await client.send(iter([b"x" * 600, b"x" * 600]))
        with pytest.raises(ConnectionClosed) as closed:
            await recv(client)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_the_size_limit_holds_for_compressed_messages(serve: ServeFn) -> None:
    server = await serve(echo(), ws_max_message_size=100_000)
    async with ws(server, max_size=None) as client:
        await client.send("a" * 100_000)  # a few hundred bytes on the wire
        assert await recv(client) == "a" * 100_000
        await client.send("a" * 10_000_000)
        with pytest.raises(ConnectionClosed) as closed:
            await recv(client)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


async def test_permessage_deflate_is_negotiated_when_offered(serve: ServeFn) -> None:
    server = await serve(echo())
    async with ws(server) as client:
        assert client.response is not None
        offer = client.response.headers["Sec-WebSocket-Extensions"]
        assert offer.startswith("permessage-deflate")
        await client.send("compress me " * 1000)
        assert await recv(client) == "compress me " * 1000


async def test_permessage_deflate_can_be_turned_off(serve: ServeFn) -> None:
    server = await serve(echo(), ws_per_message_deflate=False)
    async with ws(server) as client:
        assert client.response is not None
        assert "Sec-WebSocket-Extensions" not in client.response.headers
        await client.send("plain")
        assert await recv(client) == "plain"


async def test_subprotocol_chosen_by_the_app_is_answered(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    async with ws(server, subprotocols=["graphql-ws", "chat"]) as client:
        assert client.subprotocol == "graphql-ws"
    assert seen.scope is not None
    assert seen.scope["subprotocols"] == ["graphql-ws", "chat"]


async def test_the_upgrade_is_access_logged(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(echo())
    with caplog.at_level(logging.INFO, "tornadoish.server.access"):
        async with ws(server, "/chat?x=1") as client:
            await client.send("hi")
            await recv(client)
    lines = [r.getMessage() for r in caplog.records if r.name == "tornadoish.server.access"]
    assert len(lines) == 1
    assert lines[0].startswith("127.0.0.1:")
    assert lines[0].endswith(' - "GET /chat?x=1 HTTP/1.1" 101')
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []


# -- ping, pong, keepalive -------------------------------------------------------------


async def test_a_client_ping_gets_a_pong(serve: ServeFn) -> None:
    server = await serve(echo())
    async with ws(server) as client:
        pong = await client.ping(b"are you there")
        async with asyncio.timeout(WAIT):
            await pong


async def test_keepalive_pings_close_a_peer_that_never_answers(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen), ws_ping_interval=0.05, ws_ping_timeout=0.1)
    client = await raw_upgrade(server)
    opcode, _ = await read_frame(client)
    assert opcode == 0x9
    while opcode == 0x9:
        opcode, payload = await read_frame(client)
    assert opcode == 0x8
    assert struct.unpack("!H", payload[:2]) == (1011,)
    assert await client.closed()
    await seen.wait()
    assert seen.disconnect is not None
    assert seen.disconnect["code"] == 1006


async def test_keepalive_pings_keep_a_live_peer(serve: ServeFn) -> None:
    server = await serve(echo(), ws_ping_interval=0.02, ws_ping_timeout=0.5)
    client = await raw_upgrade(server)
    for _ in range(3):
        opcode, payload = await read_frame(client)
        assert opcode == 0x9
        client.send(masked(0xA, payload))
    client.send(masked(0x1, b"still here"))
    while (frame := await read_frame(client))[0] == 0x9:
        client.send(masked(0xA, frame[1]))
    assert frame == (0x1, b"still here")


# -- closing ---------------------------------------------------------------------------


async def test_app_close_sends_its_code_and_reason(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    async with ws(server) as client:
        await client.send("close please")
        with pytest.raises(ConnectionClosed) as closed:
            await recv(client)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye")
    await seen.wait()
    assert seen.disconnect == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}


async def test_client_close_reaches_the_app_with_code_and_reason(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    async with ws(server) as client:
        await client.close(4002, "client bye")
    await seen.wait()
    assert seen.disconnect == {"type": "websocket.disconnect", "code": 4002, "reason": "client bye"}


async def test_a_vanished_client_is_a_1006_disconnect(serve: ServeFn) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    client = await raw_upgrade(server)
    await client.reset()
    await seen.wait()
    assert seen.disconnect is not None
    assert seen.disconnect["code"] == 1006


async def test_send_after_the_close_raises_an_oserror(serve: ServeFn) -> None:
    seen = Seen()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.disconnect = await receive()
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            seen.send_error = exc
        # A close after the close changes nothing.
        await send({"type": "websocket.close"})
        seen.ended.set()

    server = await serve(app)
    async with ws(server) as client:
        await client.close()
    await seen.wait()
    assert isinstance(seen.send_error, OSError)


async def test_app_returning_closes_with_1000(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "bye"})

    server = await serve(app)
    async with ws(server) as client:
        assert await recv(client) == "bye"
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
        assert client.close_code == 1000


async def test_app_exception_after_accept_closes_with_1011(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise RuntimeError("boom")

    server = await serve(app)
    async with ws(server) as client:
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
        assert client.close_code == 1011
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "exception in ASGI app for websocket GET / HTTP/1.1"
    ]
    caplog.clear()


async def test_eof_behind_the_first_frames_reaches_the_app_after_them(serve: ServeFn) -> None:
    got: list[Message] = []
    done = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        got.extend([await receive(), await receive()])
        done.set()

    server = await serve(app)
    client = await server.connect()
    client.send(HANDSHAKE + masked(0x1, b"last words"))
    client.shut_wr()
    async with asyncio.timeout(WAIT):
        await done.wait()
    assert got == [
        {"type": "websocket.receive", "text": "last words"},
        {"type": "websocket.disconnect", "code": 1006, "reason": ""},
    ]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "a", "bytes": b"a"},
        {"type": "websocket.send"},
        {"type": "websocket.send", "text": b"not str"},
        {"type": "websocket.close", "code": 1006},
        {"type": "websocket.accept"},
        {"type": "http.response.start", "status": 200},
        {"type": "tornadoish.websocket.ping", "data": b"x" * 126},  # RFC 6455 §5.5
        {"type": "tornadoish.websocket.ping", "data": "not bytes"},
    ],
)
async def test_an_invalid_message_after_accept_closes_with_1011(
    message: Message, serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send(message)

    server = await serve(app)
    async with ws(server) as client:
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
        assert client.close_code == 1011
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "exception in ASGI app for websocket GET / HTTP/1.1"
    ]
    caplog.clear()


async def test_a_data_message_before_accept_is_a_500(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server):
            pass
    assert refused.value.response.status_code == 500
    assert any(r.levelno >= logging.ERROR for r in caplog.records)
    caplog.clear()


async def test_an_app_that_ignores_the_disconnect_is_cancelled(
    serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_websocket, "APP_EXIT_GRACE", 0.05)
    seen = Seen()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.ended.set()
            raise

    server = await serve(app)
    client = await raw_upgrade(server)
    await client.close()
    await seen.wait()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(b"\x83\x80\0\0\0\0", 1002, id="reserved-opcode"),
        pytest.param(b"\x81\x02hi", 1002, id="unmasked"),
        pytest.param(masked(0x1, b"\xff\xfe"), 1007, id="invalid-utf8"),
        pytest.param(masked(0x0, b"orphan"), 1002, id="continuation-first"),
    ],
)
async def test_protocol_errors_fail_the_connection_with_their_code(
    frame: bytes, code: int, serve: ServeFn
) -> None:
    seen = Seen()
    server = await serve(echo(seen))
    client = await raw_upgrade(server)
    client.send(frame)
    opcode, payload = await read_frame(client)
    assert (opcode, struct.unpack("!H", payload[:2])) == (0x8, (code,))
    assert await client.closed()
    await seen.wait()
    assert seen.disconnect is not None
    assert seen.disconnect["code"] == code


async def test_a_peer_that_never_answers_our_close_is_disconnected(
    serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_websocket, "CLOSE_TIMEOUT", 0.05)
    seen = Seen()
    server = await serve(echo(seen))
    client = await raw_upgrade(server)
    client.send(masked(0x1, b"close please"))
    opcode, payload = await read_frame(client)
    assert (opcode, payload) == (0x8, struct.pack("!H", 4001) + b"bye")
    assert await client.closed()
    await seen.wait()
    assert seen.disconnect is not None
    assert seen.disconnect["code"] == 1006


class _WatchedTransport(FakeTransport):
    """A fake transport that reports each write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        self.written.set()

    async def wait_for(self, needle: bytes) -> None:
        async with asyncio.timeout(WAIT):
            while needle not in self.data:
                self.written.clear()
                await self.written.wait()


@pytest.mark.parametrize("closing", [False, True])
async def test_connection_lost_cancels_every_websocket_timer(closing: bool) -> None:
    transport = _WatchedTransport()
    protocol, _ = make_protocol(
        echo(),
        transport=transport,
        ws_ping_interval=0.01,
        ws_ping_timeout=10.0,
        ws_per_message_deflate=False,
    )
    protocol.data_received(HANDSHAKE)
    await transport.wait_for(b"\x89\x01")  # a ping: ping and pong timers are armed
    session = protocol.websocket
    assert session is not None
    handles = [session._ping_timer, session._pong_timer]
    if closing:
        protocol.data_received(masked(0x1, b"close please"))
        await transport.wait_for(b"\x88")  # the app closed: the close timer is armed
        handles = [session._close_timer]
    assert handles
    assert all(handle is not None for handle in handles)
    transport.close()
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*protocol.tasks)
    assert all(handle is not None and handle.cancelled() for handle in handles)
    assert (session._ping_timer, session._pong_timer, session._close_timer) == (None, None, None)


async def test_a_handshake_pending_at_shutdown_is_closed_with_1012_once_accepted(
    serve: ServeFn,
) -> None:
    connected, accept = asyncio.Event(), asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        connected.set()
        await accept.wait()
        await send({"type": "websocket.accept"})
        await receive()

    server = await serve(app)
    client = await server.connect()
    client.send(HANDSHAKE)
    async with asyncio.timeout(WAIT):
        await connected.wait()
    server.protocols[0].shutdown()
    accept.set()
    assert (await client.reply()).status == 101
    opcode, payload = await read_frame(client)
    assert (opcode, struct.unpack("!H", payload[:2])) == (0x8, (1012,))


async def test_tls_gives_the_wss_scheme(serve: ServeFn, certificate: tuple[str, str]) -> None:
    seen = Seen()
    server = await serve(echo(seen), tls=certificate)
    url = f"wss://127.0.0.1:{server.port}/"
    async with connect(url, ssl=server.client_ssl, open_timeout=WAIT) as client:
        await client.send("secret")
        assert await recv(client) == "secret"
    assert seen.scope is not None
    assert seen.scope["scheme"] == "wss"


# -- refusing the handshake ------------------------------------------------------------


async def test_close_before_accept_is_a_403(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.close"})

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server):
            pass
    assert refused.value.response.status_code == 403


async def test_returning_without_accept_is_a_403(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server):
            pass
    assert refused.value.response.status_code == 403


async def test_websocket_http_response_refuses_with_any_response(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        headers = [(b"content-type", b"text/plain"), (b"x-why", b"tea")]
        start = {"type": "websocket.http.response.start", "status": 418, "headers": headers}
        await send(start)
        await send({"type": "websocket.http.response.body", "body": b"I'm", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b" a teapot"})

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server):
            pass
    response = refused.value.response
    assert (response.status_code, response.body) == (418, b"I'm a teapot")
    assert response.headers["X-Why"] == "tea"


async def test_a_refused_handshake_leaves_the_connection_usable(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain"})

    server = await serve(app)
    client = await server.connect()
    client.send(HANDSHAKE + b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (await client.reply()).status == 403
    assert (await client.reply()).body == b"plain"


async def test_exception_before_accept_is_a_500(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        raise ValueError("no")

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server):
            pass
    assert refused.value.response.status_code == 500
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "exception in ASGI app for websocket GET / HTTP/1.1"
    ]
    caplog.clear()


async def test_accepting_a_subprotocol_not_offered_is_a_500(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "never-offered"})

    server = await serve(app)
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server, subprotocols=["chat"]):
            pass
    assert refused.value.response.status_code == 500
    assert any("never-offered" in str(r.exc_info) for r in caplog.records if r.exc_info)
    caplog.clear()


def _head(*lines: bytes) -> bytes:
    return b"\r\n".join([*lines, b"", b""])


_UP = (b"Host: h", b"Upgrade: websocket", b"Connection: Upgrade")
_KEY = b"Sec-WebSocket-Key: " + KEY
_V13 = b"Sec-WebSocket-Version: 13"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(_head(b"GET / HTTP/1.1", *_UP, _V13), 400, id="no-key"),
        pytest.param(
            _head(b"GET / HTTP/1.1", *_UP, b"Sec-WebSocket-Key: abc", _V13), 400, id="bad-key"
        ),
        pytest.param(_head(b"POST / HTTP/1.1", *_UP, _KEY, _V13), 400, id="post"),
        pytest.param(
            _head(b"GET / HTTP/1.1", b"Host: h", b"Upgrade: websocket", _KEY, _V13),
            400,
            id="no-connection-upgrade",
        ),
        pytest.param(
            _head(b"GET / HTTP/1.1", *_UP, _KEY, _V13, b"Content-Length: 3") + b"abc",
            400,
            id="with-body",
        ),
        pytest.param(_head(b"GET / HTTP/1.1", *_UP, _KEY), 426, id="no-version"),
        pytest.param(
            _head(b"GET / HTTP/1.1", *_UP, _KEY, b"Sec-WebSocket-Version: 8"), 426, id="version-8"
        ),
    ],
)
async def test_invalid_handshakes_are_answered_by_the_server(
    raw: bytes, status: int, serve: ServeFn
) -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        called.append(scope)

    server = await serve(app)
    reply, closed = await server.exchange(raw)
    assert reply.status == status
    if status == 426:
        assert reply.header(b"sec-websocket-version") == b"13"
        assert reply.header(b"upgrade") == b"websocket"
    assert closed
    assert called == []


async def test_an_http10_upgrade_is_served_as_plain_http(serve: ServeFn) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        body = scope["type"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    server = await serve(app)
    reply, _ = await server.exchange(_head(b"GET / HTTP/1.0", *_UP, _KEY, _V13))
    assert (reply.status, reply.body) == (200, b"http")


# -- flow control ----------------------------------------------------------------------


async def test_reading_pauses_while_the_app_does_not_receive(
    serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    count, size, limit = 64, 16 * 1024, 64 * 1024
    release = asyncio.Event()
    received: list[int] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while len(received) < count:
            received.append(len((await receive())["bytes"]))
        await send({"type": "websocket.send", "text": "all read"})

    server = await serve(app, limit_buffered_bytes=limit)
    async with ws(server, compression=None) as client:
        (protocol,) = server.protocols
        transport = protocol.transport
        paused = asyncio.Event()
        pause_reading = transport.pause_reading

        def pause() -> None:
            paused.set()
            pause_reading()

        monkeypatch.setattr(transport, "pause_reading", pause)
        sender = asyncio.create_task(_send_all(client, count, size))
        async with asyncio.timeout(WAIT):
            await paused.wait()
        assert not transport.is_reading()
        session = protocol.websocket
        assert session is not None
        # The limit, overshot by at most one socket read (256 KiB in asyncio).
        assert limit <= session.queued_bytes <= limit + 256 * 1024 + size
        release.set()
        assert await recv(client) == "all read"
        await sender
    assert received == [size] * count


async def _send_all(client: ClientConnection, count: int, size: int) -> None:
    for _ in range(count):
        await client.send(b"x" * size)


async def test_send_waits_while_the_client_does_not_read(serve: ServeFn) -> None:
    count, size = 400, 64 * 1024
    sent: list[int] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(count):
            await send({"type": "websocket.send", "bytes": b"y" * size})
            sent.append(i)

    server = await serve(app)
    async with ws(server, compression=None, max_queue=1) as client:
        (protocol,) = server.protocols
        async with asyncio.timeout(WAIT):
            await protocol.write_paused.wait()
        # Had send() not waited, all 25 MiB would be in the buffer by now.
        assert protocol.transport.get_write_buffer_size() <= 2 * size + 1024
        assert len(sent) < count
        for _ in range(count):
            assert len(await recv(client)) == size


# -- many, shutdown, frameworks --------------------------------------------------------


async def test_a_hundred_concurrent_websockets(serve: ServeFn) -> None:
    server = await serve(echo())

    async def one(i: int) -> str | bytes:
        async with ws(server, f"/{i}") as client:
            await client.send(f"n{i}")
            return await recv(client)

    assert await asyncio.gather(*(one(i) for i in range(100))) == [f"n{i}" for i in range(100)]


@pytest.fixture
async def runner_server() -> AsyncIterator[tuple[Any, list[Seen]]]:
    seen: list[Seen] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        one = Seen()
        seen.append(one)
        await echo(one)(scope, receive, send)

    config = ServerConfig(host="127.0.0.1", port=0, lifespan="off", timeout_graceful_shutdown=WAIT)
    server = await start_server(app, config)
    try:
        yield server, seen
    finally:
        await server.close()


async def test_graceful_shutdown_closes_open_websockets_with_1012(
    runner_server: tuple[Any, list[Seen]],
) -> None:
    server, seen = runner_server
    url = f"ws://127.0.0.1:{server.port}/"
    clients = [await connect(url, ping_interval=None, open_timeout=WAIT) for _ in range(3)]
    for client in clients:
        await client.send("up")
        assert await recv(client) == "up"
    async with asyncio.timeout(WAIT):
        await server.close()
    for client in clients:
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
        assert client.close_code == 1012
    assert [one.disconnect["code"] for one in seen if one.disconnect] == [1012] * 3


async def test_a_starlette_websocket_route_is_served(serve: ServeFn) -> None:
    async def shout(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="shout")
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        data = await websocket.receive_bytes()
        await websocket.send_bytes(data[::-1])
        await websocket.close(code=4000, reason="done")

    server = await serve(Starlette(routes=[WebSocketRoute("/shout", shout)]))
    async with ws(server, "/shout", subprotocols=["shout"]) as client:
        assert client.subprotocol == "shout"
        await client.send("quiet")
        assert await recv(client) == "QUIET"
        await client.send(b"abc")
        assert await recv(client) == b"cba"
        async with asyncio.timeout(WAIT):
            await client.wait_closed()
        assert (client.close_code, client.close_reason) == (4000, "done")


class _Echo(WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


async def test_the_frameworks_websocket_handler_is_served(serve: ServeFn) -> None:
    server = await serve(Application([(r"/echo", _Echo)]))
    async with ws(server, "/echo") as client:
        await client.send("framework")
        assert await recv(client) == "framework"
        await client.send(b"\x01\x02")
        assert await recv(client) == b"\x01\x02"


async def test_the_frameworks_handler_refuses_cross_origin_handshakes(serve: ServeFn) -> None:
    server = await serve(Application([(r"/echo", _Echo)]))
    with pytest.raises(InvalidStatus) as refused:
        async with ws(server, "/echo", origin=Origin("http://evil.example")):
            pass
    assert refused.value.response.status_code == 403


# -- pings for the app: the private tornadoish.websocket.control extension -------------


async def test_an_app_that_opts_in_gets_pings_and_pongs_in_order_with_messages(
    serve: ServeFn,
) -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        assert scope["extensions"]["tornadoish.websocket.control"] == {}
        await receive()
        await send({"type": "websocket.accept", "tornadoish.control": True})
        while (message := await receive())["type"] != "websocket.disconnect":
            received.append(message)
            if message.get("text") == "ping me":
                await send({"type": "tornadoish.websocket.ping", "data": b"app"})
            else:
                await send({"type": "websocket.send", "text": repr(message)})

    server = await serve(app)
    async with ws(server) as client:
        await client.send("one")
        assert await recv(client) == repr({"type": "websocket.receive", "text": "one"})
        pong = await client.ping(b"client")
        async with asyncio.timeout(WAIT):
            await pong  # the server answered before telling the app
        ping_event = {"type": "tornadoish.websocket.ping", "data": b"client"}
        assert await recv(client) == repr(ping_event)
        await client.send("ping me")  # the client library answers the app's ping
        assert await recv(client) == repr({"type": "tornadoish.websocket.pong", "data": b"app"})
    assert [m["type"] for m in received] == [
        "websocket.receive",
        "tornadoish.websocket.ping",
        "websocket.receive",
        "tornadoish.websocket.pong",
    ]


async def test_ping_events_count_toward_the_buffered_bytes(
    serve: ServeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    count, limit = 20, 1024  # each empty ping counts 128 bytes: 2560 in all
    release = asyncio.Event()
    events: list[Message] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "websocket.accept", "tornadoish.control": True})
        await release.wait()
        while (message := await receive())["type"] == "tornadoish.websocket.ping":
            events.append(message)
        await send({"type": "websocket.send", "text": f"{len(events)} pings, then {message}"})

    server = await serve(app, limit_buffered_bytes=limit)
    client = await raw_upgrade(server)
    (protocol,) = server.protocols
    transport = protocol.transport
    paused = asyncio.Event()
    pause_reading = transport.pause_reading

    def pause() -> None:
        paused.set()
        pause_reading()

    monkeypatch.setattr(transport, "pause_reading", pause)
    client.send(masked(0x9, b"") * count)
    for _ in range(count):
        assert await read_frame(client) == (0xA, b"")  # answered, whatever the app does
    async with asyncio.timeout(WAIT):
        await paused.wait()
    session = protocol.websocket
    assert session is not None
    assert session.queued_bytes >= limit
    assert not transport.is_reading()
    release.set()
    client.send(masked(0x1, b"done"))
    opcode, payload = await read_frame(client)
    assert (opcode, payload.split(b",")[0]) == (0x1, b"20 pings")


async def test_apps_that_do_not_opt_in_never_see_ping_or_pong_events(serve: ServeFn) -> None:
    async def shout(websocket: WebSocket) -> None:
        await websocket.accept()
        # Starlette raises on any message type it does not know.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await websocket.receive_text()
                await websocket.send_text(text.upper())

    server = await serve(Starlette(routes=[WebSocketRoute("/shout", shout)]))
    async with ws(server, "/shout") as client:
        for word in ("one", "two"):
            pong = await client.ping(word.encode())
            async with asyncio.timeout(WAIT):
                await pong
            await client.send(word)
            assert await recv(client) == word.upper()


class _Pinger(WebSocketHandler):
    """Pings with the text of "ping ..." messages; reports pings and pongs."""

    def on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        self.ping(message.removeprefix("ping "))

    def on_ping(self, data: bytes) -> None:
        self.write_message(f"on_ping {data!r}")

    def on_pong(self, data: bytes) -> None:
        self.write_message(f"on_pong {data!r}")


async def test_the_frameworks_ping_reaches_the_client_and_its_pong_reaches_on_pong(
    serve: ServeFn,
) -> None:
    server = await serve(Application([(r"/ping", _Pinger)]))
    async with ws(server, "/ping") as client:
        await client.send("ping héllo")
        assert await recv(client) == "on_pong b'h\\xc3\\xa9llo'"


async def test_a_client_ping_reaches_on_ping(serve: ServeFn) -> None:
    server = await serve(Application([(r"/ping", _Pinger)]))
    async with ws(server, "/ping") as client:
        pong = await client.ping(b"are you there")
        async with asyncio.timeout(WAIT):
            await pong
        assert await recv(client) == "on_ping b'are you there'"


class _Quiet(WebSocketHandler):
    def initialize(self, closed: asyncio.Event) -> None:
        self.closed = closed

    def on_message(self, message: str | bytes) -> None:
        pass

    def on_close(self) -> None:
        self.closed.set()


async def test_websocket_ping_interval_closes_a_client_that_never_answers(serve: ServeFn) -> None:
    closed = asyncio.Event()
    app = Application([(r"/raw", _Quiet, {"closed": closed})], websocket_ping_interval=0.05)
    server = await serve(app)
    client = await raw_upgrade(server)
    assert await read_frame(client) == (0x9, b"")  # the handler's keepalive ping
    opcode, payload = await read_frame(client)
    assert (opcode, payload) == (0x8, struct.pack("!H", 1000) + b"ping timed out")
    client.send(masked(0x8, payload[:2]))  # complete the close handshake
    assert await client.closed()
    async with asyncio.timeout(WAIT):
        await closed.wait()
