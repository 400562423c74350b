"""The ``app`` fixture the public pytest plugin (enabled in tests/conftest.py) needs."""

from __future__ import annotations

import pytest

from tornadoish.web import Application, RequestHandler


class PingHandler(RequestHandler):
    def get(self) -> None:
        self.write("pong")


@pytest.fixture
def app() -> Application:
    return Application([("/ping", PingHandler)])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
