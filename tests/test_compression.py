"""compress_response: gzip with Tornado's rules, streaming, and weak ETags."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest

from tornadoish.compression import GzipEncoder
from tornadoish.httputil import HTTPHeaders
from tornadoish.testing import app_client
from tornadoish.web import Application, RequestHandler

pytestmark = pytest.mark.anyio

BIG_TEXT = "tornadoish " * 200  # 2200 bytes, above the 1 KiB threshold


class BigHandler(RequestHandler):
    def get(self) -> None:
        self.write(BIG_TEXT)


class SmallHandler(RequestHandler):
    def get(self) -> None:
        self.write("tiny")


class ImageHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "image/png")
        self.write(b"\x89PNG" * 500)


class StreamHandler(RequestHandler):
    async def get(self) -> None:
        for index in range(3):
            self.write(f"part {index} " * 10)
            await self.flush()


def make_app(**settings: Any) -> Application:
    rules = [("/big", BigHandler), ("/small", SmallHandler), ("/png", ImageHandler)]
    rules.append(("/stream", StreamHandler))
    return Application(rules, **{"compress_response": True, **settings})


async def test_large_text_is_gzipped_with_a_weak_etag_and_exact_length() -> None:
    async with app_client(make_app()) as client:
        response = await client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"].startswith('W/"')
    assert int(response.headers["content-length"]) < len(BIG_TEXT)
    assert response.text == BIG_TEXT  # httpx decodes the gzip body


async def test_weak_etag_of_gzipped_response_revalidates_to_304() -> None:
    async with app_client(make_app()) as client:
        first = await client.get("/big", headers={"Accept-Encoding": "gzip"})
        again = await client.get(
            "/big", headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
        )
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/small", "gzip"),  # under 1 KiB
        ("/png", "gzip"),  # not a compressible type
        ("/big", "identity"),  # client does not accept gzip
        ("/big", "gzip;q=0"),  # explicitly refused
    ],
)
async def test_response_is_not_compressed(path: str, accept: str) -> None:
    async with app_client(make_app()) as client:
        response = await client.get(path, headers={"Accept-Encoding": accept})
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


async def test_streamed_response_is_compressed_without_content_length() -> None:
    async with app_client(make_app()) as client:
        response = await client.get("/stream", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.text == "".join(f"part {index} " * 10 for index in range(3))


async def test_without_the_setting_nothing_is_compressed_or_varied() -> None:
    async with app_client(make_app(compress_response=False)) as client:
        response = await client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers


def test_streamed_chunks_are_each_decodable_as_they_arrive() -> None:
    headers = HTTPHeaders({"Content-Type": "text/plain"})
    encoder = GzipEncoder("gzip, deflate")
    first = encoder.first(200, headers, b"hello ", finishing=False)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(first) == b"hello "
    last = encoder.chunk(b"world", finishing=True)
    assert decoder.decompress(last) == b"world"
    assert gzip.decompress(first + last) == b"hello world"


def test_existing_vary_is_extended() -> None:
    headers = HTTPHeaders({"Content-Type": "text/plain", "Vary": "Cookie"})
    GzipEncoder("").first(200, headers, b"x", finishing=True)
    assert headers["Vary"] == "Cookie, Accept-Encoding"
