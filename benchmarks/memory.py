"""Memory benchmark: idle RSS, RSS per idle keep-alive connection, and thousands of idle
connections held while new requests are answered (layer: benchmarks).

``python -m benchmarks.memory`` from the repository root (``nox -s bench`` does it).
For each server, one at a time: start it, make one request, read ``VmRSS`` from
``/proc/<pid>/status`` (the idle RSS); open ``--connections`` connections with plain
sockets, each making one keep-alive request and then staying open, and read it again
(the growth divided by the count is the cost of one idle connection); then open more,
up to ``--many``, and check that a fresh connection's request is still answered and
that every idle connection is still open.

The file-descriptor limit is raised here, for this process and the servers it
starts, with ``resource.setrlimit``; the library never touches it.
"""

from __future__ import annotations

import argparse
import resource
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import report, targets
from benchmarks.apps._common import static_dir
from benchmarks.targets import RunningTarget, Target

__all__ = ["main", "read_response", "rss_kib"]

DEFAULT_CONNECTIONS = 5_000
DEFAULT_MANY = 10_000
# Servers whose memory the report compares; the others add nothing new here.
DEFAULT_TARGETS = "tornadoish,raw-asgi,tornado,tornadoish-uvicorn-h11,starlette-uvicorn-httptools"
# Idle connections must outlive the measurement: servers with a keep-alive timeout
# get this one (seconds).
KEEP_ALIVE = 600.0
# File descriptors beyond the connections: the interpreter, logs, the fresh client.
FD_HEADROOM = 256
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
IO_TIMEOUT = 10.0
# How long the fresh request may take while the idle connections are held.
FRESH_TIMEOUT = 5.0


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def read_response(sock: socket.socket) -> bytes:
    """Read one response with a ``Content-Length`` body from ``sock``; return it whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside the response body")
        body += chunk
    return data


def _open_idle(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each made one keep-alive request and stay open."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
            sockets.append(sock)
            sock.sendall(REQUEST)
            response = read_response(sock)
            if not response.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {response[:80]!r}")
    except BaseException:
        _close(sockets)
        raise
    return sockets


def _still_open(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has not closed (nothing to read, no EOF)."""
    count = 0
    for sock in sockets:
        # Non-blocking: with a timeout set, Python would first wait for readability.
        sock.setblocking(False)
        try:
            data = sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            count += 1
        except OSError:
            pass
        else:
            if data:  # unexpected bytes, but the connection is open
                count += 1
    return count


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()
    sockets.clear()


def _fresh_request_ms(port: int) -> float | None:
    """Milliseconds a new connection takes to get GET / answered; None if it is not."""
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=FRESH_TIMEOUT) as sock:
            sock.sendall(REQUEST)
            if not read_response(sock).startswith(b"HTTP/1.1 200"):
                return None
    except OSError:
        return None
    return (time.perf_counter() - started) * 1000


def _settle() -> None:
    # RSS is read from another process: give the server's loop a moment to finish
    # the accepts and writes it is still doing (a measurement, not a test).
    time.sleep(0.5)


def measure(running: RunningTarget, connections: int, many: int) -> dict[str, Any]:
    """The memory numbers of one running server."""
    port, pid = running.port, running.pid
    _settle()
    idle = rss_kib(pid)
    sockets = _open_idle(port, connections)
    try:
        _settle()
        loaded = rss_kib(pid)
        open_now = _still_open(sockets)
        if open_now != connections:
            raise RuntimeError(f"only {open_now} of {connections} idle connections stayed open")
        sockets += _open_idle(port, many - connections)
        _settle()
        many_rss = rss_kib(pid)
        fresh = _fresh_request_ms(port)
        still_open = _still_open(sockets)
    finally:
        _close(sockets)
    return {
        "label": running.target.label,
        "command": running.display_command(),
        "idle_rss_kib": idle,
        "loaded_rss_kib": loaded,
        "kib_per_connection": (loaded - idle) / connections,
        "many": {
            "connections": many,
            "rss_kib": many_rss,
            "kib_per_connection": (many_rss - idle) / many,
            "still_open": still_open,
            "answered": fresh is not None,
            "fresh_ms": fresh if fresh is not None else 0.0,
        },
    }


def raise_file_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to ``needed`` (capped at the hard limit);
    children started afterwards inherit it. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help="idle connections for the per-connection figure",
    )
    parser.add_argument(
        "--many", type=int, default=DEFAULT_MANY, help="idle connections held at the end"
    )
    parser.add_argument("--targets", default=DEFAULT_TARGETS, help="comma-separated names")
    parser.add_argument(
        "--no-report", action="store_true", help="write the JSON only, not docs/performance.*"
    )
    args = parser.parse_args(argv)
    if not 0 < args.connections <= args.many:
        parser.error("need 0 < --connections <= --many")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    chosen: tuple[Target, ...] = targets.select(args.targets)
    limit = raise_file_limit(args.many + FD_HEADROOM)
    if limit < args.many + FD_HEADROOM:
        raise SystemExit(
            f"the file limit is {limit}; holding {args.many} connections needs "
            f"{args.many + FD_HEADROOM} (raise the hard limit: ulimit -Hn)"
        )
    started_at = time.time()
    servers: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tornadoish-bench-") as directory:
        static = static_dir(directory)
        for target in chosen:
            print(f"{target.name}: ", end="", flush=True)
            try:
                with targets.running((target,), static, keep_alive=KEEP_ALIVE) as (server,):
                    result = measure(server, args.connections, args.many)
            except (RuntimeError, OSError) as exc:
                servers[target.name] = {"label": target.label, "error": str(exc)}
                print(f"failed: {exc}")
                continue
            servers[target.name] = result
            many = result["many"]
            print(
                f"idle {result['idle_rss_kib'] / 1024:.1f} MiB, "
                f"{result['kib_per_connection']:.1f} KiB/connection at {args.connections}, "
                f"{many['kib_per_connection']:.1f} at {args.many}; "
                f"{many['still_open']} still open; fresh request "
                + (f"{many['fresh_ms']:.1f} ms" if many["answered"] else "NOT answered"),
                flush=True,
            )
    data = {
        "started_at": started_at,
        "argv": report.command_line("benchmarks.memory", argv),
        "connections": args.connections,
        "many_connections": args.many,
        "servers": servers,
        "machine": report.machine_info(),
    }
    report.save_results(report.MEMORY_FILE, data, render=not args.no_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
