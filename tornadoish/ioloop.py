"""Tornado's ``IOLoop`` as a thin façade over an asyncio event loop (layer: compatibility).

Enough of ``tornado.ioloop.IOLoop`` for classic programs (``app.listen(8888)`` then
``IOLoop.current().start()``) and their callbacks and timeouts, once imports are
renamed. Each asyncio loop has at most one ``IOLoop``; ``asyncio_loop`` is that loop.

Where we differ from Tornado: ``time()`` is the asyncio loop's monotonic clock (Tornado
allows this; ``call_at`` and ``add_timeout`` take deadlines on the same clock);
handles returned by ``call_later``/``call_at``/``add_timeout`` are asyncio
``TimerHandle`` objects; there is no ``add_handler`` (file descriptor callbacks): use
``asyncio_loop.add_reader``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import inspect
import math
import random
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from tornadoish.log import app_log

__all__ = ["IOLoop", "PeriodicCallback"]

_T = TypeVar("_T")

_instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IOLoop] = (
    weakref.WeakKeyDictionary()
)


class IOLoop:
    """A Tornado-style handle on one asyncio event loop.

    Get it with ``IOLoop.current()``; do not construct one directly unless you want a
    new event loop (``IOLoop()`` makes one and, like Tornado, makes it current).
    """

    def __init__(self, asyncio_loop: asyncio.AbstractEventLoop | None = None) -> None:
        if asyncio_loop is None:
            asyncio_loop = asyncio.new_event_loop()
            asyncio.set_event_loop(asyncio_loop)
        if asyncio_loop in _instances:
            raise RuntimeError("this asyncio loop already has an IOLoop; use IOLoop.current()")
        self.asyncio_loop = asyncio_loop
        # Tasks made from coroutine callbacks: referenced until done, so none is
        # garbage-collected half-way (asyncio keeps only weak references).
        self._tasks: set[asyncio.Future[Any]] = set()
        _instances[asyncio_loop] = self

    @overload
    @staticmethod
    def current() -> IOLoop: ...

    @overload
    @staticmethod
    def current(instance: bool = True) -> IOLoop | None: ...

    @staticmethod
    def current(instance: bool = True) -> IOLoop | None:
        """The ``IOLoop`` of the running asyncio loop, else of this thread's current
        loop. With none, one is created and made current (``instance=False``: None)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with warnings.catch_warnings():
                # Newer Pythons deprecate get_event_loop() without a running loop;
                # this is exactly the "current loop of the thread" Tornado means.
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    loop = asyncio.get_event_loop()
                except RuntimeError:
                    if not instance:
                        return None
                    loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(loop)
        if loop.is_closed():
            if not instance:
                return None
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        existing = _instances.get(loop)
        if existing is not None:
            return existing
        return IOLoop(loop)

    @staticmethod
    def instance() -> IOLoop:
        """Deprecated in Tornado; the same as ``current()``."""
        return IOLoop.current()

    @staticmethod
    def clear_current() -> None:
        """Leave the current thread without a current loop (deprecated in Tornado too)."""
        asyncio.set_event_loop(None)

    def make_current(self) -> None:
        """Make this loop the current thread's loop (deprecated in Tornado too)."""
        asyncio.set_event_loop(self.asyncio_loop)

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop until ``stop()`` is called."""
        old: asyncio.AbstractEventLoop | None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                old = asyncio.get_event_loop()
            except RuntimeError:
                old = None
        asyncio.set_event_loop(self.asyncio_loop)
        try:
            self.asyncio_loop.run_forever()
        finally:
            asyncio.set_event_loop(old)

    def stop(self) -> None:
        """Stop the loop after the current iteration (safe from any thread). If it is
        not running, the next ``start()`` returns almost at once."""
        self.asyncio_loop.call_soon_threadsafe(self.asyncio_loop.stop)

    def run_sync(self, func: Callable[[], Any], timeout: float | None = None) -> Any:
        """Start the loop, run ``func`` (a function returning an awaitable or a value)
        and stop; return its result. Raises ``TimeoutError`` after ``timeout`` seconds."""

        async def runner() -> Any:
            result = func()
            if inspect.isawaitable(result):
                if timeout is None:
                    return await result
                return await asyncio.wait_for(_as_future(result), timeout)
            return result

        if self.asyncio_loop.is_running():
            raise RuntimeError("run_sync() cannot be called while the loop is running")
        return self.asyncio_loop.run_until_complete(runner())

    def close(self, all_fds: bool = False) -> None:
        """Close the asyncio loop (``all_fds`` is accepted for compatibility only)."""
        _instances.pop(self.asyncio_loop, None)
        self.asyncio_loop.close()

    # -- callbacks and timeouts ------------------------------------------------------------

    def time(self) -> float:
        """The loop's clock: the one ``call_at`` and ``add_timeout`` deadlines use."""
        return self.asyncio_loop.time()

    def add_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``callback`` on the next loop iteration. Safe from any thread. A
        coroutine function's coroutine runs as a task the IOLoop keeps."""
        try:
            self.asyncio_loop.call_soon_threadsafe(
                self._run_callback, functools.partial(callback, *args, **kwargs)
            )
        except RuntimeError:
            # Tornado ignores callbacks added while the loop closes.
            if not self.asyncio_loop.is_closed():
                raise

    def add_callback_from_signal(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Deprecated in Tornado; the same as ``add_callback``."""
        self.add_callback(callback, *args, **kwargs)

    def spawn_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``callback`` on the next iteration, independently of the caller."""
        self.add_callback(callback, *args, **kwargs)

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Call ``callback`` in ``delay`` seconds; ``remove_timeout()`` cancels it."""
        return self.asyncio_loop.call_later(
            max(0.0, delay), self._run_callback, functools.partial(callback, *args, **kwargs)
        )

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        """Call ``callback`` at ``when`` on the ``time()`` clock."""
        return self.asyncio_loop.call_at(
            when, self._run_callback, functools.partial(callback, *args, **kwargs)
        )

    def add_timeout(
        self,
        deadline: float | datetime.timedelta,
        callback: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> asyncio.TimerHandle:
        """Call ``callback`` at ``deadline``: a ``time()`` value or a ``timedelta``
        from now."""
        if isinstance(deadline, datetime.timedelta):
            return self.call_later(deadline.total_seconds(), callback, *args, **kwargs)
        if isinstance(deadline, int | float):
            return self.call_at(deadline, callback, *args, **kwargs)
        raise TypeError(f"unsupported deadline {deadline!r}")

    def remove_timeout(self, timeout: asyncio.Handle) -> None:
        """Cancel a pending timeout; harmless if it already ran."""
        timeout.cancel()

    def add_future(
        self,
        future: asyncio.Future[_T] | concurrent.futures.Future[_T],
        callback: Callable[[Any], Any],
    ) -> None:
        """Call ``callback(future)`` on this loop once ``future`` is done."""
        if isinstance(future, concurrent.futures.Future):
            future.add_done_callback(lambda done: self.add_callback(callback, done))
        else:
            future.add_done_callback(lambda done: self._run_callback(lambda: callback(done)))

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[..., _T],
        *args: Any,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (None: the loop's default executor)."""
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use ``executor`` for :meth:`run_in_executor` calls that pass None."""
        self.asyncio_loop.set_default_executor(executor)

    def _run_callback(self, callback: Callable[[], Any]) -> None:
        try:
            result = callback()
        except Exception:
            app_log.exception("Exception in callback %r", callback)
            return
        if inspect.isawaitable(result):
            task = _as_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            app_log.error("Exception in callback", exc_info=task.exception())


class PeriodicCallback:
    """Call ``callback`` every ``callback_time`` milliseconds once ``start()`` is called.

    As in Tornado: a call that overruns skips the missed runs rather than queueing
    them; a coroutine callback is awaited before the next run is scheduled;
    ``jitter`` (0-1) spreads each interval by up to that fraction either way.
    """

    def __init__(
        self,
        callback: Callable[[], Any],
        callback_time: float | datetime.timedelta,
        jitter: float = 0,
    ) -> None:
        if isinstance(callback_time, datetime.timedelta):
            callback_time = callback_time.total_seconds() * 1000
        if callback_time <= 0:
            raise ValueError(f"callback_time must be positive, got {callback_time!r}")
        self.callback = callback
        self.callback_time = callback_time
        self.jitter = jitter
        self._running = False
        self._timeout: asyncio.TimerHandle | None = None
        self._io_loop: IOLoop | None = None
        self._next_timeout = 0.0

    def start(self) -> None:
        """Start calling (the first call is one interval from now)."""
        self._io_loop = IOLoop.current()
        self._running = True
        self._next_timeout = self._io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        """Stop calling the callback; a call in progress finishes."""
        self._running = False
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def is_running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    def _run(self) -> None:
        if not self._running:
            return
        try:
            result = self.callback()
        except Exception:
            app_log.exception("Exception in callback %r", self.callback)
            result = None
        if inspect.isawaitable(result):
            assert self._io_loop is not None
            task = _as_future(result)
            self._io_loop._tasks.add(task)
            task.add_done_callback(self._after_coroutine)
        else:
            self._schedule_next()

    def _after_coroutine(self, task: asyncio.Future[Any]) -> None:
        assert self._io_loop is not None
        self._io_loop._task_done(task)
        self._schedule_next()

    def _schedule_next(self) -> None:
        if not self._running:
            return
        assert self._io_loop is not None
        current = self._io_loop.time()
        period = self.callback_time / 1000.0
        if self.jitter:
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next_timeout <= current:
            # Skip the runs that an overrunning callback missed.
            missed = math.floor((current - self._next_timeout) / period)
            self._next_timeout += (missed + 1) * period
        else:
            # The timer fired a little early (clock resolution): still one period on.
            self._next_timeout += period
        self._timeout = self._io_loop.call_at(self._next_timeout, self._run)


def _as_future(awaitable: Awaitable[_T]) -> asyncio.Future[_T]:
    return asyncio.ensure_future(awaitable)
