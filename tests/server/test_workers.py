"""The worker supervisor: sockets per worker, serving, restarts, signals."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.server.apps import PROCESS_WAIT, ServerProcess
from tornadoish.server.config import ServerConfig
from tornadoish.server.workers import Supervisor, _bind_for_workers, reuse_port_available


@pytest.fixture
def launch() -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []

    class Launched(ServerProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Launched
    for process in started:
        process.kill()


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


def pids_serving(url: str, *, want: int, attempts: int = 200) -> set[str]:
    """Worker pids seen over up to ``attempts`` fresh connections, until ``want``."""
    seen: set[str] = set()
    for _ in range(attempts):
        with httpx.Client(timeout=PROCESS_WAIT) as client:  # a new connection each time
            seen.add(client.get(url + "/pid").text)
        if len(seen) >= want:
            break
    return seen


@pytest.mark.slow
def test_two_workers_serve_and_shut_down_cleanly_on_sigterm(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--workers", "2", "--no-access-log")
    url = server.url()
    server.wait_for(r"Serving on", occurrence=2)
    pids = pids_serving(url, want=2)
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
