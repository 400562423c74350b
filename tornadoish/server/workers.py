"""Supervisor of worker processes: spawn, restart, forward signals (layer: server).

The supervisor binds the listening sockets itself and hands one to each worker as an
inherited file descriptor (``--fd``), so a port of 0 resolves once and a restarted
worker serves the very socket its predecessor did. On Linux each worker gets its own
``SO_REUSEPORT`` socket on the shared port and the kernel spreads connections between
them; elsewhere (and for unix sockets and ``fd``) all workers share one socket.

The supervisor knows nothing of the app: it runs a command per worker, built by the
caller (the CLI re-executes itself). The reloader reuses it with one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence

from tornadoish.server.binding import (
    bind_sockets,
    format_address,
    remove_unix_socket_files,
    unix_socket_files,
)
from tornadoish.server.config import ServerConfig
from tornadoish.server.runner import EXIT_ERROR, EXIT_OK, EXIT_STARTUP_FAILED

__all__ = [
    "SUPERVISOR_PID_ENV",
    "Supervisor",
    "WorkerCommand",
    "reuse_port_available",
    "run_workers",
]

logger = logging.getLogger("tornadoish.server.error")

WorkerCommand = Callable[[int], Sequence[str]]
"""Builds the argv of a worker process that serves the listening socket ``fd``."""

# Set in each worker's environment: the supervisor's pid. A worker whose parent is no
# longer that process (the supervisor was killed outright) shuts itself down; see
# tornadoish.cli, which watches for it.
SUPERVISOR_PID_ENV = "TORNADOISH_SUPERVISOR_PID"

# A worker that dies sooner than this after its start is restarted only after this
# long: a crash loop (a bug hit on the first request, say) must not eat a CPU.
_RESTART_BACKOFF = 1.0
# Beyond the workers' own graceful shutdown and lifespan budgets, how long to wait
# for them to exit before they are killed.
_EXIT_MARGIN = 5.0


def reuse_port_available() -> bool:
    """True where ``SO_REUSEPORT`` balances connections between sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bind_for_workers(config: ServerConfig, count: int) -> list[socket.socket]:
    """One socket per worker with SO_REUSEPORT, else one socket shared by all."""
    if config.fd is not None or config.uds is not None or not reuse_port_available():
        return bind_sockets(config)
    first = bind_sockets(config, reuse_port=True)
    sockets = list(first)
    try:
        # A port of 0 was resolved by the first bind; the others join that port.
        same_port = dataclasses.replace(config, port=first[0].getsockname()[1])
        for _ in range(count - 1):
            sockets.extend(bind_sockets(same_port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclasses.dataclass(slots=True)
class _Worker:
    index: int
    fd: int
    process: asyncio.subprocess.Process | None = None
    restarting: bool = False


class Supervisor:
    """Keeps ``count`` worker processes running until SIGINT/SIGTERM or ``stop()``.

    A worker that exits unexpectedly is started again, except after
    ``EXIT_STARTUP_FAILED`` (binding, import or lifespan startup failed: it would only
    fail again), which stops all of them. The first SIGINT/SIGTERM is forwarded to
    every worker (graceful shutdown); a second one is forwarded too (forced exit).
    """

    def __init__(
        self,
        command: WorkerCommand,
        config: ServerConfig,
        *,
        count: int,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count!r}")
        self._command = command
        self._config = config
        self._count = count
        self._workers: list[_Worker] = []
        self._stopping: asyncio.Event | None = None
        self._signals_received = 0
        self._failure: int | None = None

    async def run(self) -> int:
        """Bind, run the workers until stopped, and return the exit code."""
        self._stopping = asyncio.Event()
        sockets = _bind_for_workers(self._config, self._count)
        # Workers get the socket by fd and leave its file alone; it is ours to remove.
        files = unix_socket_files(sockets) if self._config.fd is None else {}
        try:
            for sock in sockets:
                os.set_inheritable(sock.fileno(), True)
            self._workers = [
                _Worker(index, sockets[index % len(sockets)].fileno())
                for index in range(self._count)
            ]
            with self._signal_handling():
                logger.info(
                    "Supervisor [%d] runs %d worker(s) on %s",
                    os.getpid(),
                    self._count,
                    _describe(sockets, self._config),
                )
                codes = await asyncio.gather(*(self._keep_running(w) for w in self._workers))
        finally:
            for sock in sockets:
                sock.close()
            remove_unix_socket_files(files)
        if self._failure is not None:
            return self._failure
        if self._signals_received > 1:
            return EXIT_ERROR
        return EXIT_OK if all(code == 0 for code in codes) else EXIT_ERROR

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Ask every worker to shut down gracefully (or, the second time, at once).
        Call it on the supervisor's event loop."""
        if self._stopping is None:
            raise RuntimeError("the supervisor is not running")
        self._stopping.set()
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.process.send_signal(sig)

    def restart_all(self) -> None:
        """Replace every worker by a fresh process (the reloader calls this). Call it
        on the supervisor's event loop."""
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                worker.restarting = True
                worker.process.send_signal(signal.SIGTERM)

    async def _keep_running(self, worker: _Worker) -> int:
        assert self._stopping is not None
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            # A process group of its own: a terminal's Ctrl-C reaches the supervisor
            # only, which forwards it once (twice would force the worker's exit).
            worker.process = await asyncio.create_subprocess_exec(
                *self._command(worker.fd),
                pass_fds=(worker.fd,),
                process_group=0,
                env={**os.environ, SUPERVISOR_PID_ENV: str(os.getpid())},
            )
            if self._stopping.is_set():
                # A signal came while this worker was being spawned.
                worker.process.send_signal(signal.SIGTERM)
            code = await worker.process.wait()
            if self._stopping.is_set():
                return code
            if worker.restarting:
                worker.restarting = False
                continue
            if code == EXIT_STARTUP_FAILED:
                logger.error("worker %d failed to start; stopping", worker.process.pid)
                self._failure = code
                self.stop()
                return code
            logger.warning(
                "worker %d exited unexpectedly (code %d); starting another",
                worker.process.pid,
                code,
            )
            if loop.time() - started < _RESTART_BACKOFF:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), _RESTART_BACKOFF)
                if self._stopping.is_set():
                    return code

    @contextlib.contextmanager
    def _signal_handling(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            # NotImplementedError on Windows, RuntimeError outside the main thread:
            # then stop() is the only way to end the workers.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    def _on_signal(self, sig: int) -> None:
        self._signals_received += 1
        name = signal.Signals(sig).name
        if self._signals_received == 1:
            logger.info("Supervisor: %s received; stopping the workers", name)
            self.stop(sig)
        else:
            logger.warning("Supervisor: second %s; forcing the workers to exit", name)
            self.stop(sig)
            asyncio.get_running_loop().call_later(_EXIT_MARGIN, self._kill_all)
        if self._signals_received == 1:
            budget = (
                self._config.timeout_graceful_shutdown
                + self._config.timeout_lifespan_shutdown
                + _EXIT_MARGIN
            )
            asyncio.get_running_loop().call_later(budget, self._kill_all)

    def _kill_all(self) -> None:
        for worker in self._workers:
            if worker.process is not None and worker.process.returncode is None:
                logger.warning("worker %d did not exit in time; killing it", worker.process.pid)
                worker.process.kill()


def _describe(sockets: list[socket.socket], config: ServerConfig) -> str:
    name = sockets[0].getsockname()
    if sockets[0].family == socket.AF_UNIX:
        return format_address(str(name))
    tls = config.ssl_certfile is not None
    return format_address((str(name[0]), int(name[1])), tls=tls)


def run_workers(command: WorkerCommand, config: ServerConfig) -> int:
    """Run ``config.workers`` worker processes until signalled; return the exit code.

    POSIX only: workers inherit their socket as a file descriptor.
    """
    if os.name != "posix":  # pragma: no cover - exercised on Windows only
        logger.error("several workers need a POSIX system (sockets passed by fd)")
        return EXIT_STARTUP_FAILED
    try:
        return asyncio.run(Supervisor(command, config, count=config.workers).run())
    except OSError as exc:
        logger.error("%s", exc)
        return EXIT_STARTUP_FAILED
