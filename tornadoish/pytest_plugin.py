"""Pytest fixtures for tornadoish apps (composition root).

Enable with ``pytest_plugins = ["tornadoish.pytest_plugin"]`` in a ``conftest.py`` and
define an ``app`` fixture returning the app under test; then use ``client`` (an
``httpx.AsyncClient`` in-process, lifespan run) or ``live_server`` (the app on our own
server on an ephemeral loopback port; asyncio only) in ``@pytest.mark.anyio`` tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tornadoish.testing import LiveServer, app_client, live_server
from tornadoish.types import ASGIApp

__all__ = ["client", "live_server_fixture"]


@pytest.fixture
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the ``app`` fixture, in-process, with lifespan."""
    async with app_client(app) as http_client:
        yield http_client


@pytest.fixture(name="live_server")
async def live_server_fixture(app: ASGIApp) -> AsyncIterator[LiveServer]:
    """The ``app`` fixture served by our own server on 127.0.0.1:<ephemeral port>."""
    async with live_server(app) as server:
        yield server
