"""The client and live_server fixtures of tornadoish.pytest_plugin."""

from __future__ import annotations

import httpx
import pytest

from tornadoish.testing import LiveServer

pytestmark = pytest.mark.anyio


async def test_client_fixture_talks_to_the_app(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ping")).text == "pong"


async def test_live_server_fixture_listens_on_loopback(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(live_server.url + "/ping")
    assert response.text == "pong"
