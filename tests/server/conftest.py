"""Server tests run on asyncio only: the server is built on asyncio.Protocol.

Fixtures here serve an ASGI app with :class:`HTTPProtocol` on a loopback socket and talk
raw bytes to it (``serve``), or drive a protocol through a fake transport (``FakeTransport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.server.apps import ServerProcess
from tornadoish.server.config import ServerConfig
from tornadoish.server.protocol import HTTPProtocol
from tornadoish.server.state import ServerState
from tornadoish.types import ASGIApp, ASGIReceive, ASGISend, Scope

# Every network wait in these tests is bounded by this many seconds.
WAIT = 3.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class Reply:
    """One parsed HTTP response as seen on the wire."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n.lower() == name]
        return values[-1] if values else None

    def header_count(self, name: bytes) -> int:
        return sum(1 for n, _ in self.headers if n.lower() == name)

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A raw TCP client for one connection to the test server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def shut_wr(self) -> None:
        self.writer.write_eof()

    async def reply(self, *, method: bytes = b"GET") -> Reply:
        """Read one response (and any 1xx before it is returned as its own Reply)."""
        async with asyncio.timeout(WAIT):
            head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        _, status, reason = [*lines[0].split(b" ", 2), b""][:3]
        headers = [tuple(x.strip() for x in line.split(b":", 1)) for line in lines[1:]]
        reply = Reply(int(status), reason, [(h[0], h[1]) for h in headers], b"")
        if reply.status < 200 or reply.status in (204, 304) or method == b"HEAD":
            return reply
        length = reply.header(b"content-length")
        async with asyncio.timeout(WAIT):
            if length is not None:
                reply.body = await self.reader.readexactly(int(length))
            elif reply.header(b"transfer-encoding") == b"chunked":
                reply.body = await self._read_chunked()
            else:
                reply.body = await self.reader.read()
        return reply

    async def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return body
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    async def read_all(self) -> bytes:
        """Everything until the server closes (bounded)."""
        async with asyncio.timeout(WAIT):
            return await self.reader.read()

    async def closed(self, within: float = WAIT) -> bool:
        """True if the server closes the connection (EOF or reset) within ``within`` s."""
        try:
            async with asyncio.timeout(within):
                data = await self.reader.read(1)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        if data:
            raise AssertionError(f"unexpected bytes instead of EOF: {data!r}")
        return True

    async def alive(self) -> bool:
        """Whether the connection still serves requests: probe it with one more GET."""
        try:
            self.send(b"GET /probe HTTP/1.1\r\nHost: probe\r\n\r\n")
            await self.writer.drain()
            await self.reply()
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        return True

    async def reset(self) -> None:
        """Vanish the way a crashed client does: close with a TCP reset, not a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def exchange(self, data: bytes, *, method: bytes = b"GET") -> Reply:
        self.send(data)
        return await self.reply(method=method)


class Server:
    """A running test server: one loopback listener serving one app."""

    def __init__(self, config: ServerConfig, state: ServerState) -> None:
        self.config = config
        self.state = state
        self.protocols: list[_TrackedProtocol] = []
        self.clients: list[Client] = []
        self.port = 0
        self.unix_path: str | None = None
        self.client_ssl: ssl.SSLContext | None = None
        self.all_lost = asyncio.Event()
        self.all_lost.set()

    def lost(self) -> None:
        if all(p.lost for p in self.protocols):
            self.all_lost.set()

    async def connect(self) -> Client:
        if self.unix_path is not None:
            reader, writer = await asyncio.open_unix_connection(self.unix_path)
        else:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", self.port, ssl=self.client_ssl
            )
        client = Client(reader, writer)
        self.clients.append(client)
        return client

    async def exchange(self, data: bytes, *, method: bytes = b"GET") -> tuple[Reply, bool]:
        """Send ``data`` on a new connection; return the reply and whether it was closed."""
        client = await self.connect()
        reply = await client.exchange(data, method=method)
        return reply, not await client.alive()


ServeFn = Callable[..., Awaitable[Server]]


class _TrackedProtocol(HTTPProtocol):
    """Reports connection_lost to its test server, so teardown waits on an event."""

    server_record: Server
    lost = False

    def __init__(self, app: ASGIApp, config: ServerConfig, state: ServerState) -> None:
        super().__init__(app, config, state)
        # Set when the transport first asks us to stop writing (its buffer is full).
        self.write_paused = asyncio.Event()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_paused.set()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.lost = True
        self.server_record.lost()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (paths)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", key, "-out", cert),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture
async def serve() -> AsyncIterator[ServeFn]:
    """``await serve(app, **config_fields)`` starts a server; all is torn down after."""
    servers: list[tuple[asyncio.Server, Server]] = []

    async def start(
        app: ASGIApp,
        *,
        unix_path: str | None = None,
        state: ServerState | None = None,
        tls: tuple[str, str] | None = None,
        **fields: Any,
    ) -> Server:
        config = ServerConfig(**fields)
        server = Server(config, state or ServerState())

        def factory() -> HTTPProtocol:
            protocol = _TrackedProtocol(app, config, server.state)
            protocol.server_record = server
            server.protocols.append(protocol)
            server.all_lost.clear()
            return protocol

        loop = asyncio.get_running_loop()
        if unix_path is not None:
            listener = await loop.create_unix_server(factory, unix_path)
            server.unix_path = unix_path
        else:
            server_ssl = None
            if tls is not None:
                server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                server_ssl.load_cert_chain(*tls)
                server.client_ssl = ssl.create_default_context(cafile=tls[0])
            listener = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ssl)
            server.port = listener.sockets[0].getsockname()[1]
        servers.append((listener, server))
        return server

    yield start
    for listener, server in servers:
        listener.close()
        for client in server.clients:
            await client.close()
        for protocol in server.protocols:
            if not protocol.transport.is_closing():
                protocol.transport.abort()
        tasks = [task for p in server.protocols for task in p.tasks]
        # connection_lost runs on a later loop turn; then app tasks end or are cancelled.
        async with asyncio.timeout(WAIT):
            await server.all_lost.wait()
            if tasks:
                await asyncio.wait(tasks)


async def echo_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    """Reads the whole body; answers JSON describing the request."""
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
        "http_version": scope["http_version"],
        "scheme": scope["scheme"],
        "client": scope["client"],
        "server": scope["server"],
        "root_path": scope["root_path"],
    }
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})


class FakeTransport(asyncio.Transport):
    """Records what a protocol does to its transport; no sockets."""

    def __init__(self, *, peer: Any = ("10.1.2.3", 5555), sock: Any = ("127.0.0.1", 8000)) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.paused_reading = False
        self.pause_calls = 0
        self.extra: dict[str, Any] = {"peername": peer, "sockname": sock}
        self.protocol: asyncio.Protocol | None = None
        # Whether the transport can shut down its sending side (TCP yes, TLS no).
        self.half_close = False
        self.eof_written = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.protocol is not None:
                asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def can_write_eof(self) -> bool:
        return self.half_close

    def write_eof(self) -> None:
        assert self.half_close
        self.eof_written = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused_reading = True
        self.pause_calls += 1

    def resume_reading(self) -> None:
        self.paused_reading = False

    def is_reading(self) -> bool:
        return not self.paused_reading

    @property
    def data(self) -> bytes:
        return b"".join(self.writes)


def make_protocol(
    app: ASGIApp, *, transport: FakeTransport | None = None, **fields: Any
) -> tuple[HTTPProtocol, FakeTransport]:
    """A connected protocol on a fake transport (call inside a running loop)."""
    protocol = HTTPProtocol(app, ServerConfig(**fields), ServerState())
    fake = transport or FakeTransport()
    fake.protocol = protocol
    protocol.connection_made(fake)
    return protocol, fake


__all__ = [
    "WAIT",
    "Client",
    "FakeTransport",
    "Reply",
    "ServeFn",
    "Server",
    "echo_app",
    "make_protocol",
]


@pytest.fixture
def launch() -> Iterator[type[ServerProcess]]:
    """``launch(*args)`` starts ``python -m tornadoish``; every process is killed after."""
    started: list[ServerProcess] = []

    class Launched(ServerProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Launched
    for process in started:
        process.kill()
