"""Testing helpers (composition root: sees the framework-agnostic server too).

- ``app_client(app)``: an ``httpx.AsyncClient`` talking to any ASGI app in-process,
  with the app's lifespan run around it (asyncio and trio).
- ``live_server(app)``: the app on our own server on an ephemeral loopback port, for
  what only real sockets show (streaming, websockets, timeouts); asyncio only.
- ``AsyncHTTPTestCase``/``AsyncTestCase``/``gen_test``: Tornado's unittest API,
  backed by httpx, so Tornado test suites port with small changes.
- Pytest fixtures: add ``pytest_plugins = ["tornadoish.pytest_plugin"]`` to a
  ``conftest.py`` and define an ``app`` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from tornadoish._testcase import (
    AsyncHTTPClient,
    AsyncHTTPTestCase,
    AsyncTestCase,
    HTTPClientError,
    HTTPResponse,
    gen_test,
)
from tornadoish.types import ASGIApp, Message

__all__ = [
    "AsyncHTTPClient",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "HTTPClientError",
    "HTTPResponse",
    "LifespanError",
    "LiveServer",
    "app_client",
    "gen_test",
    "lifespan",
    "live_server",
]


class LifespanError(RuntimeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


@asynccontextmanager
async def lifespan(app: ASGIApp, wait_seconds: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s lifespan startup on entry and shutdown on exit; yields the state dict.

    An app that raises on the lifespan scope before answering is taken as not
    supporting lifespan (as servers do in ``auto`` mode).
    """
    state: dict[str, Any] = {}
    to_app, app_inbox = anyio.create_memory_object_stream[Message](2)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](2)

    async def receive() -> Message:
        return await app_inbox.receive()

    async def send(message: Message) -> None:
        await app_outbox.send(message)

    async def run_app() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = state
        try:
            await app(scope, receive, send)
        except Exception:
            # Not supporting lifespan is allowed; a crash after startup is reported below.
            pass
        finally:
            app_outbox.close()

    async def exchange(kind: str) -> None:
        await to_app.send({"type": f"lifespan.{kind}"})
        with anyio.fail_after(wait_seconds):
            try:
                reply = await from_app.receive()
            except anyio.EndOfStream:
                if kind == "startup":
                    raise _Unsupported() from None
                raise LifespanError(f"the app exited during lifespan {kind}") from None
        if reply["type"] == f"lifespan.{kind}.failed":
            raise LifespanError(reply.get("message", "") or f"lifespan {kind} failed")
        if reply["type"] != f"lifespan.{kind}.complete":
            raise LifespanError(f"unexpected lifespan message {reply['type']!r}")

    # Errors are carried out of the task group and raised after it closed, so callers
    # see the exception itself rather than an ExceptionGroup around it.
    error: BaseException | None = None
    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(run_app)
        supported = True
        try:
            await exchange("startup")
        except _Unsupported:
            supported = False
        except Exception as exc:
            error = exc
        if error is None:
            try:
                yield state
            except BaseException as exc:
                error = exc
            if supported:
                with anyio.CancelScope(shield=True):
                    try:
                        await exchange("shutdown")
                    except Exception as exc:
                        error = error or exc
        group.cancel_scope.cancel()
    if error is not None:
        raise error


class _Unsupported(Exception):
    pass


@asynccontextmanager
async def app_client(
    app: ASGIApp, base_url: str = "http://testserver", **client_options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` wired to ``app`` in-process, with lifespan run around it."""
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url, **client_options
        ) as client:
            yield client


class LiveServer:
    """A running server: ``url`` is its base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def ws_url(self, path: str = "/") -> str:
        """The ``ws://`` URL of ``path`` on this server."""
        return f"ws://{self.host}:{self.port}{path}"


@asynccontextmanager
async def live_server(app: ASGIApp, **config_options: Any) -> AsyncIterator[LiveServer]:
    """Serve ``app`` with our own server on 127.0.0.1 and an ephemeral port, lifespan
    included; ``config_options`` are ``ServerConfig`` fields (short timeouts, limits)."""
    from tornadoish.server.config import ServerConfig
    from tornadoish.server.runner import start_server

    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "access_log": False}
    options.update(config_options)
    server = await start_server(app, ServerConfig(**options))
    try:
        port = server.port
        assert port is not None  # a TCP server always has one
        yield LiveServer(options["host"], port)
    finally:
        await server.close()
