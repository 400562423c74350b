"""The lifespan driver against small raw ASGI apps: outcomes, modes, timeouts, state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tornadoish.server.config import ServerConfig
from tornadoish.server.lifespan import Lifespan, LifespanError
from tornadoish.types import ASGIReceive, ASGISend, Scope

pytestmark = pytest.mark.anyio


class LifespanApp:
    """Answers each lifespan event as configured and records what it saw."""

    def __init__(
        self,
        *,
        startup: str = "complete",
        shutdown: str = "complete",
        message: str = "",
    ) -> None:
        self.startup = startup
        self.shutdown = shutdown
        self.message = message
        self.events: list[str] = []
        self.finished = False

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        assert scope["type"] == "lifespan"
        while True:
            event = (await receive())["type"]
            self.events.append(event)
            phase = event.removeprefix("lifespan.")
            answer = self.startup if phase == "startup" else self.shutdown
            if answer == "hang":
                await asyncio.Event().wait()
            if answer == "raise":
                raise RuntimeError(f"{phase} broke")
            reply: dict[str, Any] = {"type": f"{event}.{answer}"}
            if answer == "failed":
                reply["message"] = self.message
            await send(reply)
            if phase == "shutdown":
                self.finished = True
                return
            if phase == "startup" and answer == "complete":
                scope["state"]["db"] = "connected"


async def test_startup_and_shutdown_complete() -> None:
    app = LifespanApp()
    state: dict[str, Any] = {}
    lifespan = Lifespan(app, ServerConfig(), state)
    await lifespan.startup()
    assert state == {"db": "connected"}
    await lifespan.shutdown()
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]
    assert app.finished


@pytest.mark.parametrize("mode", ["auto", "on"])
async def test_startup_failed_surfaces_the_apps_message(mode: str) -> None:
    app = LifespanApp(startup="failed", message="database is down")
    lifespan = Lifespan(app, ServerConfig(lifespan=mode), {})  # type: ignore[arg-type]
    with pytest.raises(LifespanError, match="database is down"):
        await lifespan.startup()


async def test_startup_failed_without_message_says_so() -> None:
    lifespan = Lifespan(LifespanApp(startup="failed"), ServerConfig(), {})
    with pytest.raises(LifespanError, match="no reason given"):
        await lifespan.startup()


async def test_shutdown_failed_surfaces_the_apps_message() -> None:
    app = LifespanApp(shutdown="failed", message="could not flush")
    lifespan = Lifespan(app, ServerConfig(), {})
    await lifespan.startup()
    with pytest.raises(LifespanError, match="shutdown failed: could not flush"):
        await lifespan.shutdown()


async def raw_http_only_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")


async def test_auto_mode_carries_on_when_the_app_does_not_support_lifespan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifespan = Lifespan(raw_http_only_app, ServerConfig(lifespan="auto"), {})
    await lifespan.startup()
    assert not lifespan.supported
    assert "appears unsupported" in caplog.text
    await lifespan.shutdown()  # nothing to do, no error


async def test_on_mode_makes_an_unsupported_lifespan_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifespan = Lifespan(raw_http_only_app, ServerConfig(lifespan="on"), {})
    with pytest.raises(LifespanError, match="raised ValueError: unsupported scope lifespan"):
        await lifespan.startup()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["exception in the ASGI lifespan task"]
    caplog.clear()


async def test_on_mode_rejects_an_app_that_returns_without_answering() -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        return

    with pytest.raises(LifespanError, match="returned without answering"):
        await Lifespan(app, ServerConfig(lifespan="on"), {}).startup()


async def test_off_mode_never_calls_the_app() -> None:
    app = LifespanApp()
    lifespan = Lifespan(app, ServerConfig(lifespan="off"), {})
    await lifespan.startup()
    await lifespan.shutdown()
    assert app.events == []


async def test_startup_timeout_is_an_error() -> None:
    config = ServerConfig(timeout_lifespan_startup=0.05)
    with pytest.raises(LifespanError, match=r"startup did not complete within 0\.05 s"):
        await Lifespan(LifespanApp(startup="hang"), config, {}).startup()


async def test_shutdown_timeout_is_an_error() -> None:
    config = ServerConfig(timeout_lifespan_shutdown=0.05)
    lifespan = Lifespan(LifespanApp(shutdown="hang"), config, {})
    await lifespan.startup()
    with pytest.raises(LifespanError, match=r"shutdown did not complete within 0\.05 s"):
        await lifespan.shutdown()


async def test_an_app_raising_after_startup_complete_is_logged_and_fails_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifespan = Lifespan(LifespanApp(shutdown="raise"), ServerConfig(), {})
    await lifespan.startup()
    with pytest.raises(LifespanError, match="raised RuntimeError: shutdown broke"):
        await lifespan.shutdown()
    assert "exception in the ASGI lifespan task" in caplog.text
    caplog.clear()


async def test_an_app_leaving_after_startup_needs_no_shutdown() -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})

    lifespan = Lifespan(app, ServerConfig(), {})
    await lifespan.startup()
    await asyncio.sleep(0)  # let the app return
    await lifespan.shutdown()


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "lifespan.bogus"}],
        [{"type": "lifespan.startup.complete"}, {"type": "lifespan.startup.complete"}],
    ],
)
async def test_protocol_violations_by_the_app_fail_loudly(
    messages: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        for message in messages:
            await send(message)
        await receive()

    lifespan = Lifespan(app, ServerConfig(), {})
    if len(messages) == 1:
        with pytest.raises(LifespanError, match="unexpected ASGI lifespan message"):
            await lifespan.startup()
    else:
        await lifespan.startup()
        await asyncio.sleep(0)
        with pytest.raises(LifespanError, match="sent twice"):
            await lifespan.shutdown()
    assert "exception in the ASGI lifespan task" in caplog.text
    caplog.clear()


async def test_no_shutdown_after_a_failed_startup(caplog: pytest.LogCaptureFixture) -> None:
    app = LifespanApp(startup="raise")
    lifespan = Lifespan(app, ServerConfig(lifespan="on"), {})
    with pytest.raises(LifespanError, match="startup broke"):
        await lifespan.startup()
    caplog.clear()
    await lifespan.shutdown()
    assert app.events == ["lifespan.startup"]
    assert not caplog.records
