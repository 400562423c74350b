"""HTTP/1.1 conformance of the server over real loopback sockets: raw bytes in, status out."""

from __future__ import annotations

import pytest

from tests.server.conftest import ServeFn, echo_app

# Small limits so that each one is easy to cross.
LIMITS = {
    "limit_head_bytes": 2048,
    "limit_header_count": 20,
    "limit_uri_bytes": 256,
    "limit_body_bytes": 1000,
}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b"GET /\r\n\r\n", 400, id="request-line-without-version"),
        pytest.param(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="double-space-in-line"),
        pytest.param(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="method-not-a-token"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, id="tls-hello"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing-host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="host-with-space"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="host-with-slash"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, id="host-with-userinfo"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400, id="host-bad-port"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, id="space-in-name"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, id="nul-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, id="obs-fold"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400, id="empty-header-name"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", 400, id="space-before-colon"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", 400, id="vt-in-value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, id="bare-cr-in-value"),
        pytest.param(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="non-ascii-target"),
        pytest.param(b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, id="space-after-version"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT x\r\n\r\n",
            400,
            id="bad-trailer",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 5\r\n\r\n0\r\n\r\n",
            400,
            id="te-and-cl",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            id="cl-and-te",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400, id="cl-not-digits"
        ),
        pytest.param(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, id="cl-neg"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            id="cl-conflicting",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab",
            400,
            id="cl-list-conflicting",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            id="chunk-size-not-hex",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"11111111111111111\r\n",
            400,
            id="chunk-size-too-long",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
            400,
            id="chunk-without-crlf",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;a\rb\r\nabc\r\n0\r\n\r\n",
            400,
            id="cr-in-chunk-extension",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \n\r\nabc\r\n",
            400,
            id="lf-in-chunk-line",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400,
            id="te-final-not-chunked",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
            id="te-gzip-only",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            400,
            id="te-chunked-twice",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400, id="te-empty"
        ),
        pytest.param(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            id="te-in-http-1.0",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            id="te-gzip-then-chunked",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            501,
            id="te-gzip-then-chunked-two-lines",
        ),
        pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http-2.0"),
        pytest.param(b"GET / HTTP/10.0\r\nHost: a\r\n\r\n", 505, id="http-10.0"),
        pytest.param(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, id="http-0.9"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 25 + b"\r\n", 431, id="hdrs"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 3000 + b"\r\n\r\n", 431, id="head-bytes"
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 3000, 431, id="head-bytes-incomplete"
        ),
        pytest.param(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="uri"),
        pytest.param(b"GET /" + b"a" * 400, 414, id="uri-incomplete"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413, id="cl-over-limit"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            413,
            id="cl-huge",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n"
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n0\r\n\r\n",
            413,
            id="chunked-over-limit",
        ),
    ],
)
@pytest.mark.anyio
async def test_bad_requests_get_an_error_status_and_close(
    raw: bytes, status: int, serve: ServeFn
) -> None:
    server = await serve(echo_app, **LIMITS)
    reply, closed = await server.exchange(raw)
    assert reply.status == status
    assert reply.header(b"connection") == b"close"
    assert reply.header(b"content-type") == b"text/plain; charset=utf-8"
    assert reply.body.startswith(str(status).encode())
    assert closed


@pytest.mark.parametrize(
    ("raw", "path", "query", "host", "closed"),
    [
        pytest.param(b"GET /p?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/p", "q=1", "h", False, id="1.1"),
        pytest.param(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "/", "", "h", False, id="crlf"),
        pytest.param(b"GET / HTTP/1.0\r\n\r\n", "/", "", None, True, id="1.0-closes"),
        pytest.param(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "/",
            "",
            None,
            False,
            id="1.0-keep-alive",
        ),
        pytest.param(
            b"GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n",
            "/",
            "",
            "h",
            False,
            id="1.0-keep-alive-with-host",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            "/",
            "",
            "h",
            True,
            id="connection-close",
        ),
        pytest.param(
            b"GET http://example.com:8080/a%20b?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
            "/a b",
            "x=1",
            "example.com:8080",
            False,
            id="absolute-form",
        ),
        pytest.param(
            b"GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "/",
            "",
            "example.com",
            False,
            id="absolute-form-no-path",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\n\r\n", "/", "", "[::1]:8000", False, id="ipv6"
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "/", "", "", False, id="empty-host"),
        pytest.param(
            # An upgrade the server does not do (websocket ones: test_websocket.py).
            b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
            b"Connection: Upgrade, HTTP2-Settings\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            "/ws",
            "",
            "h",
            False,
            id="upgrade-served-as-http",
        ),
        pytest.param(b"GET / HTTP/1.1\nHost: h\n\n", "/", "", "h", False, id="bare-lf-line-ends"),
    ],
)
@pytest.mark.anyio
async def test_good_requests_reach_the_app(
    raw: bytes, path: str, query: str, host: str | None, closed: bool, serve: ServeFn
) -> None:
    server = await serve(echo_app)
    reply, was_closed = await server.exchange(raw)
    assert reply.status == 200
    seen = reply.json()
    assert (seen["path"], seen["query"]) == (path, query)
    hosts = [v for n, v in seen["headers"] if n == "host"]
    assert hosts == ([] if host is None else [host])
    assert was_closed is closed


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "hello", id="cl"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
            "hello world",
            id="chunked-with-extension-and-trailer",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
            "",
            id="chunked-empty",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000,
            "x" * 1000,
            id="cl-at-limit",
        ),
    ],
)
@pytest.mark.anyio
async def test_request_bodies_reach_the_app(raw: bytes, body: str, serve: ServeFn) -> None:
    server = await serve(echo_app, **LIMITS)
    reply, closed = await server.exchange(raw)
    assert reply.status == 200
    assert reply.json()["body"] == body
    assert not closed


@pytest.mark.anyio
async def test_chunked_body_split_byte_by_byte_is_reassembled(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    for i in range(len(raw)):
        client.send(raw[i : i + 1])
        await client.writer.drain()
    reply = await client.reply()
    assert reply.json()["body"] == "hello"


# An upgrade the server does not do (a websocket one is answered by the server).
UPGRADE = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"


@pytest.mark.parametrize(
    ("after", "statuses", "closed"),
    [
        pytest.param(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n", [200, 200], False, id="request"),
        pytest.param(b"\x81\x85\x00\x00\x00\x00hello", [200, 400], True, id="ws-frame"),
    ],
)
@pytest.mark.anyio
async def test_bytes_after_an_unanswered_upgrade_are_parsed_as_requests(
    after: bytes, statuses: list[int], closed: bool, serve: ServeFn
) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(UPGRADE + after)
    assert [(await client.reply()).status for _ in statuses] == statuses
    assert (not await client.alive()) is closed
