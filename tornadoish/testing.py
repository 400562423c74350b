"""Testing helpers: an httpx client for an app with its lifespan run (composition root).

``app_client(app)`` runs the app's ASGI lifespan startup, yields an
``httpx.AsyncClient`` talking to the app in-process, and runs shutdown on exit.
Works on asyncio and trio (anyio primitives only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from tornadoish.types import ASGIApp, Message

__all__ = ["LifespanError", "app_client", "lifespan"]


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

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(run_app)
        try:
            await exchange("startup")
        except _Unsupported:
            yield state
            group.cancel_scope.cancel()
            return
        except BaseException:
            group.cancel_scope.cancel()
            raise
        try:
            yield state
        finally:
            with anyio.CancelScope(shield=True):
                await exchange("shutdown")
            group.cancel_scope.cancel()


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
