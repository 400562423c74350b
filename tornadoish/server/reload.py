"""Development reloader: restart the server process when Python files change (layer: server).

Needs the optional ``watchfiles`` package (``pip install 'tornadoish[reload]'``). The
reloader is a supervisor of one worker: it binds the socket once, so the port stays
the same across restarts and no request meets a closed port between two processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import os
from collections.abc import Sequence

from tornadoish.server.config import ServerConfig
from tornadoish.server.runner import EXIT_STARTUP_FAILED
from tornadoish.server.workers import Supervisor, WorkerCommand

__all__ = ["reload_available", "run_with_reload"]

logger = logging.getLogger("tornadoish.server.error")


def reload_available() -> bool:
    """True when ``watchfiles`` can be imported."""
    return importlib.util.find_spec("watchfiles") is not None


def run_with_reload(
    command: WorkerCommand, config: ServerConfig, *, watch: Sequence[str] = ()
) -> int:
    """Run one server process and restart it whenever a ``.py`` file under ``watch``
    (default: the current directory) changes; return the exit code.

    Raises ``RuntimeError`` when ``watchfiles`` is not installed.
    """
    if not reload_available():
        raise RuntimeError("--reload needs watchfiles: pip install 'tornadoish[reload]'")
    paths = list(watch) or [os.getcwd()]
    try:
        return asyncio.run(_supervise_and_watch(command, config, paths))
    except OSError as exc:
        logger.error("%s", exc)
        return EXIT_STARTUP_FAILED


async def _supervise_and_watch(
    command: WorkerCommand, config: ServerConfig, paths: list[str]
) -> int:
    import watchfiles

    supervisor = Supervisor(command, dataclasses.replace(config, workers=1), count=1)
    stop_watching = asyncio.Event()

    async def watch_and_restart() -> None:
        async for changes in watchfiles.awatch(
            *paths, watch_filter=watchfiles.PythonFilter(), stop_event=stop_watching
        ):
            changed = sorted({path for _, path in changes})
            logger.warning("Changes in %s; restarting", ", ".join(changed))
            supervisor.restart_all()

    watcher = asyncio.create_task(watch_and_restart(), name="reload watcher")
    try:
        return await supervisor.run()
    finally:
        stop_watching.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
