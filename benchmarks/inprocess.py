"""The framework's own cost per request: the benchmark app driven in-process, no server,
no sockets (layer: benchmarks).

``python -m benchmarks.inprocess [PATH] [--requests N] [--profile]`` prints the
fastest and the median microseconds per request over batches (the fastest is the
least disturbed by other work on the machine) and the Python function calls per
request, a count that does not depend on the machine's load; ``--profile`` adds the
cProfile hot spots. Use it to check a hot-path change before running wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.apps import tornadoish_app
from tornadoish.types import Message

__all__ = ["main"]

BATCHES = 15
WARMUP_REQUESTS = 2_000
_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {"http.response.pathsend": {}},
    }


async def _receive() -> Message:
    return _REQUEST


async def _send(message: Message) -> None:
    pass


async def _serve(path: str, count: int) -> None:
    app = tornadoish_app.app
    scope = _scope(path)
    for _ in range(count):
        await app(dict(scope), _receive, _send)


async def _measure(path: str, requests: int, profile: bool) -> None:
    await _serve(path, WARMUP_REQUESTS)
    per_batch = max(1, requests // BATCHES)
    timings = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        await _serve(path, per_batch)
        timings.append((time.perf_counter() - started) / per_batch * 1e6)
    profiler = cProfile.Profile()
    profiler.enable()
    await _serve(path, per_batch)
    profiler.disable()
    stats = pstats.Stats(profiler)
    calls: int = stats.total_calls  # type: ignore[attr-defined]  # set by Stats, not in the stubs
    print(
        f"GET {path}: fastest batch {min(timings):.1f} us/request, "
        f"median {statistics.median(timings):.1f} us; "
        f"{calls / per_batch:.0f} function calls per request"
    )
    if profile:
        stats.sort_stats("tottime").print_stats(30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__)
    parser.add_argument("path", nargs="?", default="/", help="GET this path (default /)")
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--profile", action="store_true", help="print cProfile hot spots")
    args = parser.parse_args(argv)
    asyncio.run(_measure(args.path, args.requests, args.profile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
