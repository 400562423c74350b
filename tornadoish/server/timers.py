"""The deadlines of one HTTP/1.1 connection, as event-loop timer handles (layer: server).

One :class:`ConnectionTimers` per :class:`~tornadoish.server.protocol.HTTPProtocol`. The
timers are loop handles, all cancelled by :meth:`ConnectionTimers.cancel` (which the
protocol calls in ``connection_lost`` whatever the cause, and when it closes):

* head deadline (``timeout_request_head``): armed when a connection opens or when the
  first byte of a new request head arrives, never reset per byte (slowloris);
* keep-alive (``timeout_keep_alive``): idle time between requests;
* body (``timeout_body``): silence while the app waits in ``receive()``;
* linger (:data:`LINGER_SECONDS`): how long a lingering close discards input.

Each handle is None when not armed. What a deadline does when it passes is the
protocol's business: it passes the callbacks (a passed keep-alive deadline and the end
of a lingering close both just close the connection).
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


class ConnectionTimers:
    """The head, keep-alive, body and linger deadlines of one connection.

    The head, keep-alive and body handles are cleared (set to None) just before their
    callback runs; the linger callback is the close itself, which cancels every timer.
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
        self.head: asyncio.TimerHandle | None = None
        self.keep_alive: asyncio.TimerHandle | None = None
        self.body: asyncio.TimerHandle | None = None
        self.linger: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The connection opened: the head deadline runs from now."""
        self.loop = loop
        self.head = loop.call_later(self.config.timeout_request_head, self._head_passed)

    def head_started(self) -> None:
        """Bytes arrived: if the connection was idle between requests, this is the first
        byte of a new request head and the absolute head deadline starts now."""
        if self.keep_alive is not None:
            self.keep_alive.cancel()
            self.keep_alive = None
            self.head = self.loop.call_later(self.config.timeout_request_head, self._head_passed)

    def arm_idle(self, *, head_in_progress: bool) -> None:
        """No request in flight: a head deadline if part of a head is in, else keep-alive."""
        if self.head is not None or self.keep_alive is not None:
            return
        if head_in_progress:
            self.head = self.loop.call_later(self.config.timeout_request_head, self._head_passed)
        else:
            self.keep_alive = self.loop.call_later(
                self.config.timeout_keep_alive, self._keep_alive_passed
            )

    def cancel_idle(self) -> None:
        """A request head is complete: neither the head nor the keep-alive deadline runs."""
        if self.head is not None:
            self.head.cancel()
            self.head = None
        if self.keep_alive is not None:
            self.keep_alive.cancel()
            self.keep_alive = None

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
        self.cancel_idle()
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None
        self.stop_body()

    def _head_passed(self) -> None:
        self.head = None
        self._on_head()

    def _keep_alive_passed(self) -> None:
        self.keep_alive = None
        self._close()

    def _body_passed(self) -> None:
        self.body = None
        self._on_body()
