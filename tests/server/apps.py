"""Raw ASGI apps for the runner, CLI and worker tests (also started in subprocesses).

``app`` routes by path:

- ``/``: 200 ``hello``.
- ``/state``: the ``scope["state"]`` the lifespan filled, as ``key=value`` lines.
- ``/pid``: the serving process id.
- ``/slow``: prints ``slow request started`` on stderr, answers after 0.5 s.
- ``/hang``: prints ``hang request started`` and never answers (until cancelled).
"""

from __future__ import annotations

import asyncio
import os
import sys

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
