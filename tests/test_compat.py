"""The same Application over real HTTP under uvicorn and hypercorn (asyncio only).

Each server runs in the test's event loop on a socket the test bound and put in
listening state itself, so the port is known and connectable before the server
starts; teardown asks the server to stop and waits for it, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.apps import app

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

START_STOP_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # uvicorn and hypercorn.asyncio need an asyncio loop.
    return "asyncio"


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def _running(
    serve: Callable[[socket.socket], asyncio.Future[None] | asyncio.Task[None]],
    stop: Callable[[], None],
) -> AsyncIterator[str]:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    task = asyncio.ensure_future(serve(sock))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()
        try:
            await asyncio.wait_for(task, START_STOP_TIMEOUT)
        finally:
            sock.close()


@asynccontextmanager
async def uvicorn_server(root_path: str = "") -> AsyncIterator[str]:
    import uvicorn

    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        root_path=root_path,
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    async with _running(
        lambda sock: asyncio.ensure_future(server.serve(sockets=[sock])), stop
    ) as url:
        yield url


@asynccontextmanager
async def hypercorn_server(root_path: str = "") -> AsyncIterator[str]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    shutdown = asyncio.Event()

    def start(sock: socket.socket) -> asyncio.Task[None]:
        config = Config()
        # Hypercorn owns (and closes) the socket it is given: hand it a duplicate.
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.accesslog = None
        config.errorlog = None
        config.root_path = root_path
        return asyncio.ensure_future(
            serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")  # type: ignore[arg-type]
        )

    async with _running(start, shutdown.set) as url:
        yield url


SERVERS = {"uvicorn": uvicorn_server, "hypercorn": hypercorn_server}


@pytest.fixture(scope="module", params=sorted(SERVERS))
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app.settings["startups"] = 0  # each server runs the lifespan startup once
    async with (
        SERVERS[request.param]() as url,
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


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_server_root_path_puts_the_app_below_a_prefix(server: str) -> None:
    # --root-path: a proxy strips "/t" before the server sees the request. uvicorn
    # puts it back into path and raw_path, hypercorn leaves path alone; either way the
    # app routes below the prefix and the URLs it builds carry it.
    async with (
        SERVERS[server](root_path="/t") as base,
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
