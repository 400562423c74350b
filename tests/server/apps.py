"""Raw ASGI apps for the runner, CLI and worker tests, and ``ServerProcess``, which
runs ``python -m tornadoish`` on one of them in a subprocess.

``app`` routes by path:

- ``/``: 200 ``hello``.
- ``/state``: the ``scope["state"]`` the lifespan filled, as ``key=value`` lines.
- ``/pid``: the serving process id.
- ``/slow``: prints ``slow request started`` on stderr, answers after 0.5 s.
- ``/hang``: prints ``hang request started`` and never answers (until cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tornadoish.types import ASGIReceive, ASGISend, Scope

# Long enough for a test to send SIGTERM after the marker line, short enough to keep
# the suite quick.
SLOW_SECONDS = 0.5


async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(scope, receive, send)
        return
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/state":
        body = "".join(f"{k}={v}\n" for k, v in sorted(scope["state"].items())).encode()
    elif path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/slow":
        print("slow request started", file=sys.stderr, flush=True)
        await asyncio.sleep(SLOW_SECONDS)
        body = b"slow done"
    elif path == "/hang":
        print("hang request started", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
        body = b""
    else:
        body = b"hello"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = "yes"
            await send({"type": "lifespan.startup.complete"})
        else:
            print("lifespan shutdown", file=sys.stderr, flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def failing_startup_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


not_callable = 42


# -- a server in a subprocess ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# Bound on each wait for a subprocess: startup of a fresh interpreter, a response.
PROCESS_WAIT = 10.0


class ServerProcess:
    """``python -m tornadoish *args`` run from the repository root, stderr read line by
    line in a thread so that tests wait on output with a timeout, never on a sleep."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tornadoish", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(
        self, pattern: str, timeout: float = PROCESS_WAIT, *, occurrence: int = 1
    ) -> re.Match[str]:
        """The ``occurrence``-th output line (seen or to come) matching ``pattern``."""
        regex = re.compile(pattern)
        found = 0
        for seen in self.lines:
            if (match := regex.search(seen)) and (found := found + 1) == occurrence:
                return match
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in:\n{self.output}")
            if line is None:
                self._queue.put(None)  # stay at end of output for later waits
                raise AssertionError(f"exited before {pattern!r}; output:\n{self.output}")
            self.lines.append(line)
            if (match := regex.search(line)) and (found := found + 1) == occurrence:
                return match

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))

    def url(self) -> str:
        """The first address the server says it serves on."""
        return self.wait_for(r"Serving on (http://\S+)").group(1)

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = PROCESS_WAIT) -> int:
        """The exit code, once the output is read to its end."""
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
        return code

    def kill(self) -> None:
        """Kill the process and its children (workers) if still running."""
        if self.process.poll() is None:
            for child in _children(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            self.process.kill()
        self.process.wait(PROCESS_WAIT)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; elsewhere none are known)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []
