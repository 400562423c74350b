"""The deadlines of one HTTP/1.1 connection, as event-loop timer handles (layer: server).

One :class:`ConnectionTimers` per :class:`~tornadoish.server.protocol.HTTPProtocol`. The
timers are loop handles, all cancelled by :meth:`ConnectionTimers.cancel` (which the
protocol calls in ``connection_lost`` whatever the cause, and when it closes):

* head deadline (``timeout_request_head``): armed when a connection opens or when the
  first byte of a new request head arrives, never reset per byte (slowloris);
* keep-alive (``timeout_keep_alive``): idle time between requests;
* body (``timeout_body``): silence while the app waits in ``receive()``;
* linger (:data:`LINGER_SECONDS`): how long a lingering close discards input.

What a deadline does when it passes is the protocol's business: it passes the callbacks
(a passed keep-alive deadline and the end of a lingering close both just close the
connection).

The head and keep-alive deadlines share one loop handle, re-armed lazily: between two
keep-alive requests only the deadline (a float) moves, and when the handle fires early
it re-arms itself for the deadline then current. A busy connection thus schedules about
one timer per timeout period instead of two ``call_later`` and two cancellations per
request (~7% of the server's time per request before).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from tornadoish.server.config import ServerConfig

__all__ = ["LINGER_SECONDS", "ConnectionTimers"]

# After an error response (or an early one) the client may still be sending. Closing a
# socket with unread bytes makes the kernel send a reset, which can destroy the response
# before the client reads it; so we half-close, discard what arrives for at most this
# long, then close (a "lingering close").
LINGER_SECONDS: Final = 1.0

_NONE: Final = 0
_HEAD: Final = 1
_KEEP_ALIVE: Final = 2
_KIND_NAMES: Final = (None, "head", "keep-alive")


class ConnectionTimers:
    """The head, keep-alive, body and linger deadlines of one connection.

    ``idle`` is the loop handle behind the head and keep-alive deadlines, ``body`` and
    ``linger`` their own; each is None when not scheduled. The linger callback is the
    close itself, which cancels every timer.
    """

    loop: asyncio.AbstractEventLoop

    def __init__(
        self,
        config: ServerConfig,
        *,
        on_head: Callable[[], None],
        on_body: Callable[[], None],
        close: Callable[[], None],
    ) -> None:
        self.config = config
        self._on_head = on_head
        self._on_body = on_body
        # The keep-alive deadline and the end of a lingering close both just close.
        self._close = close
        # Which of the head and keep-alive deadlines runs, and until when (loop time).
        self._idle_kind = _NONE
        self._idle_deadline = 0.0
        self.idle: asyncio.TimerHandle | None = None
        self.body: asyncio.TimerHandle | None = None
        self.linger: asyncio.TimerHandle | None = None

    @property
    def idle_deadline(self) -> str | None:
        """``"head"`` or ``"keep-alive"``: the idle deadline that runs, if any."""
        return _KIND_NAMES[self._idle_kind]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The connection opened: the head deadline runs from now."""
        self.loop = loop
        self._arm_idle(_HEAD, self.config.timeout_request_head)

    def head_started(self) -> None:
        """Bytes arrived: if the connection was idle between requests, this is the first
        byte of a new request head and the absolute head deadline starts now."""
        if self._idle_kind == _KEEP_ALIVE:
            self._arm_idle(_HEAD, self.config.timeout_request_head)

    def arm_idle(self, *, head_in_progress: bool) -> None:
        """No request in flight: a head deadline if part of a head is in, else keep-alive."""
        if self._idle_kind != _NONE:
            return
        if head_in_progress:
            self._arm_idle(_HEAD, self.config.timeout_request_head)
        else:
            self._arm_idle(_KEEP_ALIVE, self.config.timeout_keep_alive)

    def cancel_idle(self) -> None:
        """A request head is complete: neither the head nor the keep-alive deadline runs.

        The handle stays scheduled (cheaper than cancelling it each request); when it
        fires with no deadline running it does nothing.
        """
        self._idle_kind = _NONE

    def start_body(self) -> None:
        """The app waits for body bytes: arm the body deadline unless it runs already."""
        if self.body is None:
            self.body = self.loop.call_later(self.config.timeout_body, self._body_passed)

    def stop_body(self) -> None:
        if self.body is not None:
            self.body.cancel()
            self.body = None

    def start_linger(self) -> None:
        """A lingering close began: close after :data:`LINGER_SECONDS`."""
        self.linger = self.loop.call_later(LINGER_SECONDS, self._close)

    def cancel(self) -> None:
        """Cancel every timer."""
        self._idle_kind = _NONE
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None
        self.stop_body()

    def _arm_idle(self, kind: int, timeout: float) -> None:
        deadline = self.loop.time() + timeout
        self._idle_kind = kind
        self._idle_deadline = deadline
        handle = self.idle
        if handle is not None:
            if handle.when() <= deadline:
                return  # it fires first and re-arms itself for the deadline
            handle.cancel()
        self.idle = self.loop.call_at(deadline, self._idle_fired)

    def _idle_fired(self) -> None:
        self.idle = None
        kind = self._idle_kind
        if kind == _NONE:
            return
        if self.loop.time() < self._idle_deadline:
            self.idle = self.loop.call_at(self._idle_deadline, self._idle_fired)
            return
        self._idle_kind = _NONE
        if kind == _HEAD:
            self._on_head()
        else:
            self._close()

    def _body_passed(self) -> None:
        self.body = None
        self._on_body()
