"""Uses the public pytest plugin exactly as a user would."""

from __future__ import annotations

import pytest

from tornadoish.web import Application, RequestHandler

pytest_plugins = ["tornadoish.pytest_plugin"]


class PingHandler(RequestHandler):
    def get(self) -> None:
        self.write("pong")


@pytest.fixture
def app() -> Application:
    return Application([("/ping", PingHandler)])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
