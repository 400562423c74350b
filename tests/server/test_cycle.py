"""What the server does with the app's side of a request: responses, errors, ASGI 2.4 rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import WAIT, ServeFn
from tornadoish.server.cycle import ClientDisconnected
from tornadoish.types import ASGIApp, ASGIReceive, ASGISend, Message, Scope

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"


def replying(*messages: Message) -> ASGIApp:
    """An app that sends ``messages`` in order."""

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        for message in messages:
            await send(message)

    return app


def start(status: int = 200, headers: Any = ()) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes = b"", *, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def expect_error_log(caplog: pytest.LogCaptureFixture, text: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "expected an ERROR log"
    assert any(text in r.getMessage() for r in errors), [r.getMessage() for r in errors]
    caplog.clear()


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(start(99), id="status-99"),
        pytest.param(start(100), id="status-100"),
        pytest.param(start(101), id="status-101"),
        pytest.param(start(600), id="status-600"),
        pytest.param({"type": "http.response.start", "status": "200"}, id="status-str"),
        pytest.param({"type": "http.response.start", "status": True}, id="status-bool"),
        pytest.param(start(headers=[(b"x y", b"1")]), id="name-with-space"),
        pytest.param(start(headers=[(b"", b"1")]), id="empty-name"),
        pytest.param(start(headers=[(b"x", b"a\r\nSet-Cookie: evil")]), id="crlf-in-value"),
        pytest.param(start(headers=[(b"x", b"a\nb")]), id="lf-in-value"),
        pytest.param(start(headers=[(b"x", b"a\x00b")]), id="nul-in-value"),
        pytest.param(start(headers=[("x", "1")]), id="str-header"),
        pytest.param(start(headers=[(b"x",)]), id="not-a-pair"),
        pytest.param({"type": "http.response.start", "status": 200, "headers": b"x"}, id="bytes"),
        pytest.param(start(headers=[(b"content-length", b"x")]), id="bad-content-length"),
        pytest.param(
            start(headers=[(b"content-length", b"1"), (b"content-length", b"2")]),
            id="two-content-lengths",
        ),
        pytest.param(body(b"x"), id="body-before-start"),
        pytest.param({"type": "http.response.trailers"}, id="unknown-type"),
    ],
)
@pytest.mark.anyio
async def test_invalid_response_start_becomes_a_clean_500(
    message: Message, serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(replying(message, body(b"never")))
    reply, closed = await server.exchange(GET)
    assert reply.status == 500
    assert reply.body == b"500 Internal Server Error\n"
    assert closed
    expect_error_log(caplog, "exception in ASGI app")


@pytest.mark.parametrize(
    ("messages", "log"),
    [
        pytest.param([], "without completing", id="no-response"),
        pytest.param([start()], "without completing", id="start-only"),
        pytest.param(
            [start(headers=[(b"content-length", b"9")]), body(b"abc")], "in ASGI", id="cl"
        ),
        pytest.param(
            [start(headers=[(b"content-length", b"1")]), body(b"abc")], "in ASGI", id="cl2"
        ),
        pytest.param([start(), {"type": "http.response.body", "body": "s"}], "in ASGI", id="str"),
    ],
)
@pytest.mark.anyio
async def test_app_that_fails_before_writing_gets_a_500(
    messages: list[Message], log: str, serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(replying(*messages))
    reply, closed = await server.exchange(GET)
    assert reply.status == 500
    assert closed
    expect_error_log(caplog, log)


@pytest.mark.anyio
async def test_app_that_swallows_its_invalid_response_error_still_gets_a_500(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        try:
            await send(start(42))
        except RuntimeError:
            pass

    server = await serve(app)
    reply, closed = await server.exchange(GET)
    assert reply.status == 500
    assert closed
    expect_error_log(caplog, "without completing")


@pytest.mark.anyio
async def test_refused_body_is_answered_even_while_the_client_still_sends_it(
    serve: ServeFn,
) -> None:
    server = await serve(replying(start(), body(b"never")), limit_body_bytes=1000)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4000000\r\n\r\n")
    client.send(b"x" * 4_000_000)
    reply = await client.reply()
    assert reply.status == 413
    assert await client.closed()


@pytest.mark.anyio
async def test_exception_before_start_gets_500_and_is_logged_with_traceback(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        raise ValueError("boom")

    server = await serve(app)
    reply, closed = await server.exchange(GET)
    assert reply.status == 500
    assert closed
    assert b"boom" not in reply.body
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "tornadoish.server.error"
    assert record.exc_info is not None
    caplog.clear()


@pytest.mark.anyio
async def test_exception_after_body_bytes_closes_the_connection_mid_response(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send(start())
        await send(body(b"partial", more=True))
        raise ValueError("boom")

    server = await serve(app)
    client = await server.connect()
    client.send(GET)
    raw = await client.read_all()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"7\r\npartial\r\n")  # no terminating chunk: visibly truncated
    expect_error_log(caplog, "exception in ASGI app")


@pytest.mark.anyio
async def test_head_response_body_is_dropped_quietly(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(replying(start(), body(b"hello")))
    client = await server.connect()
    reply = await client.exchange(HEAD, method=b"HEAD")
    assert reply.status == 200
    assert reply.header(b"content-length") == b"5"
    assert await client.alive()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.anyio
async def test_body_on_a_bodyless_status_is_dropped_with_a_warning(
    status: int, serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(replying(start(status), body(b"hello")))
    client = await server.connect()
    reply = await client.exchange(GET)
    assert reply.status == status
    assert reply.header(b"content-length") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "dropped 5 body bytes" in warnings[0].getMessage()
    assert await client.alive()


@pytest.mark.anyio
async def test_single_body_gets_content_length_and_app_transfer_encoding_is_dropped(
    serve: ServeFn,
) -> None:
    app = replying(start(headers=[(b"Transfer-Encoding", b"chunked")]), body(b"hello"))
    server = await serve(app)
    reply, closed = await server.exchange(GET)
    assert reply.header(b"content-length") == b"5"
    assert reply.header(b"transfer-encoding") is None
    assert reply.body == b"hello"
    assert not closed


@pytest.mark.anyio
async def test_streamed_body_is_chunked_for_http_11(serve: ServeFn) -> None:
    app = replying(start(), body(b"a", more=True), body(b"", more=True), body(b"bc"))
    server = await serve(app)
    reply, closed = await server.exchange(GET)
    assert reply.header(b"transfer-encoding") == b"chunked"
    assert reply.body == b"abc"
    assert not closed


@pytest.mark.anyio
async def test_a_streamed_piece_reaches_the_client_while_the_app_still_waits(
    serve: ServeFn,
) -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send(start())
        await send(body(b"first", more=True))
        await release.wait()  # the piece must not wait for the next one
        await send(body(b"second"))

    server = await serve(app)
    client = await server.connect()
    client.send(GET)
    async with asyncio.timeout(WAIT):
        received = b""
        while not received.endswith(b"5\r\nfirst\r\n"):
            received += await client.reader.read(1024)
    release.set()
    async with asyncio.timeout(WAIT):
        while not received.endswith(b"0\r\n\r\n"):
            received += await client.reader.read(1024)
    assert b"6\r\nsecond\r\n" in received


@pytest.mark.parametrize("size", [5_000, 100_000])  # small pieces coalesce, big ones not
@pytest.mark.anyio
async def test_many_streamed_pieces_in_one_step_arrive_whole_and_in_order(
    size: int, serve: ServeFn
) -> None:
    pieces = [b"%05d" % i * (size // 5) for i in range(40)]  # past the coalescing bound

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send(start())
        for piece in pieces:
            await send(body(piece, more=True))
        await send(body())

    server = await serve(app)
    reply, closed = await server.exchange(GET)
    assert reply.body == b"".join(pieces)
    assert not closed


@pytest.mark.anyio
async def test_streamed_body_is_close_delimited_for_http_10(serve: ServeFn) -> None:
    app = replying(start(), body(b"a", more=True), body(b"bc"))
    server = await serve(app)
    client = await server.connect()
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    raw = await client.read_all()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert payload == b"abc"


@pytest.mark.anyio
async def test_head_response_of_unknown_length_keeps_an_http10_connection(
    serve: ServeFn,
) -> None:
    # Nothing follows a HEAD response's head, so its end needs no close.
    server = await serve(replying(start(), body(b"a", more=True), body(b"bc")))
    client = await server.connect()
    client.send(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    reply = await client.reply(method=b"HEAD")
    assert reply.body == b""
    assert reply.header(b"connection") == b"keep-alive"
    assert reply.header(b"content-length") is None
    assert await client.alive()


@pytest.mark.parametrize(
    ("request_head", "app_connection"),
    [
        pytest.param(GET, b"close", id="app-says-close"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"keep-alive",
            id="client-says-close-app-says-keep-alive",
        ),
    ],
)
@pytest.mark.anyio
async def test_a_closing_response_has_one_connection_close_header(
    request_head: bytes, app_connection: bytes, serve: ServeFn
) -> None:
    server = await serve(replying(start(headers=[(b"connection", app_connection)]), body(b"x")))
    client = await server.connect()
    reply = await client.exchange(request_head)
    assert [v for n, v in reply.headers if n.lower() == b"connection"] == [b"close"]
    assert await client.closed()


@pytest.mark.anyio
async def test_streamed_body_beyond_its_content_length_is_cut_off(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    app = replying(start(headers=[(b"content-length", b"3")]), body(b"ab", more=True), body(b"cd"))
    server = await serve(app)
    client = await server.connect()
    client.send(GET)
    raw = await client.read_all()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\nab")  # the head promised 3 bytes: visibly truncated
    expect_error_log(caplog, "exception in ASGI app")


@pytest.mark.parametrize(
    ("fields", "headers", "server_values", "has_date"),
    [
        ({}, [], [b"tornadoish"], True),
        ({}, [(b"Server", b"mine"), (b"Date", b"x")], [b"mine"], True),
        ({"server_header": False, "date_header": False}, [], [], False),
    ],
)
@pytest.mark.anyio
async def test_server_and_date_headers_are_added_unless_set_or_disabled(
    fields: dict[str, Any],
    headers: list[tuple[bytes, bytes]],
    server_values: list[bytes],
    has_date: bool,
    serve: ServeFn,
) -> None:
    server = await serve(replying(start(headers=headers), body(b"x")), **fields)
    reply, _ = await server.exchange(GET)
    assert [v for n, v in reply.headers if n.lower() == b"server"] == server_values
    assert reply.header_count(b"date") == (1 if has_date else 0)


@pytest.mark.anyio
async def test_pathsend_sends_the_file_with_its_length(serve: ServeFn, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    app = replying(start(), {"type": "http.response.pathsend", "path": str(path)})
    server = await serve(app)
    client = await server.connect()
    reply = await client.exchange(GET)
    assert reply.header(b"content-length") == str(len(data)).encode()
    assert reply.body == data
    head = await client.exchange(HEAD, method=b"HEAD")
    assert head.header(b"content-length") == str(len(data)).encode()
    assert await client.alive()


@pytest.mark.anyio
async def test_pathsend_with_a_wrong_content_length_gets_500(
    serve: ServeFn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello")
    app = replying(
        start(headers=[(b"content-length", b"3")]),
        {"type": "http.response.pathsend", "path": path},
    )
    server = await serve(app)
    reply, _ = await server.exchange(GET)
    assert reply.status == 500
    expect_error_log(caplog, "exception in ASGI app")


@pytest.mark.anyio
async def test_receive_after_the_response_waits_for_the_disconnect(serve: ServeFn) -> None:
    finished = asyncio.Event()
    got: list[Message] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send(start())
        await send(body(b"done"))
        got.append(await receive())
        finished.set()

    server = await serve(app)
    client = await server.connect()
    assert (await client.exchange(GET)).body == b"done"
    assert not finished.is_set()
    await client.reset()
    async with asyncio.timeout(WAIT):
        await finished.wait()
    assert got == [{"type": "http.disconnect"}]


@pytest.mark.anyio
async def test_send_after_disconnect_raises_client_disconnected_an_oserror(
    serve: ServeFn,
) -> None:
    errors: list[BaseException] = []
    done = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send(start())
        try:
            while True:
                await send(body(b"x" * 65536, more=True))
                await asyncio.sleep(0)
        except OSError as exc:
            errors.append(exc)
            done.set()

    server = await serve(app)
    client = await server.connect()
    client.send(GET)
    await client.reader.readuntil(b"\r\n\r\n")
    await client.reset()
    async with asyncio.timeout(WAIT):
        await done.wait()
    assert isinstance(errors[0], ClientDisconnected)
    assert isinstance(errors[0], OSError)


@pytest.mark.anyio
async def test_background_work_after_the_response_is_not_cancelled_by_keep_alive(
    serve: ServeFn,
) -> None:
    finished = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send(start())
        await send(body(scope["path"].encode()))
        if scope["path"] == "/1":
            await release.wait()
            finished.set()

    server = await serve(app)
    client = await server.connect()
    assert (await client.exchange(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")).body == b"/1"
    assert (await client.exchange(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")).body == b"/2"
    release.set()
    async with asyncio.timeout(WAIT):
        await finished.wait()


Builder = Callable[[], ASGIApp]


def starlette_app() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        data = await request.body()
        return JSONResponse({"len": len(data), "q": request.query_params.get("q")})

    async def stream(request: Request) -> StreamingResponse:
        async def parts() -> Any:
            for part in (b"a", b"b", b"c"):
                yield part

        return StreamingResponse(parts(), media_type="text/plain")

    async def background(request: Request) -> PlainTextResponse:
        async def noop() -> None:
            return None

        return PlainTextResponse("bg", background=BackgroundTask(noop))

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
            Route("/bg", background),
        ]
    )


@pytest.mark.anyio
async def test_a_starlette_app_is_served(serve: ServeFn) -> None:
    server = await serve(starlette_app())
    client = await server.connect()
    echo = await client.exchange(
        b"POST /echo?q=z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    assert echo.json() == {"len": 3, "q": "z"}
    stream = await client.exchange(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
    assert stream.body == b"abc"
    assert (await client.exchange(b"GET /bg HTTP/1.1\r\nHost: h\r\n\r\n")).body == b"bg"
    missing = await client.exchange(b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
    assert missing.status == 404
    assert await client.alive()
