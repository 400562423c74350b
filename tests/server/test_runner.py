"""The runner in-process: binding, serving, graceful shutdown, run() exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.server.apps import app, failing_startup_app
from tests.server.conftest import Client
from tornadoish.server.config import ServerConfig
from tornadoish.server.lifespan import LifespanError
from tornadoish.server.runner import (
    EXIT_OK,
    EXIT_STARTUP_FAILED,
    Server,
    bind_sockets,
    listen,
    run,
    serve,
    start_server,
)
from tornadoish.types import ASGIReceive, ASGISend, Scope

# Bound on every wait in this file: generous for a loaded CI machine, short enough
# that a hang fails fast.
WAIT = 5.0


class GatedApp:
    """Answers ``/gated`` only once ``release`` is set; ``/`` at once."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            raise ValueError("http only")
        if scope["path"] == "/gated":
            self.started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


@contextlib.asynccontextmanager
async def connect(server: Server) -> AsyncIterator[Client]:
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    client = Client(reader, writer)
    try:
        yield client
    finally:
        await client.close()


GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
GET_GATED = b"GET /gated HTTP/1.1\r\nHost: test\r\n\r\n"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    running = await start_server(app, ServerConfig(port=0))
    yield running
    await running.close()


# -- serving ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_start_server_on_port_0_serves_and_logs_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = await start_server(app, ServerConfig(port=0))
    try:
        assert running.port not in (None, 0)
        assert running.addresses == [("127.0.0.1", running.port)]
        assert running.urls == [f"http://127.0.0.1:{running.port}"]
        assert f"Serving on http://127.0.0.1:{running.port}" in caplog.messages
        async with httpx.AsyncClient() as client:
            response = await client.get(running.urls[0] + "/")
        assert (response.status_code, response.text) == (200, "hello")
    finally:
        await running.close()


@pytest.mark.anyio
async def test_lifespan_state_reaches_each_request(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.urls[0] + "/state")
    assert response.text == "started=yes\n"


@pytest.mark.anyio
async def test_serves_on_a_unix_socket_and_removes_it_after(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    running = await start_server(app, ServerConfig(uds=path))
    assert running.addresses == [path]
    assert running.port is None
    assert running.urls == [f"unix:{path}"]
    transport = httpx.AsyncHTTPTransport(uds=path)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://local/")
    assert response.text == "hello"
    await running.close()
    assert not await anyio.Path(path).exists()


@pytest.mark.anyio
async def test_a_stale_unix_socket_file_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound, never listening: what a crashed server leaves
    running = await start_server(app, ServerConfig(uds=path))
    await running.close()


def test_a_live_unix_socket_or_another_file_is_never_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        live.listen()
        with pytest.raises(OSError, match="another server is listening there"):
            bind_sockets(ServerConfig(uds=path))
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    with pytest.raises(OSError, match="not a socket"):
        bind_sockets(ServerConfig(uds=str(other)))
    assert other.read_text() == "keep me"


@pytest.mark.anyio
async def test_an_inherited_unix_socket_file_is_left_to_its_owner(tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    owner = socket.socket(socket.AF_UNIX)
    owner.bind(path)
    owner.listen()
    running = await start_server(app, ServerConfig(fd=os.dup(owner.fileno())))
    await running.close()
    assert await anyio.Path(path).exists()
    owner.close()


@pytest.mark.anyio
async def test_serves_an_inherited_listening_socket() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    running = await start_server(app, ServerConfig(fd=sock.detach()))
    try:
        assert running.port == port
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "hello"
    finally:
        await running.close()


def test_an_unusable_fd_is_one_clear_error() -> None:
    with pytest.raises(OSError, match="could not use file descriptor"):
        bind_sockets(ServerConfig(fd=987654))


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"could not bind to http://127.0.0.1:{port}: "):
            bind_sockets(ServerConfig(port=port))


def test_an_unknown_host_is_one_clear_error() -> None:
    with pytest.raises(OSError, match="could not resolve host"):
        bind_sockets(ServerConfig(host="no-such-host.invalid", port=0))


def test_all_interfaces_of_a_host_share_one_port() -> None:
    sockets = bind_sockets(ServerConfig(host="localhost", port=0))
    try:
        assert len({sock.getsockname()[1] for sock in sockets}) == 1
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.anyio
async def test_serves_tls_with_a_certificate(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    running = await start_server(app, ServerConfig(port=0, ssl_certfile=cert, ssl_keyfile=key))
    try:
        assert running.urls == [f"https://127.0.0.1:{running.port}"]
        context = ssl.create_default_context(cafile=cert)
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(running.urls[0] + "/")
        assert response.text == "hello"
    finally:
        await running.close()


def test_a_missing_certificate_is_one_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "missing.pem")
    config = ServerConfig(port=0, ssl_certfile=missing, ssl_keyfile=missing)
    assert run(app, config) == EXIT_STARTUP_FAILED
    assert caplog.messages[-1] == (
        "could not load the TLS certificate or key: No such file or directory"
    )
    caplog.clear()


# -- graceful shutdown -----------------------------------------------------------------


@pytest.mark.anyio
async def test_shutdown_closes_idle_connections_at_once_and_lets_in_flight_ones_finish() -> None:
    gated = GatedApp()
    config = ServerConfig(port=0, timeout_graceful_shutdown=WAIT * 2)
    running = await start_server(gated, config)
    async with connect(running) as idle, connect(running) as busy:
        assert (await idle.exchange(GET)).status == 200
        busy.send(GET_GATED)
        await asyncio.wait_for(gated.started.wait(), WAIT)

        closing = asyncio.create_task(running.close())
        assert await idle.closed()  # closed at once, not after the grace
        assert not closing.done()
        gated.release.set()
        reply = await busy.reply()
        assert (reply.status, reply.body, reply.header(b"connection")) == (200, b"done", b"close")
        assert await busy.closed()
        await asyncio.wait_for(closing, WAIT)
    assert running.state.shutting_down
    assert not gated.cancelled.is_set()


@pytest.mark.anyio
async def test_requests_still_running_after_the_grace_period_are_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gated = GatedApp()
    running = await start_server(gated, ServerConfig(port=0, timeout_graceful_shutdown=0.05))
    async with connect(running) as client:
        client.send(GET_GATED)
        await asyncio.wait_for(gated.started.wait(), WAIT)
        await asyncio.wait_for(running.close(), WAIT)
        await asyncio.wait_for(gated.cancelled.wait(), WAIT)
        assert await client.closed()
    assert "1 connection(s) still busy after 0.05 s; closing them" in caplog.messages


@pytest.mark.anyio
async def test_force_close_skips_the_grace_period_and_the_lifespan_shutdown(
    capfd: pytest.CaptureFixture[str],
) -> None:
    gated = GatedApp()

    async def both(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await (app if scope["type"] == "lifespan" else gated)(scope, receive, send)

    running = await start_server(both, ServerConfig(port=0, timeout_graceful_shutdown=60))
    async with connect(running) as client:
        client.send(GET_GATED)
        await asyncio.wait_for(gated.started.wait(), WAIT)
        running.stop()
        running.force_close()
        await asyncio.wait_for(running.wait_closed(), WAIT)
        await asyncio.wait_for(gated.cancelled.wait(), WAIT)
    assert running.forced
    assert "lifespan shutdown" not in capfd.readouterr().err


@pytest.mark.anyio
async def test_close_is_idempotent_and_stop_from_another_thread_works(server: Server) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.wait_for(server.wait_closed(), WAIT)
    await server.close()


def test_stop_before_start_is_an_error() -> None:
    server = Server(app, ServerConfig(), [])
    with pytest.raises(RuntimeError, match="never started"):
        server.stop()


@pytest.mark.anyio
async def test_a_failed_lifespan_shutdown_is_raised_by_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bad_shutdown(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "cache not flushed"})

    running = await start_server(bad_shutdown, ServerConfig(port=0))
    with pytest.raises(LifespanError, match="cache not flushed"):
        await running.close()
    assert "application shutdown failed: cache not flushed" in caplog.messages
    caplog.clear()


# -- serve() and run() -----------------------------------------------------------------


@pytest.mark.anyio
async def test_serve_runs_until_stopped_and_restores_signal_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[Server] = []

    def ready(server: Server) -> None:
        seen.append(server)
        server.stop()

    await asyncio.wait_for(serve(app, ServerConfig(port=0), ready=ready), WAIT)
    assert seen[0].state.shutting_down
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.anyio
async def test_serve_shuts_down_gracefully_on_sigterm(caplog: pytest.LogCaptureFixture) -> None:
    def ready(server: Server) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    await asyncio.wait_for(serve(app, ServerConfig(port=0), ready=ready), WAIT)
    assert "Shutting down on SIGTERM (send it again to force)" in caplog.messages


@pytest.mark.anyio
async def test_a_second_signal_forces_the_exit(caplog: pytest.LogCaptureFixture) -> None:
    gated = GatedApp()
    config = ServerConfig(port=0, timeout_graceful_shutdown=60, lifespan="off")
    done = asyncio.Event()

    async def client(server: Server) -> None:
        async with connect(server) as connection:
            connection.send(GET_GATED)
            await asyncio.wait_for(gated.started.wait(), WAIT)
            with logged("Shutting down on SIGINT") as shutting_down:
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.wait_for(shutting_down.wait(), WAIT)
            os.kill(os.getpid(), signal.SIGINT)
            await connection.closed()
        done.set()

    tasks: set[asyncio.Task[None]] = set()
    await asyncio.wait_for(
        serve(gated, config, ready=lambda server: tasks.add(asyncio.create_task(client(server)))),
        WAIT,
    )
    await asyncio.wait_for(done.wait(), WAIT)
    assert "Forced exit on a second SIGINT" in caplog.messages


@contextlib.contextmanager
def logged(text: str) -> Iterator[asyncio.Event]:
    """An event set when the server logs a message containing ``text``."""
    event = asyncio.Event()
    handler = _OnLog(text, event.set)
    error_log = logging.getLogger("tornadoish.server.error")
    error_log.addHandler(handler)
    try:
        yield event
    finally:
        error_log.removeHandler(handler)


class _OnLog(logging.Handler):
    """Calls ``action`` when a logged message contains ``text``."""

    def __init__(self, text: str, action: Callable[[], None]) -> None:
        super().__init__()
        self.text = text
        self.action = action

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.action()


def test_run_returns_0_after_a_graceful_shutdown() -> None:
    handler = _OnLog("Serving on", lambda: os.kill(os.getpid(), signal.SIGTERM))
    error_log = logging.getLogger("tornadoish.server.error")
    error_log.addHandler(handler)
    try:
        assert run(app, ServerConfig(port=0, loop="asyncio")) == EXIT_OK
    finally:
        error_log.removeHandler(handler)


def test_run_reports_a_startup_failure_as_exit_code_3(caplog: pytest.LogCaptureFixture) -> None:
    assert run(failing_startup_app, ServerConfig(port=0)) == EXIT_STARTUP_FAILED
    assert caplog.messages[-1] == "application startup failed: no database"
    caplog.clear()


def test_run_reports_a_port_in_use_as_exit_code_3(caplog: pytest.LogCaptureFixture) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert run(app, ServerConfig(port=port)) == EXIT_STARTUP_FAILED
    assert caplog.messages[-1].startswith(f"could not bind to http://127.0.0.1:{port}")
    caplog.clear()


def test_run_refuses_workers_without_an_import_string() -> None:
    with pytest.raises(ValueError, match="import string"):
        run(app, ServerConfig(workers=2))


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is not None, reason="uvloop installed")
def test_run_with_uvloop_asked_for_but_missing_is_one_clear_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run(app, ServerConfig(port=0, loop="uvloop")) == EXIT_STARTUP_FAILED
    assert "uvloop is not installed" in caplog.messages[-1]
    caplog.clear()


@pytest.mark.anyio
async def test_listen_inside_a_running_loop_returns_a_bound_server_at_once() -> None:
    running = listen(app, ServerConfig(port=0))
    assert running.port not in (None, 0)  # bound before any await
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{running.port}/state")
    assert response.text == "started=yes\n"
    await running.close()


@pytest.mark.anyio
async def test_listen_inside_a_loop_logs_a_failed_startup(caplog: pytest.LogCaptureFixture) -> None:
    running = listen(failing_startup_app, ServerConfig(port=0))
    await asyncio.wait_for(running.wait_closed(), WAIT)
    assert "the server could not start: application startup failed: no database" in caplog.text
    caplog.clear()


# -- edges -------------------------------------------------------------------------------


def test_a_failed_lifespan_shutdown_makes_run_exit_1(caplog: pytest.LogCaptureFixture) -> None:
    async def bad_shutdown(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "lifespan":
            return
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "cache not flushed"})

    handler = _OnLog("Serving on", lambda: os.kill(os.getpid(), signal.SIGTERM))
    error_log = logging.getLogger("tornadoish.server.error")
    error_log.addHandler(handler)
    try:
        assert run(bad_shutdown, ServerConfig(port=0)) == 1
    finally:
        error_log.removeHandler(handler)
    assert caplog.messages[-1] == "application shutdown failed: cache not flushed"
    caplog.clear()


def test_a_signal_during_startup_cancels_it(caplog: pytest.LogCaptureFixture) -> None:
    cancelled = []

    async def slow_start(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    assert run(slow_start, ServerConfig(port=0)) == 1
    assert cancelled == [True]
    assert "Startup interrupted by SIGTERM" in caplog.messages


def test_serve_outside_the_main_thread_installs_no_signal_handlers() -> None:
    before = signal.getsignal(signal.SIGINT)

    def in_thread() -> None:
        asyncio.run(serve(app, ServerConfig(port=0), ready=lambda server: server.stop()))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.anyio
async def test_closing_while_listen_is_still_starting_cancels_the_startup() -> None:
    started = asyncio.Event()

    async def never_ready(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        started.set()
        await asyncio.Event().wait()

    running = listen(never_ready, ServerConfig(port=0))
    assert len(running.sockets) == 1
    await asyncio.wait_for(started.wait(), WAIT)
    await asyncio.wait_for(running.close(), WAIT)
    assert running.sockets[0].fileno() == -1  # closed


@pytest.mark.anyio
async def test_a_connection_accepted_during_shutdown_is_closed_at_once(server: Server) -> None:
    server.state.shutting_down = True  # as if accepted just before the listener closed
    async with connect(server) as client:
        assert await client.closed()


def test_force_close_before_start_only_marks_the_server() -> None:
    server = Server(app, ServerConfig(), [])
    server.force_close()
    assert server.forced


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ServerConfig(uds="/nonexistent-dir/app.sock"), "could not bind to unix:/nonexistent-dir"),
        (ServerConfig(host="203.0.113.1", port=0), "could not bind to http://203.0.113.1:0: "),
    ],
)
def test_bind_failures_name_the_address(config: ServerConfig, message: str) -> None:
    with pytest.raises(OSError, match=message):
        bind_sockets(config)


def test_a_datagram_fd_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(OSError, match="not a stream socket"):
            bind_sockets(ServerConfig(fd=udp.fileno()))
        assert udp.fileno() != -1  # still the caller's


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_addresses_are_bracketed_in_urls() -> None:
    try:
        sockets = bind_sockets(ServerConfig(host="::1", port=0))
    except OSError:  # pragma: no cover - IPv6 disabled on this host
        pytest.skip("::1 cannot be bound here")
    server = Server(app, ServerConfig(host="::1"), sockets)
    try:
        assert server.urls == [f"http://[::1]:{server.port}"]
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.anyio
async def test_a_server_is_an_async_context_manager_that_closes() -> None:
    async with await start_server(app, ServerConfig(port=0)) as running, httpx.AsyncClient() as c:
        assert (await c.get(running.urls[0] + "/")).text == "hello"
    assert running.state.shutting_down
