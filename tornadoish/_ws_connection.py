"""An accepted websocket's outbox and the task that sends it (layer: framework)."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import anyio

from tornadoish import _asgi
from tornadoish.log import app_log

__all__ = ["Close", "Connection", "Ping", "WriteAwaitable"]


class Close:
    """A queued close frame."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class Ping:
    """A queued ping frame."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


_Outgoing = str | bytes | Close | Ping


class Connection:
    """An accepted websocket: the ordered outbox and the task that sends it."""

    def __init__(self, channel: _asgi.WebSocketChannel) -> None:
        self._channel = channel
        self._outbox: deque[_Outgoing] = deque()
        self._queued = 0  # messages ever queued; a message's number is its position
        self._sent = 0
        self.closing = False  # we queued a close frame
        self.closed = False  # the connection is over: nothing more goes out
        self.disconnected = anyio.Event()  # the client's side is closed too
        self._wakeup: anyio.Event | None = None
        self._progress: anyio.Event | None = None
        self.pongs = 0  # pongs received, for the keepalive
        # The receive loop waits for the client: every event the server had queued
        # has been handled (the keepalive looks for its pong only then). Servers that
        # offer pings (ours, the testing helper) return a queued event from receive()
        # without yielding, so the keepalive never sees this set while one waits.
        self.idle = False
        self._idle_event: anyio.Event | None = None

    @property
    def can_ping(self) -> bool:
        """The server offers ping frames (our server's private extension)."""
        return self._channel.can_control

    def set_idle(self, idle: bool) -> None:
        self.idle = idle
        if idle and self._idle_event is not None:
            self._idle_event.set()
            self._idle_event = None

    async def wait_idle(self) -> None:
        """Return at a moment when the receive loop waits for the client."""
        while not self.idle:
            if self._idle_event is None:
                self._idle_event = anyio.Event()
            await self._idle_event.wait()

    def put(self, item: _Outgoing) -> int:
        """Queue ``item``; returns its number, for ``wait_sent``."""
        self._outbox.append(item)
        self._queued += 1
        if self._wakeup is not None:
            self._wakeup.set()
        return self._queued

    async def wait_sent(self, number: int) -> None:
        """Return once message ``number`` went to the server; WebSocketClosedError
        if the connection ended before that."""
        while self._sent < number:
            if self.closed:
                # The public error lives with the handler, which imports this module.
                from tornadoish.websocket import WebSocketClosedError

                raise WebSocketClosedError()
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    def finish(self) -> None:
        """The connection is over: drop what is queued and release the waiters."""
        self.closed = True
        self._outbox.clear()
        self._notify()

    def _notify(self) -> None:
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    async def run_sender(self, give_up: anyio.CancelScope, close_timeout: float) -> None:
        """Send queued items in order until the connection ends. After a close frame,
        wait (at most ``close_timeout`` seconds) for the client's answer, then cancel
        ``give_up``."""
        channel = self._channel
        while True:
            while not self._outbox:
                self._wakeup = anyio.Event()
                await self._wakeup.wait()
                self._wakeup = None
            item = self._outbox.popleft()
            try:
                if isinstance(item, str):
                    await channel.send_text(item)
                elif isinstance(item, bytes):
                    await channel.send_bytes(item)
                elif isinstance(item, Ping):
                    await channel.ping(item.data)
                else:
                    await channel.close(item.code, item.reason)
            except _asgi.ClientGone:
                self.finish()
                return
            except Exception:
                # The server refused a message ASGI allows: its bug or ours, not the
                # client's. Log it and end the connection rather than the handler.
                app_log.error("websocket send failed", exc_info=True)
                self.finish()
                give_up.cancel()
                return
            self._sent += 1
            self._notify()
            if isinstance(item, Close):
                self.finish()
                with anyio.move_on_after(close_timeout):
                    await self.disconnected.wait()
                give_up.cancel()
                return


class WriteAwaitable:
    """What ``write_message()`` returns: awaiting it waits until the message went to
    the server (flow control); not awaiting it is fine, the message still goes out."""

    __slots__ = ("_connection", "_number")

    def __init__(self, connection: Connection, number: int) -> None:
        self._connection = connection
        self._number = number

    def __await__(self) -> Generator[Any, None, None]:
        return self._connection.wait_sent(self._number).__await__()
