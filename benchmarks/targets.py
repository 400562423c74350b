"""The servers under test and the scenarios they answer; starting and stopping them
(layer: benchmarks).

Every target runs from the repository root as its own process, pinned to one core
with ``taskset``, on the stdlib asyncio loop (Tornado's loop; uvloop would favour
whichever server can use it), without access logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from benchmarks.apps._common import (
    JSON_PAYLOAD,
    STATIC_DIR_ENV,
    STATIC_FILE_NAME,
    STATIC_FILE_SIZE,
    STREAM_CHUNK,
    STREAM_CHUNKS,
)

__all__ = [
    "BENCH_DIR",
    "REPO_ROOT",
    "RESULTS_DIR",
    "SCENARIOS",
    "TARGETS",
    "RunningTarget",
    "Scenario",
    "Target",
    "fetch",
    "free_port",
    "running",
    "select",
    "select_scenarios",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Raw results and server logs; ignored by git, rendered into docs/performance.md.
RESULTS_DIR = BENCH_DIR / "results"
ECHO_BODY_SIZE = 1024
# Startup includes importing the framework and, for uvicorn, its lifespan handshake.
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One request wrk repeats, and what a correct answer looks like."""

    name: str
    label: str
    method: str
    path: str
    # A correct body has this length, or (JSON, where the frameworks' spacing differs)
    # decodes to expected_json.
    expected_length: int | None
    lua_script: str | None = None  # for wrk, relative to benchmarks/
    expected_json: object = None

    @property
    def request_body(self) -> bytes:
        """What the request sends: ECHO_BODY_SIZE bytes for a POST, else nothing."""
        return b"x" * ECHO_BODY_SIZE if self.method == "POST" else b""

    def problem(self, status: int, body: bytes) -> str | None:
        """Why ``status`` and ``body`` are not a correct answer; None when they are."""
        if status != 200:
            return f"status {status}, expected 200"
        if self.expected_json is not None:
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
            if decoded != self.expected_json:
                return f"body {body[:100]!r} is not {json.dumps(self.expected_json)}"
        elif len(body) != self.expected_length:
            return f"{len(body)} body bytes, expected {self.expected_length}"
        return None


SCENARIOS = (
    Scenario("plaintext", "GET / (plaintext)", "GET", "/", len(b"Hello, world!")),
    Scenario("json", "GET /json", "GET", "/json", None, expected_json=JSON_PAYLOAD),
    Scenario("user", "GET /user/12345 (regex route)", "GET", "/user/12345", len(b"user 12345")),
    Scenario(
        "echo", "POST /echo (1 KiB body)", "POST", "/echo", ECHO_BODY_SIZE, lua_script="echo.lua"
    ),
    Scenario(
        "static",
        "GET 1 MiB static file",
        "GET",
        f"/static/{STATIC_FILE_NAME}",
        STATIC_FILE_SIZE,
    ),
    Scenario(
        "stream",
        "64 KiB streamed in 4 KiB flushes",
        "GET",
        "/stream",
        len(STREAM_CHUNK) * STREAM_CHUNKS,
    ),
)


@dataclasses.dataclass(frozen=True)
class Target:
    """A server running an app; ``argv`` has ``{port}`` (and ``{keep_alive}``) to fill."""

    name: str
    label: str
    argv: tuple[str, ...]
    # Options giving idle keep-alive connections this many seconds (memory.py keeps
    # thousands open); empty when the server never times them out on its own.
    keep_alive_argv: tuple[str, ...] = ()

    def command(self, port: int, keep_alive: float | None = None) -> list[str]:
        argv = list(self.argv)
        if keep_alive is not None:
            argv += self.keep_alive_argv
        values = {"port": str(port), "keep_alive": f"{keep_alive:g}" if keep_alive else ""}
        return [part.format(**values) for part in argv]


_PY = "python"  # shown in the report; replaced by sys.executable when run
_OURS = (_PY, "-m", "tornadoish")
_OURS_OPTIONS = (
    "--port",
    "{port}",
    "--no-access-log",
    "--log-level",
    "warning",
    "--loop",
    "asyncio",
)
_OURS_KEEP_ALIVE = ("--timeout-keep-alive", "{keep_alive}")
_UVICORN = (_PY, "-m", "uvicorn")
_UVICORN_OPTIONS = (
    "--port",
    "{port}",
    "--loop",
    "asyncio",
    "--no-access-log",
    "--log-level",
    "warning",
)
_UVICORN_KEEP_ALIVE = ("--timeout-keep-alive", "{keep_alive}")

TARGETS = (
    Target(
        "tornadoish",
        "tornadoish on our server",
        (*_OURS, "benchmarks.apps.tornadoish_app:app", *_OURS_OPTIONS),
        _OURS_KEEP_ALIVE,
    ),
    Target(
        "tornadoish-uvicorn-h11",
        "tornadoish on uvicorn (h11)",
        (*_UVICORN, "benchmarks.apps.tornadoish_app:app", "--http", "h11", *_UVICORN_OPTIONS),
        _UVICORN_KEEP_ALIVE,
    ),
    Target(
        "tornadoish-uvicorn-httptools",
        "tornadoish on uvicorn (httptools)",
        (
            *_UVICORN,
            "benchmarks.apps.tornadoish_app:app",
            "--http",
            "httptools",
            *_UVICORN_OPTIONS,
        ),
        _UVICORN_KEEP_ALIVE,
    ),
    # Tornado's idle_connection_timeout defaults to an hour: nothing to raise.
    Target("tornado", "Tornado 6", (_PY, "-m", "benchmarks.apps.tornado_app", "{port}")),
    Target(
        "starlette-uvicorn-httptools",
        "Starlette on uvicorn (httptools)",
        (
            *_UVICORN,
            "benchmarks.apps.starlette_app:app",
            "--http",
            "httptools",
            *_UVICORN_OPTIONS,
        ),
        _UVICORN_KEEP_ALIVE,
    ),
    Target(
        "raw-asgi",
        "raw ASGI app on our server",
        (*_OURS, "benchmarks.apps.raw_asgi:app", *_OURS_OPTIONS),
        _OURS_KEEP_ALIVE,
    ),
    Target(
        "raw-asgi-uvicorn-h11",
        "raw ASGI app on uvicorn (h11)",
        (*_UVICORN, "benchmarks.apps.raw_asgi:app", "--http", "h11", *_UVICORN_OPTIONS),
        _UVICORN_KEEP_ALIVE,
    ),
    Target(
        "ceiling",
        "raw asyncio Protocol (ceiling)",
        (_PY, "-m", "benchmarks.apps.raw_protocol", "{port}"),
    ),
)


_Named = TypeVar("_Named", Target, Scenario)


def _by_name(kind: str, names: str | None, known: tuple[_Named, ...]) -> tuple[_Named, ...]:
    """The items of ``known`` named in a comma-separated list (all when None or empty);
    SystemExit naming the unknown ones."""
    if not names:
        return known
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    by_name = {item.name: item for item in known}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise SystemExit(f"unknown {kind}(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return tuple(by_name[name] for name in wanted)


def select(names: str | None) -> tuple[Target, ...]:
    """The targets named in a comma-separated list (all when None)."""
    return _by_name("target", names, TARGETS)


def select_scenarios(names: str | None) -> tuple[Scenario, ...]:
    """The scenarios named in a comma-separated list (all when None)."""
    return _by_name("scenario", names, SCENARIOS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass
class RunningTarget:
    target: Target
    port: int
    process: subprocess.Popen[bytes]
    command: list[str]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def display_command(self) -> str:
        """The command as a reader would type it: ``python``, and PORT for the port."""
        parts = ["python" if part == sys.executable else part for part in self.command]
        return " ".join("PORT" if part == str(self.port) else part for part in parts)


def fetch(
    port: int, method: str, path: str, body: bytes = b"", timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request on a fresh connection: the status and the (de-chunked) body."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait_until_answering(running: RunningTarget) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if running.process.poll() is not None:
            log = running.log_path.read_text(errors="replace")
            raise RuntimeError(f"{running.target.name} exited at startup:\n{log}")
        try:
            status, _ = fetch(running.port, "GET", "/", timeout=1.0)
        except OSError:
            status = 0
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{running.target.name} did not answer within {STARTUP_TIMEOUT}s")
        time.sleep(0.1)


def start(
    target: Target, static_dir: str, *, cpu: int | None = 0, keep_alive: float | None = None
) -> RunningTarget:
    """Start ``target`` (pinned to ``cpu`` when given) and return once it answers."""
    RESULTS_DIR.mkdir(exist_ok=True)
    port = free_port()
    command = [sys.executable if part == _PY else part for part in target.command(port, keep_alive)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    log_path = RESULTS_DIR / f"{target.name}.log"
    env = {**os.environ, STATIC_DIR_ENV: static_dir, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    running = RunningTarget(target, port, process, command, log_path)
    try:
        _wait_until_answering(running)
    except BaseException:
        stop(running)
        raise
    return running


def stop(running: RunningTarget) -> None:
    process = running.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(
    targets: tuple[Target, ...],
    static_dir: str,
    *,
    cpu: int | None = 0,
    keep_alive: float | None = None,
) -> Iterator[list[RunningTarget]]:
    """Start every target, yield them running, stop them all whatever happens."""
    started: list[RunningTarget] = []
    try:
        for target in targets:
            started.append(start(target, static_dir, cpu=cpu, keep_alive=keep_alive))
        yield started
    finally:
        for item in started:
            stop(item)
