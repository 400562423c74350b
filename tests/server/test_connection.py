"""Connection behaviour over real loopback sockets: keep-alive, pipelining, timers, limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server.conftest import WAIT, ServeFn, echo_app
from tornadoish.server.state import ServerState
from tornadoish.types import ASGIReceive, ASGISend, Scope

GET = b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n"


@pytest.mark.anyio
async def test_keep_alive_serves_many_requests_on_one_connection(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    for i in range(3):
        reply = await client.exchange(GET % i)
        assert reply.json()["path"] == f"/{i}"
    assert server.state.total_requests == 3
    assert len(server.protocols) == 1


@pytest.mark.anyio
async def test_http10_keep_alive_is_honoured_and_announced(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    for _ in range(2):
        reply = await client.exchange(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert reply.header(b"connection") == b"keep-alive"
        assert reply.header(b"content-length") is not None
        seen = reply.json()
        assert seen["http_version"] == "1.0"
        assert [n for n, _ in seen["headers"]] == ["connection"]
    plain = await client.exchange(b"GET / HTTP/1.0\r\n\r\n")
    assert plain.header(b"connection") == b"close"
    assert await client.closed()


@pytest.mark.anyio
async def test_http10_keep_alive_stream_of_unknown_length_is_close_delimited(
    serve: ServeFn,
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"bc"})

    server = await serve(app)
    client = await server.connect()
    client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    raw = await client.read_all()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nconnection: close" in head
    assert b"transfer-encoding" not in head.lower()
    assert payload == b"abc"


@pytest.mark.anyio
async def test_http10_client_never_gets_100_continue(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\nhi"
    )
    reply = await client.reply()
    assert reply.status == 200
    assert reply.json()["body"] == "hi"


@pytest.mark.anyio
async def test_pipelined_requests_are_answered_in_order_one_at_a_time(serve: ServeFn) -> None:
    log: list[str] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        log.append(f"start {scope['path']}")
        await asyncio.sleep(0.01 if scope["path"] == "/0" else 0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})
        log.append(f"end {scope['path']}")

    server = await serve(app)
    client = await server.connect()
    client.send(b"".join(GET % i for i in range(3)))
    bodies = [(await client.reply()).body for _ in range(3)]
    assert bodies == [b"/0", b"/1", b"/2"]
    assert log == ["start /0", "end /0", "start /1", "end /1", "start /2", "end /2"]


@pytest.mark.anyio
async def test_nothing_is_parsed_after_a_connection_close_request(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(
        b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: h\r\n\r\nGARBAGE\r\n\r\n"
    )
    reply = await client.reply()
    assert reply.json()["path"] == "/a"
    assert reply.header(b"connection") == b"close"
    assert await client.read_all() == b""
    assert server.state.total_requests == 1


@pytest.mark.anyio
async def test_a_bad_pipelined_request_is_answered_after_the_good_one(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(GET % 1 + b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert (await client.reply()).status == 200
    assert (await client.reply()).status == 400
    assert await client.closed()


@pytest.mark.anyio
async def test_request_cap_per_connection_closes_after_the_last_response(serve: ServeFn) -> None:
    server = await serve(echo_app, limit_requests_per_connection=2)
    client = await server.connect()
    first = await client.exchange(GET % 1)
    second = await client.exchange(GET % 2)
    assert first.header(b"connection") is None
    assert second.header(b"connection") == b"close"
    assert await client.closed()


@pytest.mark.anyio
async def test_pipelined_requests_beyond_the_cap_are_not_answered(serve: ServeFn) -> None:
    server = await serve(echo_app, limit_requests_per_connection=2)
    client = await server.connect()
    client.send(b"".join(GET % i for i in range(4)))
    assert [(await client.reply()).json()["path"] for _ in range(2)] == ["/0", "/1"]
    assert await client.read_all() == b""
    assert server.state.total_requests == 2


@pytest.mark.anyio
async def test_responses_during_server_shutdown_carry_connection_close(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    await client.exchange(GET % 1)
    server.state.shutting_down = True
    client.send(GET % 2)
    reply = await client.reply()
    assert reply.header(b"connection") == b"close"
    assert await client.closed()


@pytest.mark.anyio
async def test_half_closed_client_still_gets_its_response(serve: ServeFn) -> None:
    async def slow_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await asyncio.sleep(0.05)
        await echo_app(scope, receive, send)

    server = await serve(slow_app)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
    client.shut_wr()
    reply = await client.reply()
    assert reply.json()["body"] == "hi"
    assert await client.closed()


@pytest.mark.anyio
async def test_half_closed_client_gets_every_pipelined_response(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(GET % 1 + GET % 2)
    client.shut_wr()
    assert [(await client.reply()).json()["path"] for _ in range(2)] == ["/1", "/2"]
    assert await client.closed()


@pytest.mark.anyio
async def test_slowloris_head_is_cut_off_at_the_absolute_deadline_with_408(
    serve: ServeFn,
) -> None:
    server = await serve(echo_app, timeout_request_head=0.3)
    client = await server.connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    client.send(b"GET / HTTP/1.1\r\n")

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                client.send(b"X-Slow: 1\r\n")
                await client.writer.drain()
                await asyncio.sleep(0.02)

    trickler = asyncio.create_task(trickle())
    try:
        reply = await client.reply()
    finally:
        trickler.cancel()
        await asyncio.gather(trickler, return_exceptions=True)
    elapsed = loop.time() - started
    assert 0.25 < elapsed < 1.5
    assert reply.status == 408
    assert await client.closed()


@pytest.mark.anyio
async def test_silent_new_connection_is_closed_at_the_head_deadline(serve: ServeFn) -> None:
    server = await serve(echo_app, timeout_request_head=0.2)
    client = await server.connect()
    assert await client.read_all() == b""


@pytest.mark.anyio
async def test_idle_keep_alive_connection_is_closed_after_its_timeout(serve: ServeFn) -> None:
    server = await serve(echo_app, timeout_keep_alive=0.2)
    client = await server.connect()
    await client.exchange(GET % 1)
    started = asyncio.get_running_loop().time()
    assert await client.read_all() == b""
    assert asyncio.get_running_loop().time() - started < 1.5


@pytest.mark.anyio
async def test_keep_alive_timeout_counts_from_the_last_response(serve: ServeFn) -> None:
    server = await serve(echo_app, timeout_keep_alive=1.0)
    client = await server.connect()
    await client.exchange(GET % 1)
    await asyncio.sleep(0.6)
    await client.exchange(GET % 2)
    await asyncio.sleep(0.6)  # past the first response's deadline, not the second's
    assert await client.alive()


@pytest.mark.anyio
async def test_a_request_slower_than_the_keep_alive_timeout_is_not_cut_off(
    serve: ServeFn,
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["path"] == "/slow":
            await asyncio.sleep(0.5)
        await echo_app(scope, receive, send)

    server = await serve(app, timeout_keep_alive=0.2)
    client = await server.connect()
    await client.exchange(GET % 1)  # leaves a keep-alive deadline 0.2 s ahead
    reply = await client.exchange(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
    assert reply.json()["path"] == "/slow"
    assert await client.alive()


@pytest.mark.anyio
async def test_a_body_cut_short_by_the_clients_eof_gets_400(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    client.shut_wr()
    reply = await client.reply()
    assert reply.status == 400
    assert await client.closed()


@pytest.mark.anyio
async def test_a_new_head_after_keep_alive_gets_the_shorter_head_deadline(
    serve: ServeFn,
) -> None:
    server = await serve(echo_app, timeout_keep_alive=30, timeout_request_head=0.3)
    client = await server.connect()
    await client.exchange(GET % 1)
    started = asyncio.get_running_loop().time()
    client.send(b"GET / HTTP/1.1\r\n")
    reply = await client.reply()
    assert reply.status == 408
    assert asyncio.get_running_loop().time() - started < 5


@pytest.mark.anyio
async def test_body_silence_while_the_app_waits_gets_408_and_a_disconnect(
    serve: ServeFn,
) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect":
                return

    server = await serve(app, timeout_body=0.2)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    reply = await client.reply()
    assert reply.status == 408
    assert await client.closed()
    assert seen == ["http.request", "http.disconnect"]


@pytest.mark.anyio
async def test_body_timeout_measures_silence_not_total_upload_time(serve: ServeFn) -> None:
    server = await serve(echo_app, timeout_body=0.3)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n")
    for part in (b"a", b"b", b"c", b"d"):
        await asyncio.sleep(0.1)  # pacing the upload, each gap well inside the timeout
        client.send(part)
    reply = await client.reply()
    assert reply.json()["body"] == "abcd"


@pytest.mark.anyio
async def test_100_continue_is_sent_on_the_apps_first_receive(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    interim = await client.reply()
    assert interim.status == 100
    client.send(b"ok")
    reply = await client.reply()
    assert reply.json()["body"] == "ok"
    assert await client.alive()


@pytest.mark.anyio
async def test_app_answering_without_reading_never_triggers_100_continue(
    serve: ServeFn,
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 417, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    server = await serve(app)
    client = await server.connect()
    client.send(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999\r\nExpect: 100-continue\r\n\r\n"
    )
    reply = await client.reply()
    assert reply.status == 417
    assert reply.header(b"connection") == b"close"
    assert await client.closed()


async def early_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    """Answers at once, never reading the request body."""
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


@pytest.mark.anyio
async def test_early_response_drains_a_small_unread_body_and_keeps_alive(
    serve: ServeFn,
) -> None:
    server = await serve(early_app, limit_drain_bytes=1000)
    client = await server.connect()
    reply = await client.exchange(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n")
    assert reply.status == 201
    client.send(b"x" * 500)
    assert (await client.exchange(GET % 2)).body == b"/2"


@pytest.mark.anyio
async def test_early_response_closes_when_the_unread_body_exceeds_the_drain_limit(
    serve: ServeFn,
) -> None:
    server = await serve(early_app, limit_drain_bytes=1000)
    client = await server.connect()
    reply = await client.exchange(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n")
    assert reply.status == 201
    client.send(b"x" * 5000)
    assert await client.closed()


@pytest.mark.anyio
async def test_shutdown_closes_idle_connections_at_once(serve: ServeFn) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    await client.exchange(GET % 1)
    (protocol,) = server.protocols
    assert protocol.idle
    protocol.shutdown()
    assert await client.closed()


@pytest.mark.anyio
async def test_shutdown_lets_the_in_flight_response_finish_with_connection_close(
    serve: ServeFn,
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        entered.set()
        await release.wait()
        await echo_app(scope, receive, send)

    server = await serve(app)
    client = await server.connect()
    client.send(GET % 1)
    async with asyncio.timeout(WAIT):
        await entered.wait()
    (protocol,) = server.protocols
    assert not protocol.idle
    protocol.shutdown()
    release.set()
    reply = await client.reply()
    assert reply.status == 200
    assert reply.header(b"connection") == b"close"
    assert await client.closed()


@pytest.mark.anyio
async def test_scope_carries_asgi_version_state_root_path_and_addresses(
    serve: ServeFn,
) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        scopes.append(scope)
        scope["state"]["mutated"] = True
        await echo_app(scope, receive, send)

    state = ServerState(lifespan_state={"db": "x"})
    server = await serve(app, state=state, root_path="/mount")
    client = await server.connect()
    await client.exchange(GET % 1)
    (scope,) = scopes
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["state"] == {"db": "x", "mutated": True}
    assert state.lifespan_state == {"db": "x"}
    assert scope["root_path"] == "/mount"
    assert scope["path"] == "/mount/1"
    assert scope["raw_path"] == b"/mount/1"  # the full path, like `path`
    assert scope["scheme"] == "http"
    assert scope["extensions"] == {"http.response.pathsend": {}}
    assert scope["server"] == ("127.0.0.1", server.port)
    assert scope["client"] == client.writer.get_extra_info("sockname")


@pytest.mark.anyio
async def test_unix_socket_scope_has_the_path_as_server_and_no_client(
    serve: ServeFn, tmp_path: Path
) -> None:
    path = str(tmp_path / "s.sock")
    server = await serve(echo_app, unix_path=path)
    client = await server.connect()
    seen = (await client.exchange(GET % 1)).json()
    assert seen["server"] == [path, None]
    assert seen["client"] is None


@pytest.mark.parametrize(
    ("allowed", "client", "scheme"),
    [
        (("127.0.0.1",), ["203.0.113.9", 0], "https"),
        (("*",), ["203.0.113.9", 0], "https"),
        (("10.0.0.1",), None, "http"),
    ],
)
@pytest.mark.anyio
async def test_forwarded_headers_are_honoured_only_from_trusted_proxies(
    allowed: tuple[str, ...], client: list[object] | None, scheme: str, serve: ServeFn
) -> None:
    server = await serve(echo_app, proxy_headers=True, forwarded_allow_ips=allowed)
    connection = await server.connect()
    seen = (
        await connection.exchange(
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 203.0.113.9\r\n"
            b"X-Forwarded-Proto: https\r\n\r\n"
        )
    ).json()
    assert seen["scheme"] == scheme
    if client is None:
        assert seen["client"][0] == "127.0.0.1"
    else:
        assert seen["client"] == client


@pytest.mark.anyio
async def test_access_log_has_client_request_line_and_status(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(echo_app)
    client = await server.connect()
    await client.exchange(b"GET /p?q=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    records = [r for r in caplog.records if r.name == "tornadoish.server.access"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    port = client.writer.get_extra_info("sockname")[1]
    assert records[0].getMessage() == f'127.0.0.1:{port} - "GET /p?q=1 HTTP/1.1" 200'


@pytest.mark.anyio
async def test_access_log_can_be_turned_off(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(echo_app, access_log=False)
    client = await server.connect()
    await client.exchange(GET % 1)
    assert not [r for r in caplog.records if r.name == "tornadoish.server.access"]


@pytest.mark.anyio
async def test_client_disconnect_leaves_no_log_noise(
    serve: ServeFn, caplog: pytest.LogCaptureFixture
) -> None:
    entered = asyncio.Event()
    outcome: list[object] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        entered.set()
        outcome.append((await receive())["type"])
        outcome.append((await receive())["type"])
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        except OSError as exc:
            outcome.append(type(exc).__name__)
            raise

    server = await serve(app)
    client = await server.connect()
    client.send(GET % 1)
    async with asyncio.timeout(WAIT):
        await entered.wait()
    await client.reset()
    async with asyncio.timeout(WAIT):
        await server.all_lost.wait()
        await asyncio.gather(*server.protocols[0].tasks, return_exceptions=True)
    assert outcome == ["http.request", "http.disconnect", "ClientDisconnected"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.anyio
async def test_an_httpx_client_gets_keep_alive_streams_and_uploads(serve: ServeFn) -> None:
    import httpx

    server = await serve(echo_app)

    async def upload() -> AsyncIterator[bytes]:
        for part in (b"ab", b"cd"):
            yield part

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        first = await client.get("/a?x=1")
        streamed = await client.post("/b", content=upload())
        expect = await client.post("/c", content=b"x" * 10_000, headers={"Expect": "100-continue"})
    assert first.json()["query"] == "x=1"
    assert streamed.json()["body"] == "abcd"
    assert any(h == ["transfer-encoding", "chunked"] for h in streamed.json()["headers"])
    assert len(expect.json()["body"]) == 10_000
    assert len(server.protocols) == 1


@pytest.mark.anyio
async def test_a_client_that_stops_reading_stalls_the_app_not_memory(serve: ServeFn) -> None:
    chunk = b"x" * 65536
    total = 8 * 1024 * 1024
    finished = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(total // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        finished.set()

    server = await serve(app)
    client = await server.connect()
    client.send(GET % 1)
    (protocol,) = server.protocols
    async with asyncio.timeout(WAIT):
        await protocol.write_paused.wait()
    assert not finished.is_set()
    assert protocol.transport.get_write_buffer_size() < 1024 * 1024
    reply = await client.reply()
    assert len(reply.body) == total
    assert finished.is_set()


@pytest.mark.anyio
async def test_tls_connections_get_https_scope_and_files_without_sendfile(
    serve: ServeFn, certificate: tuple[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 2000
    path.write_bytes(data)

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["path"] == "/file":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.pathsend", "path": str(path)})
        else:
            await echo_app(scope, receive, send)

    server = await serve(app, tls=certificate)
    client = await server.connect()
    assert (await client.exchange(GET % 1)).json()["scheme"] == "https"
    assert (await client.exchange(b"GET /file HTTP/1.1\r\nHost: h\r\n\r\n")).body == data
    bad = await client.exchange(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
    assert bad.status == 400
    assert await client.closed()


@pytest.mark.anyio
async def test_unix_socket_peers_are_trusted_proxies(serve: ServeFn, tmp_path: Path) -> None:
    server = await serve(echo_app, unix_path=str(tmp_path / "p.sock"), proxy_headers=True)
    client = await server.connect()
    seen = (
        await client.exchange(
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.51.100.7\r\n"
            b"X-Forwarded-Proto: https\r\n\r\n"
        )
    ).json()
    assert seen["client"] == ["198.51.100.7", 0]
    assert seen["scheme"] == "https"


@pytest.mark.anyio
async def test_client_eof_after_the_body_tells_a_waiting_app_it_left(serve: ServeFn) -> None:
    # A long poll waits for http.disconnect after reading the body; a client that
    # closes (or half-closes) its side must not leave it waiting for ever. The
    # response can still be written (half-close).
    told: list[dict[str, object]] = []

    async def long_poll(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()  # the (empty) body
        told.append(dict(await receive()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    server = await serve(long_poll)
    client = await server.connect()
    client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    client.writer.write_eof()
    reply = await asyncio.wait_for(client.reader.read(), WAIT)
    assert told == [{"type": "http.disconnect"}]
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"late")


@pytest.mark.anyio
async def test_request_body_reaches_the_app_as_bytes(serve: ServeFn) -> None:
    # ASGI: `body` is bytes; h11 hands out bytearray slices.
    kinds: list[type] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        message = await receive()
        kinds.append(type(message["body"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = await serve(app)
    client = await server.connect()
    reply = await client.exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert kinds == [bytes]
    assert reply.status == 204
