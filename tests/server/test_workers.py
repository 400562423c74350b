"""The worker supervisor: sockets per worker, serving, restarts, signals."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib.machinery
import os
import signal
import socket
import sys
import threading
import time
import types
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.server.apps import PROCESS_WAIT, ServerProcess
from tornadoish.server import workers
from tornadoish.server.config import ServerConfig
from tornadoish.server.reload import reload_available, run_with_reload
from tornadoish.server.workers import (
    Supervisor,
    WorkerCommand,
    _bind_for_workers,
    reuse_port_available,
    run_workers,
)


@pytest.mark.skipif(not reuse_port_available(), reason="SO_REUSEPORT balancing is Linux only")
def test_each_worker_gets_its_own_socket_on_one_port() -> None:
    sockets = _bind_for_workers(ServerConfig(port=0), 3)
    try:
        assert len(sockets) == 3
        assert len({sock.fileno() for sock in sockets}) == 3
        assert len({sock.getsockname()[1] for sock in sockets}) == 1
    finally:
        for sock in sockets:
            sock.close()


def test_a_unix_socket_is_shared_by_all_workers(tmp_path: os.PathLike[str]) -> None:
    sockets = _bind_for_workers(ServerConfig(uds=os.path.join(tmp_path, "s.sock")), 3)
    try:
        assert len(sockets) == 1
    finally:
        for sock in sockets:
            sock.close()


def test_a_supervisor_needs_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="count must be at least 1"):
        Supervisor(lambda fd: [sys.executable], ServerConfig(), count=0)


def pids_serving(url: str, *, want: int, within: float = PROCESS_WAIT) -> set[str]:
    """Worker pids seen over fresh connections for up to ``within`` seconds, until
    ``want``. A time budget, not a count: on a loaded machine the kernel's SO_REUSEPORT
    hash may send a few hundred connections in a row to one worker."""
    seen: set[str] = set()
    deadline = time.monotonic() + within
    while len(seen) < want and time.monotonic() < deadline:
        with httpx.Client(timeout=PROCESS_WAIT) as client:  # a new connection each time
            seen.add(client.get(url + "/pid").text)
    return seen


@pytest.mark.slow
def test_two_workers_serve_and_shut_down_cleanly_on_sigterm(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--workers", "2", "--no-access-log")
    url = server.url()
    server.wait_for(r"Serving on", occurrence=2)
    # A generous budget, spent only when the kernel keeps picking one worker: this once
    # failed under a concurrent benchmark (two pinned servers and wrk on both cores).
    pids = pids_serving(url, want=2, within=3 * PROCESS_WAIT)
    assert str(server.process.pid) not in pids
    if reuse_port_available():
        assert len(pids) == 2
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0
    assert server.count("lifespan shutdown") == 2
    assert "Traceback" not in server.output


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced(launch: type[ServerProcess]) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--workers", "2", "--no-access-log")
    url = server.url()
    server.wait_for(r"Serving on", occurrence=2)
    victim = int(httpx.get(url + "/pid", timeout=PROCESS_WAIT).text)
    os.kill(victim, signal.SIGKILL)
    server.wait_for(rf"worker {victim} exited unexpectedly \(code -9\); starting another")
    server.wait_for(r"Serving on", occurrence=3)  # the replacement's
    assert httpx.get(url + "/", timeout=PROCESS_WAIT).text == "hello"
    server.send_signal(signal.SIGINT)
    assert server.wait() == 0


@pytest.mark.slow
def test_a_worker_that_fails_to_start_stops_the_supervisor(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:failing_startup_app", "--port", "0", "--workers", "2")
    assert server.wait() == 3
    assert "application startup failed: no database" in server.output
    assert "Traceback" not in server.output


# -- the supervisor in-process, with a tiny stand-in worker ------------------------------

# Serves its inherited listening socket by writing its pid to each connection, and
# exits 0 on SIGTERM: a worker whose state a test reads through the socket alone.
PID_WORKER = """
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listener = socket.socket(fileno=int(sys.argv[1]))
listener.setblocking(True)
while True:
    connection, _ = listener.accept()
    connection.sendall(b"%d" % os.getpid())
    connection.close()
"""


def pid_worker(fd: int) -> list[str]:
    return [sys.executable, "-c", PID_WORKER, str(fd)]


def worker_pid(port: int) -> int:
    """The pid of the stand-in worker that answers the next connection on ``port``."""
    while True:
        with socket.create_connection(("127.0.0.1", port), timeout=PROCESS_WAIT) as sock:
            answer = sock.recv(64)
        if answer:
            return int(answer)
        # Accepted by a worker that was told to exit before it could answer: ask again.


class InProcessSupervisor:
    """A Supervisor on a loop in a thread, serving a listener the test made."""

    def __init__(self, *, count: int = 1, command: WorkerCommand = pid_worker) -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self.supervisor = Supervisor(command, ServerConfig(fd=listener.detach()), count=count)
        self.loop = asyncio.new_event_loop()
        self.result: concurrent.futures.Future[int] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result.set_result(self.loop.run_until_complete(self.supervisor.run()))
        except BaseException as exc:
            self.result.set_exception(exc)
        finally:
            self.loop.close()

    def pid(self) -> int:
        """The pid of the worker that answers the next connection (waits for one)."""
        return worker_pid(self.port)

    def call(self, method: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(method)

    def finish(self) -> int:
        return self.result.result(PROCESS_WAIT)


def test_restart_all_replaces_the_workers_and_stop_ends_them() -> None:
    running = InProcessSupervisor()
    first = running.pid()
    running.call(running.supervisor.restart_all)
    while (second := running.pid()) == first:
        pass  # connections queued before the restart may still reach the old worker
    running.call(running.supervisor.stop)
    assert running.finish() == 0
    assert second != first


def test_an_unexpected_exit_is_restarted_after_a_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = InProcessSupervisor()
    first = running.pid()
    os.kill(first, signal.SIGKILL)
    assert running.pid() != first
    assert f"worker {first} exited unexpectedly (code -9); starting another" in caplog.messages
    running.call(running.supervisor.stop)
    assert running.finish() == 0


def test_stop_during_the_restart_backoff_ends_at_once() -> None:
    running = InProcessSupervisor()
    first = running.pid()
    os.kill(first, signal.SIGKILL)

    def stop_soon() -> None:
        running.loop.call_later(0.01, running.supervisor.stop)

    running.call(stop_soon)
    assert running.finish() == 1  # the killed worker's exit code was not 0


def test_workers_share_a_unix_socket_and_the_supervisor_removes_its_file(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "app.sock")
    supervisor = Supervisor(pid_worker, ServerConfig(uds=path), count=2)
    loop = asyncio.new_event_loop()
    pids: set[int] = set()

    def client() -> None:
        # Until both workers answered: each then has its SIGTERM handler in place.
        deadline = time.monotonic() + PROCESS_WAIT
        while len(pids) < 2 and time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(PROCESS_WAIT)
                with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                    sock.connect(path)  # the supervisor may not have bound it yet
                    if answer := sock.recv(64):
                        pids.add(int(answer))
        loop.call_soon_threadsafe(supervisor.stop)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert loop.run_until_complete(asyncio.wait_for(supervisor.run(), PROCESS_WAIT)) == 0
    finally:
        loop.close()
        thread.join(PROCESS_WAIT)
    assert len(pids) == 2
    assert not os.path.exists(path)


STUBBORN_WORKER = PID_WORKER.replace("lambda *_: sys.exit(0)", "signal.SIG_IGN")


def test_a_second_signal_forces_and_then_kills_stubborn_workers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(workers, "_EXIT_MARGIN", 0.05)
    running = InProcessSupervisor(
        command=lambda fd: [sys.executable, "-c", STUBBORN_WORKER, str(fd)]
    )
    running.pid()  # serving, with SIGTERM ignored
    for _ in range(2):
        running.call(functools.partial(running.supervisor._on_signal, signal.SIGTERM))
    assert running.finish() == 1
    assert "Supervisor: second SIGTERM; forcing the workers to exit" in caplog.messages
    assert any("did not exit in time; killing it" in m for m in caplog.messages)


def test_stop_before_run_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Supervisor(pid_worker, ServerConfig(), count=1).stop()


def test_run_workers_reports_a_bind_failure_as_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert run_workers(pid_worker, ServerConfig(port=port, workers=2)) == 3
    assert caplog.messages[-1].startswith(f"could not bind to http://127.0.0.1:{port}")
    caplog.clear()


# -- the reloader: a supervisor of one worker, restarted on changes ----------------------


def test_reload_restarts_the_worker_when_python_files_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_served = threading.Event()
    fake = types.ModuleType("watchfiles")
    fake.__spec__ = importlib.machinery.ModuleSpec("watchfiles", None)

    async def awatch(
        *paths: str, watch_filter: object, stop_event: asyncio.Event
    ) -> AsyncIterator[set[tuple[int, str]]]:
        assert paths == (os.getcwd(),)
        await asyncio.to_thread(first_served.wait, PROCESS_WAIT)
        yield {(2, os.path.join(paths[0], "app.py"))}
        await stop_event.wait()

    fake.awatch = awatch  # type: ignore[attr-defined]  # a module built at runtime
    fake.PythonFilter = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "watchfiles", fake)
    assert reload_available()

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = ServerConfig(fd=listener.detach())
    pids: list[int] = []

    def client() -> None:
        pids.append(worker_pid(port))
        first_served.set()
        while (latest := worker_pid(port)) == pids[0]:
            pass
        pids.append(latest)
        os.kill(os.getpid(), signal.SIGTERM)  # the reloader's signal handler stops it

    thread = threading.Thread(target=client)
    thread.start()
    assert run_with_reload(pid_worker, config) == 0
    thread.join(PROCESS_WAIT)
    assert len(pids) == 2


def test_reload_without_watchfiles_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)
    assert not reload_available()
    with pytest.raises(RuntimeError, match="needs watchfiles"):
        run_with_reload(pid_worker, ServerConfig())


@pytest.mark.slow
def test_workers_shut_down_when_the_supervisor_is_killed_outright(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--workers", "2", "--no-access-log")
    server.wait_for(r"Serving on", occurrence=2)
    server.process.kill()  # SIGKILL: no chance to forward anything
    server.wait_for(r"Shutting down on SIGTERM", occurrence=2)
    server.wait_for(r"lifespan shutdown", occurrence=2)


@pytest.mark.slow
def test_a_second_sigint_to_the_supervisor_forces_the_workers_out(
    launch: type[ServerProcess],
) -> None:
    server = launch(
        *("tests.server.apps:app", "--port", "0", "--workers", "2", "--no-access-log"),
        *("--timeout-graceful-shutdown", "60"),
    )
    port = int(server.url().rsplit(":", 1)[1])
    server.wait_for(r"Serving on", occurrence=2)
    with socket.create_connection(("127.0.0.1", port), timeout=PROCESS_WAIT) as sock:
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: test\r\n\r\n")
        server.wait_for("hang request started")
        server.send_signal(signal.SIGINT)
        server.wait_for(r"Shutting down on SIGINT", occurrence=2)
        server.send_signal(signal.SIGINT)
        assert server.wait() == 1
    assert "Supervisor: second SIGINT; forcing the workers to exit" in server.output
    assert "Forced exit on a second SIGINT" in server.output
