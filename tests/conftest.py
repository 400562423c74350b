"""Suite-wide rules: both anyio backends for in-process tests; an unexpected ERROR log fails.

A test that expects an ERROR log asserts on ``caplog`` and then calls ``caplog.clear()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

# Our public pytest plugin, enabled the way a user enables it; its fixtures need an
# `app` fixture, defined where they are used (tests/plugin/).
pytest_plugins = ["tornadoish.pytest_plugin"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def _fail_on_unexpected_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [
        record
        for when in ("setup", "call")
        for record in caplog.get_records(when)
        if record.levelno >= logging.ERROR
    ]
    if errors:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in errors)
        pytest.fail(f"unexpected ERROR logs:\n{lines}", pytrace=False)
