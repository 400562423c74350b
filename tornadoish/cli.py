"""The command line: ``python -m tornadoish module:app [options]`` (layer: composition root).

Imports the user's app and ``tornadoish.server`` only, never the framework. Every
failure to start is one line on stderr and a non-zero exit code, never a traceback:
2 for a usage error, 3 (``EXIT_STARTUP_FAILED``) when the app cannot be imported,
the socket cannot be bound or lifespan startup fails.

This is the only place that configures logging: a stderr handler at ``--log-level``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from tornadoish.server.config import ServerConfig
from tornadoish.types import ASGIApp

__all__ = ["AppImportError", "build_parser", "config_to_args", "import_app", "main"]

EXIT_USAGE = 2
# How often a worker checks that its supervisor still lives: the delay before an
# orphaned worker starts its graceful shutdown.
_SUPERVISOR_CHECK_INTERVAL = 0.5

_TIMEOUTS = (
    ("timeout_keep_alive", "seconds an idle keep-alive connection stays open"),
    ("timeout_request_head", "seconds allowed for a whole request head"),
    ("timeout_body", "seconds of silence allowed while the app waits for body bytes"),
    ("timeout_graceful_shutdown", "seconds in-flight requests get after SIGINT/SIGTERM"),
    ("timeout_lifespan_startup", "seconds allowed for the app's lifespan startup"),
    ("timeout_lifespan_shutdown", "seconds allowed for the app's lifespan shutdown"),
)
_LIMITS = (
    ("limit_head_bytes", "largest request line plus headers, in bytes (431 beyond)"),
    ("limit_header_count", "most request headers (431 beyond)"),
    ("limit_uri_bytes", "longest request target, in bytes (414 beyond)"),
    ("limit_body_bytes", "largest request body, in bytes (413 beyond)"),
    ("limit_requests_per_connection", "requests served on one connection before closing it"),
)
# Options that say where to listen: the supervisor replaces them by --fd for workers.
_PLACEMENT = frozenset({"host", "port", "uds", "fd", "workers"})


class AppImportError(Exception):
    """The ``module:attr`` given cannot be turned into an ASGI app; one-line reason."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of usage + message; --help still shows the usage.
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each option's ``dest`` is a ``ServerConfig`` field name."""
    defaults = ServerConfig()
    parser = _Parser(
        prog="python -m tornadoish",
        description="Serve an ASGI app with tornadoish's HTTP/1.1 server.",
        argument_default=None,
    )
    parser.add_argument("app", help="the app as module:attr or path/to/file.py:attr")
    add = parser.add_argument
    add("--host", help=f"interface to bind (default {defaults.host}; '' for all)")
    add("--port", type=int, help=f"TCP port, 0 for any free one (default {defaults.port})")
    add("--uds", metavar="PATH", help="listen on this unix socket instead of TCP")
    add("--fd", type=int, help="serve an already bound and listening socket")
    add("--workers", type=int, metavar="N", help="number of worker processes (default 1)")
    add("--reload", action="store_true", default=False, help="restart on .py file changes")
    add(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        help="logging level of the stderr log (default info)",
    )
    add(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        default=None,
        help="do not log one line per request",
    )
    add(
        "--root-path",
        metavar="PATH",
        help="ASGI root_path: the prefix a proxy mounts the app under",
    )
    add("--proxy-headers", action="store_true", default=None, help="trust X-Forwarded-*")
    add(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated proxy addresses whose headers are trusted ('*' for all)",
    )
    add("--ssl-certfile", metavar="PATH", help="TLS certificate chain (PEM)")
    add("--ssl-keyfile", metavar="PATH", help="TLS private key (PEM)")
    add("--loop", choices=["auto", "asyncio", "uvloop"], help="event loop (auto: uvloop if any)")
    add("--lifespan", choices=["auto", "on", "off"], help="ASGI lifespan mode (default auto)")
    for name, text in _TIMEOUTS:
        default = getattr(defaults, name)
        add(_flag(name), type=float, metavar="SECONDS", help=f"{text}; default {default:g}")
    for name, text in _LIMITS:
        default = getattr(defaults, name)
        shown = "no limit" if default is None else default
        add(_flag(name), type=int, metavar="N", help=f"{text}; default {shown}")
    return parser


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """A ``ServerConfig`` from parsed options; unset options keep the config defaults."""
    fields = {field.name for field in dataclasses.fields(ServerConfig)}
    values: dict[str, Any] = {
        name: value for name, value in vars(args).items() if name in fields and value is not None
    }
    if "forwarded_allow_ips" in values:
        ips = values["forwarded_allow_ips"].split(",")
        values["forwarded_allow_ips"] = tuple(ip.strip() for ip in ips if ip.strip())
    return ServerConfig(**values)


def config_to_args(config: ServerConfig, *, skip: frozenset[str] = frozenset()) -> list[str]:
    """The options that rebuild ``config`` (those differing from the defaults)."""
    defaults = ServerConfig()
    argv: list[str] = []
    for action in build_parser()._actions:
        name = action.dest
        if not action.option_strings or name in skip or not hasattr(config, name):
            continue
        value = getattr(config, name)
        if value == getattr(defaults, name):
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            argv.append(flag)
        elif isinstance(value, tuple):
            argv += [flag, ",".join(value)]
        else:
            argv += [flag, str(value)]
    return argv


def import_app(spec: str) -> ASGIApp:
    """The object named by ``module:attr`` or ``path/to/file.py:attr`` (attr may be
    dotted). Raises ``AppImportError`` with a one-line reason."""
    location, colon, attr = spec.rpartition(":")
    if not colon or not location or not attr:
        raise AppImportError(
            f"the app must be given as module:attr or path/to/file.py:attr, got {spec!r}"
        )
    if location.endswith(".py") or "/" in location or os.sep in location:
        module = _import_file(location)
    else:
        module = _import_module(location)
    app: object = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AppImportError(f"module {location!r} has no attribute {attr!r}")
    if not callable(app):
        raise AppImportError(f"{spec!r} is not an ASGI app: a {type(app).__name__} is not callable")
    return app


def _import_module(name: str) -> ModuleType:
    # Like `python -m`, find modules in the current directory (the console script
    # does not put it on sys.path).
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise AppImportError(f"could not import module {name!r}: no module named {exc.name!r}")
        raise AppImportError(_describe_import_failure(name, exc))
    except Exception as exc:
        raise AppImportError(_describe_import_failure(name, exc))


def _import_file(path: str) -> ModuleType:
    if not os.path.isfile(path):
        raise AppImportError(f"could not import {path!r}: no such file")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppImportError(f"could not import {path!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # Like `python path/to/file.py`: its directory is importable, and the module is in
    # sys.modules while it runs (dataclasses, pickling and typing look it up there).
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise AppImportError(_describe_import_failure(path, exc))
    return module


def _describe_import_failure(what: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"error while importing {what!r}: {type(exc).__name__}: {exc}{where}"


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    # Leave an already configured root alone (an embedding program, a test runner).
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(level.upper())
    logging.getLogger("tornadoish").setLevel(level.upper())


def _fail(message: str, code: int) -> int:
    print(f"tornadoish: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from tornadoish.server import runner

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        config = config_from_args(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except (_UsageError, ValueError, TypeError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.reload and config.workers > 1:
        return _fail("--reload and --workers cannot be combined", EXIT_USAGE)
    _configure_logging(config.log_level)

    if args.reload or config.workers > 1:
        return _supervise(args.app, config, reload=args.reload)
    try:
        app = import_app(args.app)
    except AppImportError as exc:
        return _fail(str(exc), runner.EXIT_STARTUP_FAILED)
    _follow_supervisor()
    return runner.run(app, _one_access_log(app, config, silence=args.access_log is False))


def _one_access_log(app: object, config: ServerConfig, *, silence: bool) -> ServerConfig:
    """One access-log line per request, not two.

    A tornadoish ``Application`` logs each request itself (``tornadoish.access``, in
    Tornado's format, with the handler's timing); the server's own line would repeat
    it, so for such an app the server's is off. ``--no-access-log`` silences both.
    """
    from tornadoish.application import Application

    if silence:
        logging.getLogger("tornadoish.access").setLevel(logging.CRITICAL + 1)
    if isinstance(app, Application):
        return dataclasses.replace(config, access_log=False)
    return config


def _follow_supervisor() -> None:
    """In a worker process: shut down gracefully once the supervisor is gone, even if
    it was killed outright (SIGKILL), instead of serving on as an orphan."""
    from tornadoish.server.workers import SUPERVISOR_PID_ENV

    supervisor = os.environ.pop(SUPERVISOR_PID_ENV, "")
    if not supervisor.isdigit() or os.name != "posix":
        return

    def watch() -> None:
        # An orphan is re-parented (to init or a subreaper): its parent pid changes.
        while os.getppid() == int(supervisor):
            time.sleep(_SUPERVISOR_CHECK_INTERVAL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor watch", daemon=True).start()


def _supervise(spec: str, config: ServerConfig, *, reload: bool) -> int:
    from tornadoish.server import runner

    if reload:
        from tornadoish.server import reload as reloader

        if not reloader.reload_available():
            return _fail("--reload needs watchfiles: pip install 'tornadoish[reload]'", EXIT_USAGE)
    else:
        # Fail once, here, rather than once per worker.
        try:
            import_app(spec)
        except AppImportError as exc:
            return _fail(str(exc), runner.EXIT_STARTUP_FAILED)
    options = config_to_args(config, skip=_PLACEMENT)

    def command(fd: int) -> list[str]:
        return [sys.executable, "-m", "tornadoish", spec, "--fd", str(fd), *options]

    if reload:
        return reloader.run_with_reload(command, config)
    from tornadoish.server import workers

    return workers.run_workers(command, config)
