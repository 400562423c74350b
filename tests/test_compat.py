"""The same Application over real HTTP under our own server, uvicorn and hypercorn
(asyncio only; the servers are started by tests/servers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.apps import app
from tests.servers import SERVER_NAMES, START_STOP_TIMEOUT, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # uvicorn and hypercorn.asyncio need an asyncio loop; so does our server.
    return "asyncio"


@pytest.fixture(scope="module", params=SERVER_NAMES)
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app.settings["startups"] = 0  # each server runs the lifespan startup once
    async with (
        serving(request.param, app) as url,
        httpx.AsyncClient(base_url=url, timeout=START_STOP_TIMEOUT) as client,
    ):
        yield client


async def test_hello(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 200
    assert response.text == "Hello, world"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Length"] == "12"
    assert response.headers["Etag"].startswith('"')


async def test_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/json")
    assert response.json() == {"ok": True, "items": [1, 2]}
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"


async def test_path_arguments(http: httpx.AsyncClient) -> None:
    response = await http.get("/user/42")
    assert response.text == "user 42"


async def test_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/nowhere")
    assert response.status_code == 404
    assert "404: Not Found" in response.text


async def test_method_not_allowed_lists_allow(http: httpx.AsyncClient) -> None:
    response = await http.delete("/get-only")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"


async def test_redirect(http: httpx.AsyncClient) -> None:
    response = await http.get("/old/7?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/user/7?x=1"


async def test_error_page_with_custom_reason(http: httpx.AsyncClient) -> None:
    response = await http.get("/fail")
    assert response.status_code == 418
    assert response.text == (
        "<html><title>418: Short And Stout</title><body>418: Short And Stout</body></html>"
    )


async def test_head_sends_length_without_body(http: httpx.AsyncClient) -> None:
    response = await http.head("/")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "12"
    assert response.content == b""


async def test_streaming_arrives_in_chunks(http: httpx.AsyncClient) -> None:
    async with http.stream("GET", "/stream") as response:
        assert response.status_code == 200
        assert "Content-Length" not in response.headers
        assert response.headers["Transfer-Encoding"] == "chunked"
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert body == b"chunk0;chunk1;chunk2;"


async def test_cookies_both_ways(http: httpx.AsyncClient) -> None:
    response = await http.get("/cookie", headers={"Cookie": "seen=yes"})
    assert response.text == "yes"
    assert response.headers["Set-Cookie"] == "flavour=oat; HttpOnly; Path=/"


async def test_form_post(http: httpx.AsyncClient) -> None:
    response = await http.post("/form", data={"name": "Ada", "tag": ["a", "b"]})
    assert response.json() == {"name": "Ada", "tags": ["a", "b"]}


async def test_keep_alive_serves_several_requests_on_one_connection(
    http: httpx.AsyncClient,
) -> None:
    responses = [await http.get(f"/user/{n}") for n in range(3)]
    assert [r.text for r in responses] == ["user 0", "user 1", "user 2"]


async def test_lifespan_startup_hooks_ran(http: httpx.AsyncClient) -> None:
    response = await http.get("/lifespan")
    assert response.json() == {"startups": 1}


@pytest.mark.parametrize("server", SERVER_NAMES)
async def test_server_root_path_puts_the_app_below_a_prefix(server: str) -> None:
    # --root-path: a proxy strips "/t" before the server sees the request. uvicorn
    # puts it back into path and raw_path, hypercorn leaves path alone; either way the
    # app routes below the prefix and the URLs it builds carry it.
    async with (
        serving(server, app, root_path="/t") as base,
        httpx.AsyncClient(base_url=base, timeout=START_STOP_TIMEOUT) as client,
    ):
        where = await client.get("/where?x=1")
        user = await client.get("/user/5")
    assert where.json() == {
        "path": "/t/where",
        "full_url": f"{base}/t/where?x=1",
        "user_url": "/t/user/5",
    }
    assert user.text == "user 5"
