"""The example apps run and do what their docstrings say."""

from __future__ import annotations

import pytest

from examples import hello, json_api
from tornadoish.testing import app_client

pytestmark = pytest.mark.anyio


async def test_hello_example_says_hello() -> None:
    async with app_client(hello.make_app()) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.text == "Hello, world"


async def test_json_api_example_creates_lists_reads_and_deletes_notes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with app_client(json_api.make_app()) as client:
        created = await client.post("/notes", json={"text": "buy milk"})
        assert created.status_code == 201
        assert created.json() == {"id": 1, "text": "buy milk"}
        assert created.headers["location"] == "/notes/1"

        listing = await client.get("/notes")
        assert listing.json() == {"notes": [{"id": 1, "text": "buy milk"}]}
        assert (await client.get("/notes/1")).json()["text"] == "buy milk"

        deleted = await client.delete("/notes/1")
        assert deleted.status_code == 204
        assert deleted.content == b""
        assert (await client.get("/notes/1")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 422),
        (b'{"text": 5}', 422),
    ],
)
async def test_json_api_example_rejects_bad_bodies(body: bytes, status: int) -> None:
    async with app_client(json_api.make_app()) as client:
        response = await client.post("/notes", content=body)
    assert response.status_code == status
