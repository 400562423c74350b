"""The ASGI lifespan protocol driver: app startup and shutdown around serving (layer: server).

Follows the ASGI lifespan spec 2.0. The app runs once, in one task, for the whole life
of the server: it receives ``lifespan.startup`` before the first connection is served
and ``lifespan.shutdown`` after the last one closed. The ``state`` dict the app fills
at startup becomes ``ServerState.lifespan_state``; each request scope gets a copy.

Modes (``ServerConfig.lifespan``):

- ``auto``: an app that raises (or returns) before sending anything is taken as not
  supporting lifespan; that is logged at INFO and serving goes on.
- ``on``: the same is a startup error.
- ``off``: the app never sees a lifespan scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tornadoish.server.config import ServerConfig
from tornadoish.types import ASGIApp, LifespanScope, Message

__all__ = ["Lifespan", "LifespanError"]

logger = logging.getLogger("tornadoish.server.error")


class LifespanError(Exception):
    """Startup or shutdown did not complete; ``str(error)`` is a one-line reason."""


class Lifespan:
    """Drive one app through lifespan startup and shutdown.

    ``startup()`` raises ``LifespanError`` when the app reports failure, raises, times
    out or (in ``on`` mode) does not support lifespan; the caller must not serve then.
    ``shutdown()`` raises ``LifespanError`` when the app reports failure or times out.
    """

    def __init__(self, app: ASGIApp, config: ServerConfig, state: dict[str, Any]) -> None:
        self._app = app
        self._config = config
        self._state = state
        self._receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Set by the app's messages; each is either "complete" or "failed".
        self._startup_result: asyncio.Future[str | None] | None = None
        self._shutdown_result: asyncio.Future[str | None] | None = None
        self._sent_anything = False
        self._started = False
        self._app_error: BaseException | None = None
        self.supported = config.lifespan != "off"
        """False when the mode is off or the app turned out not to support lifespan."""

    async def startup(self) -> None:
        if not self.supported:
            return
        loop = asyncio.get_running_loop()
        self._startup_result = loop.create_future()
        self._shutdown_result = loop.create_future()
        scope: LifespanScope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._state,
        }
        self._task = asyncio.create_task(self._run(dict(scope)), name="lifespan")
        await self._receive_queue.put({"type": "lifespan.startup"})
        timeout = self._config.timeout_lifespan_startup
        try:
            outcome = await self._wait(self._startup_result, timeout)
        except asyncio.CancelledError:
            await self._cancel()
            raise
        if outcome == "timeout":
            await self._cancel()
            raise LifespanError(f"application startup did not complete within {timeout:g} s")
        if outcome == "app exited":
            if not self._sent_anything and self._config.lifespan == "auto":
                self.supported = False
                logger.info(
                    "ASGI 'lifespan' protocol appears unsupported by the app; going on without it"
                )
                logger.debug("the app said, on the lifespan scope:", exc_info=self._app_error)
                return
            if self._app_error is not None and not self._sent_anything:
                logger.error("exception in the ASGI lifespan task", exc_info=self._app_error)
            raise LifespanError(f"application startup failed: {self._describe_exit()}")
        if outcome is not None:
            await self._cancel()
            raise LifespanError(f"application startup failed: {outcome}")
        self._started = True

    async def shutdown(self) -> None:
        """Tell the app to shut down; nothing to do unless its startup completed."""
        if not self._started or self._task is None or self._shutdown_result is None:
            return
        if self._task.done():
            # The app left the lifespan after startup: nothing to tell it, but a crash
            # (logged when it happened) still makes the shutdown unclean.
            if self._app_error is not None:
                raise LifespanError(f"application shutdown failed: {self._describe_exit()}")
            return
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        timeout = self._config.timeout_lifespan_shutdown
        outcome = await self._wait(self._shutdown_result, timeout)
        if outcome == "timeout":
            await self._cancel()
            raise LifespanError(f"application shutdown did not complete within {timeout:g} s")
        if outcome == "app exited":
            raise LifespanError(f"application shutdown failed: {self._describe_exit()}")
        if outcome is not None:
            await self._cancel()
            raise LifespanError(f"application shutdown failed: {outcome}")
        # The app may still be returning from its lifespan coroutine; give it the rest
        # of the shutdown budget, which is plenty for a return statement.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        await self._cancel()

    async def _wait(self, result: asyncio.Future[str | None], within: float) -> str | None:
        """Wait for the app's answer: None for complete, its message if failed, or
        "timeout" / "app exited" (the latter only when it did not answer first)."""
        assert self._task is not None
        waits: set[asyncio.Future[Any]] = {result, self._task}
        done, _ = await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if result in done or result.done():
            return result.result()
        if not done:
            return "timeout"
        return "app exited"

    def _describe_exit(self) -> str:
        error = self._app_error
        if error is None:
            return "the app returned without answering"
        return f"the app raised {type(error).__name__}: {error}"

    async def _cancel(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self._app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._app_error = exc
            if self._sent_anything:
                # The app took part in the protocol, so this is its bug, not a sign
                # that it does not speak lifespan.
                logger.error("exception in the ASGI lifespan task", exc_info=exc)

    async def _receive(self) -> Message:
        return await self._receive_queue.get()

    async def _send(self, message: Message) -> None:
        assert self._startup_result is not None
        assert self._shutdown_result is not None
        self._sent_anything = True
        kind = message.get("type")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            target = self._startup_result
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            target = self._shutdown_result
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message type {kind!r}")
        if target.done():
            raise RuntimeError(f"ASGI lifespan message {kind!r} sent twice")
        if kind.endswith(".failed"):
            reason = str(message.get("message") or "").strip() or "no reason given"
            target.set_result(reason)
        else:
            target.set_result(None)
