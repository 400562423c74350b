"""HTTPProtocol driven through a fake transport: writes, flow control, timers, teardown."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.server.conftest import WAIT, FakeTransport, echo_app, make_protocol
from tornadoish.server.protocol import HTTPProtocol
from tornadoish.types import ASGIReceive, ASGISend, Message, Scope

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


async def settle(protocol: HTTPProtocol) -> None:
    """Wait (bounded) until every request task of ``protocol`` is done."""
    async with asyncio.timeout(WAIT):
        while protocol.tasks:
            await asyncio.gather(*protocol.tasks, return_exceptions=True)


async def hello(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.mark.anyio
async def test_complete_response_is_written_in_one_transport_write() -> None:
    protocol, transport = make_protocol(hello)
    protocol.data_received(GET)
    await settle(protocol)
    (write,) = transport.writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b"\r\n\r\nhello")
    assert not transport.closed


@pytest.mark.anyio
async def test_send_waits_while_the_transport_has_paused_writing() -> None:
    sent: list[int] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            sent.append(i)
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = make_protocol(app)
    protocol.pause_writing()
    protocol.data_received(GET)
    for _ in range(5):
        await asyncio.sleep(0)
    assert sent == []
    assert transport.writes == []
    protocol.resume_writing()
    await settle(protocol)
    assert sent == [0, 1, 2]
    assert transport.data.endswith(b"0\r\n\r\n")


@pytest.mark.anyio
async def test_reading_pauses_while_unread_body_exceeds_the_buffer_limit() -> None:
    release = asyncio.Event()
    got_body = asyncio.Event()
    received: list[int] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await release.wait()
        message = await receive()
        received.append(len(message["body"]))
        got_body.set()
        await hello(scope, receive, send)

    protocol, transport = make_protocol(app, limit_buffered_bytes=1000)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n")
    protocol.data_received(b"x" * 600)
    assert transport.is_reading()
    protocol.data_received(b"x" * 600)
    assert not transport.is_reading()
    release.set()
    async with asyncio.timeout(WAIT):
        await got_body.wait()
    assert received == [1200]
    assert transport.is_reading()
    protocol.data_received(b"x" * 1800)
    await settle(protocol)
    assert transport.data.endswith(b"hello")


@pytest.mark.anyio
async def test_pipelined_bytes_are_buffered_only_up_to_the_limit() -> None:
    release = asyncio.Event()
    all_seen = asyncio.Event()
    paths: list[str] = []

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        paths.append(scope["path"])
        if len(paths) == 5:
            all_seen.set()
        if scope["path"] == "/0":
            await release.wait()
        await hello(scope, receive, send)

    protocol, transport = make_protocol(app, limit_buffered_bytes=100)
    protocol.data_received(b"GET /0 HTTP/1.1\r\nHost: h\r\n\r\n")
    await asyncio.sleep(0)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
    assert transport.is_reading()
    protocol.data_received(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
    assert not transport.is_reading()
    assert paths == ["/0"]
    release.set()
    async with asyncio.timeout(WAIT):
        await all_seen.wait()
    await settle(protocol)
    assert paths == ["/0", "/1", "/1", "/2", "/2"]
    assert transport.is_reading()
    assert transport.data.count(b"hello") == 5


@pytest.mark.anyio
async def test_connection_lost_cancels_every_timer() -> None:
    waiting = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["path"] == "/wait":
            waiting.set()
            await receive()
        await hello(scope, receive, send)

    protocol, _ = make_protocol(app)
    timers = protocol.timers
    deadlines = [timers.idle_deadline]
    idle_timer = timers.idle
    assert idle_timer is not None
    protocol.data_received(GET)
    await settle(protocol)
    deadlines.append(timers.idle_deadline)
    protocol.data_received(b"POST /wait HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")
    deadlines.append(timers.idle_deadline)
    assert deadlines == ["head", "keep-alive", None]
    async with asyncio.timeout(WAIT):
        await waiting.wait()
    await asyncio.sleep(0)
    body_timer = timers.body
    assert body_timer is not None
    protocol.connection_lost(ConnectionResetError())
    assert body_timer.cancelled()
    assert idle_timer.cancelled()
    assert timers.idle is None
    assert timers.body is None
    await settle(protocol)


@pytest.mark.anyio
async def test_connection_lost_gives_the_app_a_disconnect_then_cancels_it() -> None:
    messages: list[Message] = []
    cancelled = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        messages.append(await receive())
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    protocol, _ = make_protocol(app)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")
    await asyncio.sleep(0)
    protocol.connection_lost(None)
    async with asyncio.timeout(WAIT):
        await cancelled.wait()
    assert messages == [{"type": "http.disconnect"}]
    await settle(protocol)


@pytest.mark.anyio
async def test_protocol_is_registered_in_server_state_while_connected() -> None:
    protocol, transport = make_protocol(hello)
    assert protocol in protocol.state.connections
    assert protocol.idle
    transport.close()
    await asyncio.sleep(0)
    assert protocol not in protocol.state.connections


@pytest.mark.anyio
async def test_each_request_counts_in_total_requests() -> None:
    third = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await hello(scope, receive, send)
        if scope["path"] == "/3":
            third.set()

    protocol, _ = make_protocol(app)
    protocol.data_received(b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in (1, 2, 3)))
    async with asyncio.timeout(WAIT):
        await third.wait()
    await settle(protocol)
    assert protocol.state.total_requests == 3


@pytest.mark.anyio
async def test_eof_keeps_the_transport_open_only_while_a_request_is_in_flight() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await release.wait()
        await hello(scope, receive, send)

    idle, _ = make_protocol(app)
    assert idle.eof_received() is False
    busy, transport = make_protocol(app)
    busy.data_received(GET)
    assert busy.eof_received() is True
    release.set()
    await settle(busy)
    assert transport.data.endswith(b"hello")
    assert transport.closed


@pytest.mark.anyio
async def test_pathsend_without_sendfile_reads_the_file_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = b"0123456789" * 100_000
    path.write_bytes(data)

    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    protocol, transport = make_protocol(app)
    protocol.data_received(GET)
    await settle(protocol)
    head, _, payload = transport.data.partition(b"\r\n\r\n")
    assert b"content-length: 1000000" in head
    assert payload == data


@pytest.mark.anyio
async def test_tls_transport_gives_https_scheme() -> None:
    transport = FakeTransport()
    transport.extra["ssl_object"] = object()
    protocol, _ = make_protocol(echo_app, transport=transport)
    protocol.data_received(GET)
    await settle(protocol)
    assert b'"scheme": "https"' in transport.data


@pytest.mark.anyio
async def test_shutdown_before_a_request_closes_the_idle_connection() -> None:
    protocol, transport = make_protocol(hello)
    protocol.shutdown()
    assert transport.closed
    await asyncio.sleep(0)
    assert protocol not in protocol.state.connections


@pytest.mark.anyio
async def test_bytes_after_an_error_are_ignored() -> None:
    protocol, transport = make_protocol(hello)
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert transport.closed
    protocol.data_received(GET)
    assert transport.data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert transport.data.count(b"HTTP/1.1") == 1
    await asyncio.sleep(0)


@pytest.mark.anyio
async def test_error_response_lingers_discarding_input_until_the_client_closes() -> None:
    transport = FakeTransport()
    transport.half_close = True
    protocol, _ = make_protocol(hello, transport=transport)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999\r\n\r\n")
    assert transport.data.startswith(b"HTTP/1.1 413 ")
    assert transport.eof_written
    assert not transport.is_closing()
    assert transport.is_reading()
    protocol.data_received(b"x" * 100_000)
    assert transport.data.count(b"HTTP/1.1") == 1
    linger_timer = protocol.timers.linger
    assert linger_timer is not None
    assert protocol.eof_received() is False
    assert transport.is_closing()
    assert linger_timer.cancelled()
    await asyncio.sleep(0)
    assert protocol not in protocol.state.connections


FRAGMENTS = [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    b"\r\n",
    b"GET http://a/b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    b"\x81\x85\x00\x00\x00\x00hello",
]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.anyio
async def test_mangled_byte_streams_never_break_the_protocol(seed: int) -> None:
    rng = random.Random(seed)
    stream = bytearray(b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 6))))
    for _ in range(rng.randint(0, 4)):
        stream[rng.randrange(len(stream))] = rng.choice(b"\r\n :;\x00\x7fAz09-")
    protocol, transport = make_protocol(echo_app, limit_head_bytes=512, limit_body_bytes=64)
    transport.half_close = rng.random() < 0.5
    pos = 0
    while pos < len(stream) and not transport.is_closing():
        step = rng.randint(1, 40)
        protocol.data_received(bytes(stream[pos : pos + step]))
        pos += step
        await asyncio.sleep(0)
    if not transport.is_closing():
        protocol.eof_received()
    await settle(protocol)
    for raw in transport.data.split(b"HTTP/1.1 ")[1:]:
        assert raw[:3].isdigit()
    if not transport.is_closing():
        transport.close()
    await asyncio.sleep(0)
    assert protocol not in protocol.state.connections


@pytest.mark.anyio
async def test_eof_after_pipelined_requests_still_answers_all_of_them() -> None:
    protocol, transport = make_protocol(echo_app)
    protocol.data_received(GET + GET.replace(b"/ ", b"/2 "))
    assert protocol.eof_received() is True
    await settle(protocol)
    assert transport.data.count(b"HTTP/1.1 200 OK") == 2
    assert b'"path": "/2"' in transport.data
    assert transport.is_closing()


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.anyio
async def test_valid_pipelined_streams_in_any_split_get_every_answer(seed: int) -> None:
    rng = random.Random(seed)
    valid = [f for f in FRAGMENTS if f.startswith((b"GET", b"POST", b"HEAD", b"PUT"))]
    requests = [rng.choice(valid) for _ in range(rng.randint(1, 8))]
    if b"Connection: close" in b"".join(requests):
        requests = requests[: next(i for i, r in enumerate(requests) if b"close" in r) + 1]
    stream = b"".join(requests)
    protocol, transport = make_protocol(echo_app)
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 50)
        protocol.data_received(stream[pos : pos + step])
        pos += step
        await asyncio.sleep(0)
    protocol.eof_received()
    await settle(protocol)
    statuses = [int(raw[:3]) for raw in transport.data.split(b"HTTP/1.1 ")[1:]]
    assert [s for s in statuses if s != 100] == [200] * len(requests)
    assert transport.is_closing()


@pytest.mark.anyio
async def test_eof_after_bytes_held_behind_an_upgrade_request_is_delivered_after_them() -> None:
    protocol, transport = make_protocol(echo_app)
    protocol.data_received(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    assert protocol.eof_received() is True
    await settle(protocol)
    assert transport.data.count(b"HTTP/1.1 200 OK") == 2
    assert b'"path": "/next"' in transport.data
    assert transport.is_closing()
