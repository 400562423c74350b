"""Request bodies: @stream_request_body, limits, and on_connection_close.

Disconnects are driven through the ASGI callables directly: the lowest layer that
can show a client leaving mid-request.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.apps import call, http_scope
from tornadoish.testing import app_client
from tornadoish.types import Message
from tornadoish.web import Application, RequestHandler, stream_request_body

pytestmark = pytest.mark.anyio


@stream_request_body
class UploadHandler(RequestHandler):
    def prepare(self) -> None:
        self.chunks: list[bytes] = []
        limit = self.get_query_argument("limit", None)
        if limit is not None:
            self.request.connection.set_max_body_size(int(limit))

    async def data_received(self, chunk: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        self.chunks.append(chunk)

    def put(self) -> None:
        self.write({"chunks": len(self.chunks), "size": sum(map(len, self.chunks))})


class EchoHandler(RequestHandler):
    def post(self) -> None:
        self.write(self.request.body)


class LongPollHandler(RequestHandler):
    closed = anyio.Event()
    finished_cleanly = False

    async def get(self) -> None:
        await type(self).closed.wait()
        type(self).finished_cleanly = True

    def on_connection_close(self) -> None:
        type(self).closed.set()


def make_app(**settings: Any) -> Application:
    rules = [("/upload", UploadHandler), ("/echo", EchoHandler), ("/poll", LongPollHandler)]
    return Application(rules, **settings)


class _chunks:
    """Four body chunks without Content-Length. A class, not an async generator: httpx
    abandons the iterator when the app answers early, and an abandoned generator is
    finalized with a warning on trio."""

    def __init__(self) -> None:
        self._sizes = [1000, 1001, 1002, 1003]

    def __aiter__(self) -> _chunks:
        return self

    async def __anext__(self) -> bytes:
        if not self._sizes:
            raise StopAsyncIteration
        return b"x" * self._sizes.pop(0)


async def test_streamed_body_reaches_data_received_chunk_by_chunk() -> None:
    async with app_client(make_app()) as client:
        response = await client.put("/upload", content=_chunks())
    assert response.json() == {"chunks": 4, "size": 4006}


async def test_limit_set_in_prepare_answers_413() -> None:
    async with app_client(make_app()) as client:
        response = await client.put("/upload?limit=100", content=b"y" * 101)
    assert response.status_code == 413


async def test_max_body_size_setting_answers_413_from_content_length() -> None:
    async with app_client(make_app(max_body_size=1024)) as client:
        response = await client.post("/echo", content=b"z" * 2048)
    assert response.status_code == 413


async def test_max_body_size_setting_answers_413_once_a_chunked_body_crosses_it() -> None:
    # Driven through ASGI directly: httpx leaves its body generator unfinished when the
    # app answers early, which trio reports as a ResourceWarning.
    chunk: Message = {"type": "http.request", "body": b"z" * 600, "more_body": True}
    messages = [chunk, chunk]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await make_app(max_body_size=1024)(http_scope("/echo", method="POST"), receive, send)
    assert sent[0]["status"] == 413


async def test_body_within_the_limit_is_read() -> None:
    async with app_client(make_app(max_body_size=1024)) as client:
        response = await client.post("/echo", content=b"z" * 1024)
    assert response.content == b"z" * 1024


async def test_on_connection_close_fires_during_a_long_poll() -> None:
    LongPollHandler.closed = anyio.Event()
    LongPollHandler.finished_cleanly = False
    with anyio.fail_after(5):
        await call(make_app(), http_scope("/poll"))
    assert LongPollHandler.closed.is_set()
    assert LongPollHandler.finished_cleanly


async def test_client_leaving_while_the_body_is_read_ends_the_request_quietly() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"par", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await make_app()(http_scope("/echo", method="POST"), receive, send)
    assert sent == []


async def test_send_to_a_gone_client_stops_the_response_quietly() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"abc", "more_body": False}

    async def send(message: Message) -> None:
        raise OSError("client gone")

    await make_app()(http_scope("/echo", method="POST"), receive, send)


@pytest.mark.parametrize(
    "chunks",
    [
        [bytearray(b"abc")],
        [bytearray(b"ab"), memoryview(b"c")],
    ],
)
async def test_bytes_like_body_chunks_from_a_server_become_a_bytes_body(
    chunks: list[bytearray | memoryview],
) -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await make_app()(http_scope("/echo", method="POST"), receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"abc"
    assert type(sent[1]["body"]) is bytes
