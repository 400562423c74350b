"""Serve an ASGI app over real loopback sockets with our own server, uvicorn or hypercorn.

Each runs in the test's asyncio loop on a socket bound to 127.0.0.1 and an ephemeral
port; leaving the context stops the server, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from tornadoish.testing import live_server
from tornadoish.types import ASGIApp

__all__ = [
    "SERVER_NAMES",
    "START_STOP_TIMEOUT",
    "listening_socket",
    "serving",
    "serving_on_a_socket",
]

START_STOP_TIMEOUT = 10.0
SERVER_NAMES = ("hypercorn", "tornadoish", "uvicorn")


def listening_socket() -> socket.socket:
    """A non-blocking socket listening on 127.0.0.1 and an ephemeral port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def serving_on_a_socket(
    serve: Callable[[socket.socket], asyncio.Future[None] | asyncio.Task[None]],
    stop: Callable[[], None],
) -> AsyncIterator[str]:
    """Run ``serve(sock)`` on a fresh :func:`listening_socket`; yields the base
    ``http://`` URL; on leaving, ``stop()`` and wait (bounded) for the serving task."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    task = asyncio.ensure_future(serve(sock))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()
        try:
            await asyncio.wait_for(task, START_STOP_TIMEOUT)
        finally:
            sock.close()


@asynccontextmanager
async def _uvicorn(app: ASGIApp, root_path: str) -> AsyncIterator[str]:
    import uvicorn

    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        root_path=root_path,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    async with serving_on_a_socket(
        lambda sock: asyncio.ensure_future(server.serve(sockets=[sock])), stop
    ) as url:
        yield url


@asynccontextmanager
async def _hypercorn(app: ASGIApp, root_path: str) -> AsyncIterator[str]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    shutdown = asyncio.Event()

    def start(sock: socket.socket) -> asyncio.Task[None]:
        config = Config()
        # Hypercorn owns (and closes) the socket it is given: hand it a duplicate.
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.accesslog = None
        config.errorlog = None
        config.root_path = root_path
        return asyncio.ensure_future(
            serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")  # type: ignore[arg-type]
        )

    async with serving_on_a_socket(start, shutdown.set) as url:
        yield url


@asynccontextmanager
async def _tornadoish(app: ASGIApp, root_path: str) -> AsyncIterator[str]:
    async with live_server(app, root_path=root_path) as server:
        yield server.url


@asynccontextmanager
async def serving(name: str, app: ASGIApp, root_path: str = "") -> AsyncIterator[str]:
    """Serve ``app`` with server ``name`` (see SERVER_NAMES); yields the base URL."""
    runners = {"hypercorn": _hypercorn, "tornadoish": _tornadoish, "uvicorn": _uvicorn}
    async with runners[name](app, root_path) as url:
        yield url
