"""Shared test helpers: an in-process httpx client, a raw ASGI driver, and a sample app.

``app`` is what the compat tests serve under uvicorn and hypercorn; it exercises the
common handler features over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from tornadoish import Application, HTTPError, RedirectHandler, RequestHandler, url
from tornadoish.types import ASGIApp, Message

BASE_URL = "http://testserver"


def client(app: ASGIApp, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client that talks to ``app`` in-process (no lifespan)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, **kwargs), base_url=BASE_URL)


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Iterable[tuple[bytes, bytes]] = ((b"host", b"testserver"),),
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    """An ASGI ``http`` scope for driving an app directly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8") if raw_path is None else raw_path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> list[Message]:
    """Run one request through ``app``; return every message it sent."""
    sent: list[Message] = []
    received = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body the client counts as gone: a handler that watches for
        # disconnects (on_connection_close) sees it at once.
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


# -- the sample app -----------------------------------------------------------------------


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class JSONHandler(RequestHandler):
    async def get(self) -> None:
        self.write({"ok": True, "items": [1, 2]})


class UserHandler(RequestHandler):
    def get(self, user_id: str) -> None:
        self.write(f"user {user_id}")


class GetOnlyHandler(RequestHandler):
    def get(self) -> None:
        self.write("only get")

    def post(self) -> None:
        self.write("and post")


class FailHandler(RequestHandler):
    def get(self) -> None:
        raise HTTPError(418, reason="Short And Stout")


class StreamHandler(RequestHandler):
    async def get(self) -> None:
        for index in range(3):
            self.write(f"chunk{index};")
            await self.flush()


class CookieHandler(RequestHandler):
    def get(self) -> None:
        self.set_cookie("flavour", "oat", httponly=True)
        self.write(self.get_cookie("seen", "none") or "")


class WhereHandler(RequestHandler):
    def get(self) -> None:
        self.write(
            {
                "path": self.request.path,
                "full_url": self.request.full_url(),
                "user_url": self.reverse_url("user", 5),
            }
        )


class LifespanStateHandler(RequestHandler):
    def get(self) -> None:
        self.write({"startups": self.settings["startups"]})


class FormHandler(RequestHandler):
    def post(self) -> None:
        self.write({"name": self.get_argument("name"), "tags": self.get_arguments("tag")})


app = Application(
    [
        (r"/", HelloHandler),
        (r"/json", JSONHandler),
        url(r"/user/([0-9]+)", UserHandler, name="user"),
        (r"/where", WhereHandler),
        (r"/get-only", GetOnlyHandler),
        (r"/fail", FailHandler),
        (r"/stream", StreamHandler),
        (r"/cookie", CookieHandler),
        (r"/form", FormHandler),
        (r"/lifespan", LifespanStateHandler),
        (r"/old/([0-9]+)", RedirectHandler, {"url": "/user/{0}", "permanent": False}),
    ],
    startups=0,
)


@app.on_startup
async def _count_startup() -> None:
    app.settings["startups"] += 1
