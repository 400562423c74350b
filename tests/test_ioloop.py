"""The Tornado-compatible IOLoop façade over asyncio (plain synchronous tests)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tornadoish.ioloop import IOLoop, PeriodicCallback
from tornadoish.server.config import ServerConfig
from tornadoish.server.runner import listen
from tornadoish.types import ASGIReceive, ASGISend, Scope

_T = TypeVar("_T")
# Bound on each wait in this file.
WAIT = 5.0


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A fresh current IOLoop, closed afterwards (the thread is left with no loop)."""
    loop = IOLoop()
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


def in_thread(func: Callable[[], _T]) -> _T:
    """Run ``func`` in a fresh thread (no event loop of its own yet); return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(func).result(WAIT)


def test_current_creates_a_loop_once_per_thread_like_tornado() -> None:
    def check() -> None:
        assert IOLoop.current(instance=False) is None
        loop = IOLoop.current()
        assert IOLoop.current() is loop
        assert IOLoop.instance() is loop
        assert asyncio.get_event_loop_policy().get_event_loop() is loop.asyncio_loop
        loop.close()
        assert IOLoop.current(instance=False) is None
        replacement = IOLoop.current()
        assert replacement is not loop
        replacement.close()

    in_thread(check)


def test_current_inside_a_running_loop_is_bound_to_it(io_loop: IOLoop) -> None:
    async def inside() -> IOLoop:
        return IOLoop.current()

    assert io_loop.run_sync(inside) is io_loop
    with pytest.raises(RuntimeError, match="already has an IOLoop"):
        IOLoop(io_loop.asyncio_loop)


def test_make_current_sets_the_threads_loop(io_loop: IOLoop) -> None:
    def check() -> None:
        io_loop.make_current()
        assert IOLoop.current() is io_loop
        asyncio.set_event_loop(None)

    in_thread(check)


def test_add_callback_from_another_thread_and_stop(io_loop: IOLoop) -> None:
    calls: list[tuple[Any, ...]] = []

    def record(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))
        io_loop.stop()

    threading.Thread(target=io_loop.add_callback, args=(record, 1), kwargs={"x": 2}).start()
    io_loop.start()
    assert calls == [((1,), {"x": 2})]


def test_coroutine_callbacks_run_as_kept_tasks(io_loop: IOLoop) -> None:
    done = []

    async def work(value: int) -> None:
        await asyncio.sleep(0)
        done.append(value)
        io_loop.stop()

    io_loop.spawn_callback(work, 7)
    io_loop.start()
    assert done == [7]


def test_failing_callbacks_are_logged_and_the_loop_goes_on(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ValueError("sync boom")

    async def broken_async() -> None:
        raise ValueError("async boom")

    io_loop.add_callback(broken)
    io_loop.add_callback(broken_async)
    io_loop.call_later(0, io_loop.call_later, 0, io_loop.stop)
    io_loop.start()
    assert [r.getMessage().split(" ")[:3] for r in caplog.records if r.levelname == "ERROR"] == [
        ["Exception", "in", "callback"],
        ["Exception", "in", "callback"],
    ]
    assert "sync boom" in caplog.text
    assert "async boom" in caplog.text
    caplog.clear()


def test_timeouts_run_in_deadline_order_and_can_be_removed(io_loop: IOLoop) -> None:
    order: list[str] = []
    now = io_loop.time()
    io_loop.call_at(now + 0.02, order.append, "at")
    io_loop.add_timeout(datetime.timedelta(seconds=0.01), order.append, "timedelta")
    io_loop.add_timeout(now + 0.03, order.append, "deadline")
    removed = io_loop.call_later(0.005, order.append, "removed")
    io_loop.remove_timeout(removed)
    io_loop.call_later(0.04, io_loop.stop)
    io_loop.start()
    assert order == ["timedelta", "at", "deadline"]
    with pytest.raises(TypeError, match="unsupported deadline"):
        io_loop.add_timeout("soon", order.append)  # type: ignore[arg-type]


def test_run_sync_returns_results_and_honours_the_timeout(io_loop: IOLoop) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert io_loop.run_sync(answer) == 42
    assert io_loop.run_sync(answer, timeout=WAIT) == 42
    assert io_loop.run_sync(lambda: "plain") == "plain"
    with pytest.raises(TimeoutError):
        io_loop.run_sync(lambda: asyncio.sleep(WAIT), timeout=0.01)

    async def nested() -> None:
        io_loop.run_sync(answer)

    with pytest.raises(RuntimeError, match="while the loop is running"):
        io_loop.run_sync(nested)


def test_run_in_executor_and_add_future(io_loop: IOLoop) -> None:
    seen: list[int] = []

    async def main() -> int:
        future = io_loop.run_in_executor(None, sum, [1, 2, 3])
        io_loop.add_future(future, lambda done: seen.append(done.result()))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            threaded = pool.submit(pow, 2, 5)
            io_loop.add_future(threaded, lambda done: seen.append(done.result()))
            io_loop.set_default_executor(pool)
            result = await io_loop.run_in_executor(None, pow, 3, 2)
        await future
        await asyncio.sleep(0)
        return result

    assert io_loop.run_sync(main) == 9
    io_loop.run_sync(lambda: asyncio.sleep(0))
    assert sorted(seen) == [6, 32]


def test_add_callback_after_close_is_ignored() -> None:
    def check() -> None:
        loop = IOLoop()
        loop.close()
        loop.add_callback(print, "never")
        asyncio.set_event_loop(None)

    in_thread(check)


async def hello_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
    if scope["type"] != "http":
        raise ValueError("http only")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"classic"})


def test_a_classic_tornado_program_runs(io_loop: IOLoop) -> None:
    # app.listen(port) binds at once; IOLoop.current().start() serves.
    server = listen(hello_app, ServerConfig(port=0))
    responses: list[httpx.Response] = []

    def client() -> None:
        try:
            responses.append(httpx.get(server.urls[0] + "/", timeout=WAIT))
        finally:
            io_loop.stop()  # from another thread, as Tornado allows

    threading.Thread(target=client).start()
    IOLoop.current().start()
    assert responses[0].text == "classic"
    io_loop.run_sync(server.close)


def test_periodic_callback_repeats_until_stopped(io_loop: IOLoop) -> None:
    calls: list[float] = []

    def tick() -> None:
        calls.append(io_loop.time())
        if len(calls) == 3:
            periodic.stop()
            io_loop.stop()

    periodic = PeriodicCallback(tick, 5)
    assert not periodic.is_running()
    io_loop.add_callback(periodic.start)
    io_loop.start()
    assert len(calls) == 3
    assert not periodic.is_running()
    assert calls == sorted(calls)


def test_periodic_callback_awaits_coroutines_and_survives_errors(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    async def tick() -> None:
        calls.append("tick")
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise ValueError("first tick fails")
        periodic.stop()
        io_loop.stop()

    periodic = PeriodicCallback(tick, datetime.timedelta(milliseconds=2), jitter=0.5)
    io_loop.add_callback(periodic.start)
    io_loop.start()
    assert calls == ["tick", "tick"]
    assert "first tick fails" in caplog.text
    caplog.clear()


def test_periodic_callback_skips_runs_missed_by_a_slow_callback(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def slow_tick() -> None:
        calls.append(io_loop.time())
        if len(calls) == 1:
            time.sleep(0.035)  # overruns three 10 ms periods: they are skipped
            raise RuntimeError("a failing sync callback is logged")
        periodic.stop()
        io_loop.stop()

    periodic = PeriodicCallback(slow_tick, 10)
    started: list[float] = []

    def start() -> None:
        started.append(io_loop.time())
        periodic.start()

    io_loop.add_callback(start)
    io_loop.start()
    assert len(calls) == 2
    # Runs stay on the 10 ms grid: the one after the overrun is at +50 ms, not a
    # catch-up run right when the slow one returned (about +45 ms).
    assert calls[1] - started[0] >= 0.05 - 1e-6
    assert "Exception in callback" in caplog.text
    caplog.clear()


def test_periodic_callback_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="callback_time must be positive"):
        PeriodicCallback(lambda: None, 0)


def test_clear_current_leaves_the_thread_without_a_loop() -> None:
    def check() -> None:
        loop = IOLoop.current()
        IOLoop.clear_current()
        assert IOLoop.current(instance=False) is None
        loop.close()

    in_thread(check)
