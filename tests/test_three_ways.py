"""The handler surface behaves the same in-process, on our own server, under uvicorn and
under hypercorn: sessions with XSRF, static files, gzip, streamed uploads and
on_connection_close."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples import blog_login
from tests.servers import SERVER_NAMES, START_STOP_TIMEOUT, serving
from tornadoish.testing import app_client
from tornadoish.web import Application, RequestHandler, stream_request_body

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WAYS = ("in-process", *SERVER_NAMES)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the servers run on asyncio


@asynccontextmanager
async def client_for(way: str, app: Any) -> AsyncIterator[httpx.AsyncClient]:
    if way == "in-process":
        async with app_client(app) as client:
            yield client
        return
    async with (
        serving(way, app) as url,
        httpx.AsyncClient(base_url=url, timeout=START_STOP_TIMEOUT) as client,
    ):
        yield client


def _xsrf(page: httpx.Response) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("way", WAYS)
async def test_login_session_with_xsrf(way: str) -> None:
    async with client_for(way, blog_login.make_app()) as client:
        form = await client.get("/login")
        refused = await client.post("/login", data={"name": "ada", "password": "letmein"})
        logged_in = await client.post(
            "/login", data={"_xsrf": _xsrf(form), "name": "ada", "password": "letmein"}
        )
        home = await client.get("/")
    assert refused.status_code == 403
    assert logged_in.status_code == 302
    assert '<span class="user">ada</span>' in home.text


@stream_request_body
class Upload(RequestHandler):
    def prepare(self) -> None:
        self.size = 0

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def put(self) -> None:
        self.write({"size": self.size})


class Text(RequestHandler):
    def get(self) -> None:
        self.write("compress me " * 300)


class LongPoll(RequestHandler):
    closed: asyncio.Event

    async def get(self) -> None:
        self.write("waiting")
        await self.flush()
        await asyncio.wait_for(type(self).closed.wait(), START_STOP_TIMEOUT)

    def on_connection_close(self) -> None:
        type(self).closed.set()


def surface_app(static: Path) -> Application:
    rules = [("/upload", Upload), ("/text", Text), ("/poll", LongPoll)]
    return Application(rules, static_path=str(static), compress_response=True)


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    (tmp_path / "data.bin").write_bytes(bytes(range(256)) * 64)
    return tmp_path


@pytest.mark.parametrize("way", WAYS)
async def test_static_ranges_and_revalidation(way: str, static_dir: Path) -> None:
    async with client_for(way, surface_app(static_dir)) as client:
        whole = await client.get("/static/data.bin")
        part = await client.get("/static/data.bin", headers={"Range": "bytes=10-19"})
        again = await client.get(
            "/static/data.bin", headers={"If-None-Match": whole.headers["etag"]}
        )
        beyond = await client.get("/static/data.bin", headers={"Range": "bytes=99999-"})
    assert whole.content == bytes(range(256)) * 64
    assert (part.status_code, part.content) == (206, bytes(range(10, 20)))
    assert part.headers["content-range"] == "bytes 10-19/16384"
    assert (again.status_code, again.content) == (304, b"")
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == "bytes */16384"


@pytest.mark.parametrize("way", WAYS)
async def test_gzip_and_streamed_upload(way: str, static_dir: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"u" * 4096

    async with client_for(way, surface_app(static_dir)) as client:
        text = await client.get("/text", headers={"Accept-Encoding": "gzip"})
        upload = await client.put("/upload", content=chunks())
    assert text.headers["content-encoding"] == "gzip"
    assert text.text == "compress me " * 300
    assert upload.json() == {"size": 8 * 4096}


@pytest.mark.parametrize("way", SERVER_NAMES)
async def test_on_connection_close_fires_when_the_client_leaves(way: str, static_dir: Path) -> None:
    LongPoll.closed = asyncio.Event()
    async with serving(way, surface_app(static_dir)) as url:
        async with (
            httpx.AsyncClient(base_url=url) as client,
            client.stream("GET", "/poll") as response,
        ):
            async for first in response.aiter_bytes():
                assert first == b"waiting"
                break
        # Leaving the client closed the connection mid-response.
        await asyncio.wait_for(LongPoll.closed.wait(), START_STOP_TIMEOUT)
