"""The command line: options, app import errors as one line, and whole processes."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.machinery
import importlib.util
import logging
import os
import re
import signal
import socket
import sys
import threading
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.apps import PROCESS_WAIT, ServerProcess
from tornadoish.cli import (
    AppImportError,
    build_parser,
    config_from_args,
    config_to_args,
    import_app,
    main,
)
from tornadoish.server.config import ServerConfig


@pytest.fixture(autouse=True)
def _restore_logging_levels() -> Iterator[None]:
    """main() sets the level of the ``tornadoish`` logger; keep it from leaking."""
    logger = logging.getLogger("tornadoish")
    level = logger.level
    yield
    logger.setLevel(level)


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# -- options -----------------------------------------------------------------------------


def test_every_timeout_and_limit_has_an_option() -> None:
    flags = {flag for action in build_parser()._actions for flag in action.option_strings}
    for field in dataclasses.fields(ServerConfig):
        if field.name.startswith(("timeout_", "limit_")) and field.name not in (
            "limit_buffered_bytes",
            "limit_drain_bytes",
        ):
            assert "--" + field.name.replace("_", "-") in flags


def test_options_build_the_config() -> None:
    args = build_parser().parse_args(
        [
            *("app:app", "--host", "0.0.0.0", "--port", "0", "--no-access-log"),
            *("--proxy-headers", "--forwarded-allow-ips", "10.0.0.1, 10.0.0.2"),
            *("--loop", "asyncio", "--lifespan", "off", "--root-path", "/api"),
            *("--timeout-keep-alive", "1.5", "--limit-body-bytes", "1000"),
        ]
    )
    config = config_from_args(args)
    assert config == ServerConfig(
        host="0.0.0.0",
        port=0,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=("10.0.0.1", "10.0.0.2"),
        loop="asyncio",
        lifespan="off",
        root_path="/api",
        timeout_keep_alive=1.5,
        limit_body_bytes=1000,
    )


def test_config_to_args_round_trips() -> None:
    config = ServerConfig(
        port=0,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=("10.0.0.1", "*"),
        lifespan="on",
        log_level="debug",
        timeout_graceful_shutdown=2.5,
        limit_requests_per_connection=10,
    )
    args = build_parser().parse_args(["app:app", *config_to_args(config)])
    assert config_from_args(args) == config
    assert "--port" not in config_to_args(config, skip=frozenset({"port"}))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["app:app", "--port", "http"], "argument --port: invalid int value: 'http'"),
        (["app:app", "--port", "70000"], "port must be 0-65535, got 70000"),
        (["app:app", "--timeout-keep-alive", "-1"], "timeout_keep_alive must be positive"),
        (["app:app", "--lifespan", "maybe"], "argument --lifespan: invalid choice: 'maybe'"),
        (["app:app", "--ssl-certfile", "c.pem"], "must be given together"),
        (["app:app", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: app"),
        (["app:app", "--reload", "--workers", "2"], "--reload and --workers cannot be combined"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith("tornadoish: error: ")
    assert message in lines[0]


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--timeout-graceful-shutdown SECONDS" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("watchfiles") is not None, reason="has watchfiles")
def test_reload_without_watchfiles_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tests.server.apps:app", "--reload"]) == 2
    assert stderr_lines(capsys) == [
        "tornadoish: error: --reload needs watchfiles: pip install 'tornadoish[reload]'"
    ]


# -- importing the app -------------------------------------------------------------------


def test_imports_module_attr_and_file_path_attr() -> None:
    from tests.server.apps import app

    assert import_app("tests.server.apps:app") is app
    assert callable(import_app("tests/server/apps.py:failing_startup_app"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.server.apps", "must be given as module:attr"),
        (":app", "must be given as module:attr"),
        ("no_such_module_xyz:app", "could not import module 'no_such_module_xyz'"),
        ("tests.server.apps:nope", "module 'tests.server.apps' has no attribute 'nope'"),
        ("tests.server.apps:not_callable", "is not an ASGI app: a int is not callable"),
        ("tests/server/nowhere.py:app", "no such file"),
    ],
)
def test_bad_app_specs_are_precise(spec: str, message: str) -> None:
    with pytest.raises(AppImportError, match=message):
        import_app(spec)


def test_an_error_inside_the_app_module_names_its_place(tmp_path: Path) -> None:
    broken = tmp_path / "broken_app.py"
    broken.write_text("x = 1\nraise RuntimeError('no config')\n")
    with pytest.raises(AppImportError) as info:
        import_app(f"{broken}:app")
    assert str(info.value) == (
        f"error while importing {str(broken)!r}: RuntimeError: no config ({broken}:2)"
    )


def test_a_missing_dependency_of_the_app_module_is_not_blamed_on_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AppImportError, match="ModuleNotFoundError: No module named"):
        import_app("needs_dep:app")


def test_a_bad_app_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tests.server.apps:nope"]) == 3
    assert stderr_lines(capsys) == [
        "tornadoish: error: module 'tests.server.apps' has no attribute 'nope'"
    ]


def test_a_bad_app_with_workers_fails_once_in_the_supervisor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tests.server.apps:nope", "--workers", "2"]) == 3
    assert len(stderr_lines(capsys)) == 1


# -- whole processes ---------------------------------------------------------------------


@pytest.mark.slow
def test_cli_serves_on_port_0_and_exits_0_on_sigterm(launch: type[ServerProcess]) -> None:
    server = launch("tests.server.apps:app", "--port", "0")
    url = server.url()
    assert not url.endswith(":0")
    response = httpx.get(url + "/state", timeout=PROCESS_WAIT)
    assert response.text == "started=yes\n"
    server.wait_for(r'"GET /state HTTP/1.1" 200')  # the access log
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0
    assert "lifespan shutdown" in server.output
    assert "Traceback" not in server.output


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True])
def test_cli_logs_one_access_line_per_request_for_a_tornadoish_app(
    quiet: bool, launch: type[ServerProcess]
) -> None:
    options = ["--no-access-log"] if quiet else []
    server = launch("examples.hello:app", "--port", "0", *options)
    for _ in range(2):
        assert httpx.get(server.url() + "/", timeout=PROCESS_WAIT).status_code == 200
    server.send_signal(signal.SIGINT)
    assert server.wait() == 0
    # The framework's line (Tornado's format); never also the server's.
    assert server.count(r"200 GET / \(127\.0\.0\.1\)") == (0 if quiet else 2)
    assert "GET / HTTP/1.1" not in server.output


@pytest.mark.slow
def test_cli_serves_an_app_given_as_a_file_path(launch: type[ServerProcess]) -> None:
    server = launch("tests/server/apps.py:app", "--port", "0", "--no-access-log")
    assert httpx.get(server.url() + "/", timeout=PROCESS_WAIT).text == "hello"
    server.send_signal(signal.SIGINT)
    assert server.wait() == 0
    assert "GET / HTTP/1.1" not in server.output


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_complete(launch: type[ServerProcess]) -> None:
    server = launch("tests.server.apps:app", "--port", "0")
    url = server.url()
    result: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: result.append(httpx.get(url + "/slow", timeout=PROCESS_WAIT))
    )
    client.start()
    try:
        server.wait_for("slow request started")
        server.send_signal(signal.SIGTERM)
        server.wait_for("Shutting down on SIGTERM")
    finally:
        client.join(PROCESS_WAIT)
    assert (result[0].status_code, result[0].text) == (200, "slow done")
    assert result[0].headers["connection"] == "close"
    assert server.wait() == 0


@pytest.mark.slow
def test_sigterm_closes_an_idle_keep_alive_connection_at_once(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--timeout-keep-alive", "60")
    port = int(server.url().rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=PROCESS_WAIT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        response = b""
        while not response.endswith(b"hello"):
            response += sock.recv(4096)
        server.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b""  # long before the 60 s keep-alive timeout
    assert server.wait() == 0


@pytest.mark.slow
def test_a_second_sigint_forces_the_exit(launch: type[ServerProcess]) -> None:
    server = launch("tests.server.apps:app", "--port", "0", "--timeout-graceful-shutdown", "60")
    port = int(server.url().rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=PROCESS_WAIT) as sock:
        sock.sendall(b"GET /hang HTTP/1.1\r\nHost: test\r\n\r\n")
        server.wait_for("hang request started")
        server.send_signal(signal.SIGINT)
        server.wait_for("Shutting down on SIGINT")
        server.send_signal(signal.SIGINT)
        assert server.wait() == 1
    assert "Forced exit on a second SIGINT" in server.output
    assert "lifespan shutdown" not in server.output


@pytest.mark.slow
def test_a_bad_app_in_a_process_is_one_line_without_traceback(
    launch: type[ServerProcess],
) -> None:
    server = launch("tests.server.apps:not_callable", "--port", "0")
    assert server.wait() == 3
    assert server.lines == [
        "tornadoish: error: 'tests.server.apps:not_callable' is not an ASGI app: "
        "a int is not callable"
    ]


@pytest.mark.slow
def test_a_port_in_use_in_a_process_is_one_line(launch: type[ServerProcess]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = launch("tests.server.apps:app", "--port", str(port))
        assert server.wait() == 3
    assert len(server.lines) == 1
    assert server.lines[0].startswith(f"ERROR: could not bind to http://127.0.0.1:{port}: ")


@pytest.mark.slow
def test_a_failed_startup_in_a_process_is_one_line(launch: type[ServerProcess]) -> None:
    server = launch("tests.server.apps:failing_startup_app", "--port", "0")
    assert server.wait() == 3
    assert server.lines == ["ERROR: application startup failed: no database"]


@pytest.mark.slow
def test_reload_serves_the_app_in_a_child_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # watchfiles is optional: a stand-in that reports no change until stopped.
    fake = types.ModuleType("watchfiles")
    fake.__spec__ = importlib.machinery.ModuleSpec("watchfiles", None)

    async def awatch(
        *paths: str, watch_filter: object, stop_event: asyncio.Event
    ) -> AsyncIterator[set[tuple[int, str]]]:
        await stop_event.wait()
        no_changes: list[set[tuple[int, str]]] = []
        for changes in no_changes:
            yield changes

    fake.awatch = awatch  # type: ignore[attr-defined]  # a module built at runtime
    fake.PythonFilter = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "watchfiles", fake)

    bound = threading.Event()
    ports: list[int] = []

    class OnBound(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            pattern = r"runs 1 worker\(s\) on http://127.0.0.1:(\d+)"
            if match := re.search(pattern, record.getMessage()):
                ports.append(int(match.group(1)))
                bound.set()

    texts: list[str] = []

    def client() -> None:
        if not bound.wait(PROCESS_WAIT):
            return  # the supervisor never ran (main() returns): no handler for a signal
        try:
            # The child may still be starting: the connection waits in the backlog.
            texts.append(httpx.get(f"http://127.0.0.1:{ports[0]}/", timeout=PROCESS_WAIT).text)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's handler stops it

    handler = OnBound()
    logging.getLogger("tornadoish.server.error").addHandler(handler)
    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert main(["tests.server.apps:app", "--port", "0", "--reload", "--no-access-log"]) == 0
    finally:
        logging.getLogger("tornadoish.server.error").removeHandler(handler)
        thread.join(PROCESS_WAIT)
    assert texts == ["hello"]
