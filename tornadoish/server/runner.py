"""Bind, serve and shut down gracefully: the process-level shell around connections (layer: server).

``serve()`` is the whole life of one server process: bind, lifespan startup, serve
until SIGINT/SIGTERM or ``Server.stop()``, graceful shutdown, lifespan shutdown.
``run()`` wraps it in an event loop and turns the outcome into an exit code.
``listen()`` is Tornado's ``app.listen(port)``: bind now, serve once the loop runs.

Graceful shutdown, in order: stop accepting; ``shutdown()`` every connection (idle
keep-alive connections close at once, busy ones after their in-flight response);
wait up to ``timeout_graceful_shutdown``; abort what remains (the protocol cancels
the request task in ``connection_lost``); lifespan shutdown with its own timeout.
A second signal skips the waiting and the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from tornadoish.server.binding import (
    Address,
    address_of,
    bind_sockets,
    format_address,
    remove_unix_socket_files,
    ssl_context,
    unix_socket_files,
)
from tornadoish.server.config import ServerConfig
from tornadoish.server.lifespan import Lifespan, LifespanError
from tornadoish.server.state import ServerState
from tornadoish.types import ASGIApp

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_STARTUP_FAILED",
    "Address",
    "Server",
    "bind_sockets",
    "listen",
    "remove_unix_socket_files",
    "run",
    "serve",
    "start_server",
    "unix_socket_files",
]

logger = logging.getLogger("tornadoish.server.error")

# Exit codes of run() and of the CLI. A supervisor does not restart a worker that
# exits with EXIT_STARTUP_FAILED: it would only fail again.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_STARTUP_FAILED = 3

# After the grace period, aborted transports report connection_lost on the next loop
# iterations; this bounds that wait (and the listening sockets' wait_closed) so that a
# misbehaving protocol cannot hang the shutdown.
_ABORT_WAIT = 2.0

# -- the server --------------------------------------------------------------------------


class Server:
    """One listening server: its sockets, connections, lifespan and shutdown.

    Made by ``start_server()`` or ``listen()``. ``stop()`` begins a graceful shutdown
    and returns at once; ``close()`` does the same and waits for it to finish (also on
    leaving ``async with await start_server(app, config) as server:``).
    """

    def __init__(
        self,
        app: ASGIApp,
        config: ServerConfig,
        sockets: list[socket.socket],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.config = config
        self.state = ServerState()
        self._sockets = sockets
        self._addresses = [address_of(sock) for sock in sockets]
        # Socket files this server created (from config.uds), removed when it closes. A
        # socket handed over by fd belongs to whoever bound it (a supervisor, systemd).
        self._unix_files = unix_socket_files(sockets) if config.fd is None else {}
        self._ssl_context = ssl_context
        self._lifespan = Lifespan(app, config, self.state.lifespan_state)
        self._servers: list[asyncio.Server] = []
        self._transports: dict[object, asyncio.BaseTransport] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all_closed = asyncio.Event()
        self._all_closed.set()
        self._forced_event = asyncio.Event()
        self._closed = asyncio.Event()
        self._start_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._close_error: LifespanError | None = None
        self.forced = False
        """True once ``force_close()`` ran (second signal)."""

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets (the server closes them on shutdown)."""
        return list(self._sockets)

    @property
    def addresses(self) -> list[Address]:
        """Where the server listens, with the actual port when the config said 0."""
        return list(self._addresses)

    @property
    def port(self) -> int | None:
        """The first TCP port listened on, or None for a unix socket only."""
        for address in self._addresses:
            if not isinstance(address, str):
                return address[1]
        return None

    @property
    def urls(self) -> list[str]:
        """The addresses as printed: ``http://127.0.0.1:8888``, ``unix:/run/app.sock``."""
        tls = self._ssl_context is not None
        return [format_address(address, tls=tls) for address in self._addresses]

    def stop(self) -> None:
        """Begin a graceful shutdown and return at once. Safe from any thread."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the server was never started")
        if _running_loop() is loop:
            self._begin_close()
        else:
            loop.call_soon_threadsafe(self._begin_close)

    async def close(self) -> None:
        """Shut down gracefully and wait for it. Raises ``LifespanError`` if the
        app's lifespan shutdown failed."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        await asyncio.shield(self._begin_close())
        if self._close_error is not None:
            raise self._close_error

    async def wait_closed(self) -> None:
        """Wait until a shutdown begun by ``stop()``, ``close()`` or a signal is done."""
        await self._closed.wait()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def force_close(self) -> None:
        """Abort every connection now and skip the lifespan shutdown (second Ctrl-C)."""
        self.forced = True
        self._forced_event.set()
        self._abort_all()
        if self._loop is not None:
            self._begin_close()

    # -- internals -------------------------------------------------------------------------

    async def _start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        try:
            await self._lifespan.startup()
            factory = _protocol_factory(self)
            for sock in self._sockets:
                self._servers.append(
                    await loop.create_server(
                        factory, sock=sock, backlog=self.config.backlog, ssl=self._ssl_context
                    )
                )
        except BaseException:
            self._close_listeners()
            raise
        for url in self.urls:
            logger.info("Serving on %s", url)

    def _on_start_done(self, task: asyncio.Task[None]) -> None:
        """For ``listen()`` inside a running loop: nobody awaits the start, so report."""
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("the server could not start: %s", error, exc_info=error)
            self._begin_close()

    def _begin_close(self) -> asyncio.Task[None]:
        if self._close_task is None:
            assert self._loop is not None
            self._close_task = self._loop.create_task(self._close(), name="server shutdown")
        return self._close_task

    async def _close(self) -> None:
        try:
            start = self._start_task
            if start is not None and not start.done():
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await start
            await self._close_connections()
            if not self.forced:
                try:
                    await self._lifespan.shutdown()
                except LifespanError as exc:
                    self._close_error = exc
                    logger.error("%s", exc)
        finally:
            self._closed.set()

    async def _close_connections(self) -> None:
        self.state.shutting_down = True
        self._close_listeners()
        for connection in list(self.state.connections):
            connection.shutdown()
        grace = self.config.timeout_graceful_shutdown
        if self._transports and not self.forced:
            logger.info("Waiting up to %g s for %d connection(s)", grace, len(self._transports))
        if not await self._wait_for_connections(grace):
            if not self.forced:
                logger.warning(
                    "%d connection(s) still busy after %g s; closing them",
                    len(self._transports),
                    grace,
                )
            self._abort_all()
            await self._wait_for_connections(_ABORT_WAIT, respect_force=False)
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), _ABORT_WAIT)

    async def _wait_for_connections(self, within: float, *, respect_force: bool = True) -> bool:
        """True when every connection closed ``within`` seconds (and no force came)."""
        if self._all_closed.is_set():
            return True
        waits = {asyncio.ensure_future(self._all_closed.wait())}
        if respect_force:
            waits.add(asyncio.ensure_future(self._forced_event.wait()))
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        return self._all_closed.is_set() and not (respect_force and self.forced)

    def _abort_all(self) -> None:
        for transport in list(self._transports.values()):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            else:  # pragma: no cover - every stream transport is a WriteTransport
                transport.close()

    def _close_listeners(self) -> None:
        for server in self._servers:
            server.close()
        for sock in self._sockets:
            sock.close()
        remove_unix_socket_files(self._unix_files)
        self._unix_files.clear()

    def _connection_made(self, protocol: object, transport: asyncio.BaseTransport) -> None:
        self._transports[protocol] = transport
        self._all_closed.clear()

    def _connection_lost(self, protocol: object) -> None:
        self._transports.pop(protocol, None)
        if not self._transports:
            self._all_closed.set()


def _protocol_factory(server: Server) -> Callable[[], asyncio.Protocol]:
    """A factory of ``HTTPProtocol`` subclasses that report to ``server``.

    The runner keeps its own reference to each transport (from ``connection_made``), so
    it can abort what is left after the grace period whatever the protocol exposes, and
    it learns of each ``connection_lost`` without polling.
    """
    # Imported here so that importing the runner (the CLI, listen()) stays light.
    from tornadoish.server.protocol import HTTPProtocol

    class _TrackedHTTPProtocol(HTTPProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            server._connection_made(self, transport)
            super().connection_made(transport)
            if server.state.shutting_down:
                # Accepted just before the listener closed: it missed the shutdown() call.
                self.shutdown()

        def connection_lost(self, exc: Exception | None) -> None:
            try:
                super().connection_lost(exc)
            finally:
                server._connection_lost(self)

    app, config, state = server.app, server.config, server.state
    return lambda: _TrackedHTTPProtocol(app, config, state)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _current_thread_loop() -> asyncio.AbstractEventLoop:
    """The current thread's event loop, created and set if there is none (as Tornado's
    ``IOLoop.current()`` does), without the deprecation warnings of newer Pythons."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
    return loop


# -- entry points ------------------------------------------------------------------------


async def start_server(app: ASGIApp, config: ServerConfig) -> Server:
    """Bind, run lifespan startup and start serving; return the running ``Server``.

    ``config.workers`` is ignored here: a process serves with one loop, and the
    supervisor (``tornadoish.server.workers``) runs several processes. Raises
    ``OSError`` when binding fails and ``LifespanError`` when startup fails.
    """
    context = ssl_context(config)  # first: a bad certificate must not leak bound sockets
    server = Server(app, config, bind_sockets(config), ssl_context=context)
    await server._start()
    return server


async def serve(
    app: ASGIApp, config: ServerConfig, *, ready: Callable[[Server], None] | None = None
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM or ``Server.stop()``, then shut down gracefully.

    ``ready`` is called with the server once it listens. Signal handlers are installed
    only in the main thread; a second signal forces the exit. Raises ``OSError`` when
    binding fails and ``LifespanError`` when lifespan startup or shutdown fails.
    """
    await _serve(app, config, ready)


async def _serve(app: ASGIApp, config: ServerConfig, ready: Callable[[Server], None] | None) -> int:
    # Handlers first: a signal during startup cancels it rather than killing the
    # process half-way (SIGTERM's default) with a lifespan task running.
    with _signal_handling() as signals:
        server = await start_server(app, config)
        signals.server = server
        try:
            if ready is not None:
                ready(server)
            await server.wait_closed()
        finally:
            await server.close()
    return EXIT_ERROR if server.forced else EXIT_OK


class _Signals:
    """What SIGINT/SIGTERM do: cancel startup; then graceful shutdown; then force."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.server: Server | None = None
        self.received = 0
        self._task = task

    def __call__(self, signum: int) -> None:
        self.received += 1
        name = signal.Signals(signum).name
        if self.server is None:
            logger.info("Startup interrupted by %s", name)
            if self._task is not None:
                self._task.cancel()
        elif self.received == 1 or not self.server.state.shutting_down:
            logger.info("Shutting down on %s (send it again to force)", name)
            self.server.stop()
        else:
            logger.warning("Forced exit on a second %s", name)
            self.server.force_close()


@contextlib.contextmanager
def _signal_handling() -> Iterator[_Signals]:
    """Install ``_Signals`` for SIGINT/SIGTERM (main thread only) and restore after."""
    signals = _Signals(asyncio.current_task())
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, signals, sig)
        except NotImplementedError:  # pragma: no cover - Windows

            def fallback(signum: int, frame: FrameType | None) -> None:
                loop.call_soon_threadsafe(signals, signum)

            signal.signal(sig, fallback)
    try:
        yield signals
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for "uvloop" (an error if missing) and "auto" (if importable)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise OSError("loop 'uvloop' was asked for but uvloop is not installed")
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(app: ASGIApp, config: ServerConfig) -> int:
    """Serve ``app`` in this thread until signalled; return the process exit code.

    ``EXIT_OK`` after a graceful shutdown; ``EXIT_STARTUP_FAILED`` when binding or
    lifespan startup fails; ``EXIT_ERROR`` after a forced exit (second signal) or a
    failed lifespan shutdown. Failures are logged as one line on
    ``tornadoish.server.error``. ``config.workers > 1`` needs the app as an import
    string, so it is the CLI's job: ``python -m tornadoish module:app --workers N``.
    """
    if config.workers > 1:
        raise ValueError(
            "workers > 1 needs the app as an import string: "
            "python -m tornadoish module:app --workers N"
        )
    started = False

    def ready(server: Server) -> None:
        nonlocal started
        started = True

    try:
        factory = _loop_factory(config.loop)
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_serve(app, config, ready))
    except LifespanError as exc:
        if started:  # shutdown failed; Server.close() logged it
            return EXIT_ERROR
        logger.error("%s", exc)
        return EXIT_STARTUP_FAILED
    except OSError as exc:
        logger.error("%s", exc)
        return EXIT_STARTUP_FAILED
    except (KeyboardInterrupt, asyncio.CancelledError):
        # A signal during startup (see _Signals), or Ctrl-C before the handlers.
        return EXIT_ERROR


def listen(app: ASGIApp, config: ServerConfig) -> Server:
    """Bind now and serve on the current thread's event loop (Tornado's ``app.listen``).

    Outside a running loop the lifespan startup runs to completion on the current
    thread's loop before this returns (binding errors and startup failures raise
    here); serving begins when the loop runs (``IOLoop.current().start()``). Inside a
    running loop the sockets are bound at once and startup continues in a task the
    server keeps; a startup failure there is logged and the server closes. No signal
    handlers are installed: stop with ``Server.stop()`` or ``await Server.close()``.
    """
    context = ssl_context(config)  # first: a bad certificate must not leak bound sockets
    server = Server(app, config, bind_sockets(config), ssl_context=context)
    loop = _running_loop()
    if loop is None:
        _current_thread_loop().run_until_complete(server._start())
        return server
    server._loop = loop
    server._start_task = loop.create_task(server._start(), name="server startup")
    server._start_task.add_done_callback(server._on_start_done)
    return server
