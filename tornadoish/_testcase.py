"""Tornado's unittest API (``AsyncTestCase``, ``AsyncHTTPTestCase``, ``gen_test``)
backed by httpx (composition root, re-exported by ``tornadoish.testing``).

Differences from Tornado: ``fetch()`` talks to the app in-process through
``httpx.ASGITransport`` (no socket unless ``get_http_port()`` is called, which
starts our own server on an ephemeral port); the response is a small
``HTTPResponse`` with Tornado's field names; ``tornado.httpclient`` options that
have no httpx counterpart are refused with TypeError rather than ignored.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import unittest
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

import httpx

from tornadoish.httputil import HTTPHeaders
from tornadoish.ioloop import IOLoop
from tornadoish.types import ASGIApp

__all__ = [
    "AsyncHTTPClient",
    "AsyncHTTPTestCase",
    "AsyncTestCase",
    "HTTPClientError",
    "HTTPResponse",
    "gen_test",
]

# Tornado's default, overridable the same way (ASYNC_TEST_TIMEOUT environment variable).
DEFAULT_ASYNC_TEST_TIMEOUT = 5.0


def _default_timeout() -> float:
    try:
        return float(os.environ.get("ASYNC_TEST_TIMEOUT", DEFAULT_ASYNC_TEST_TIMEOUT))
    except ValueError:
        return DEFAULT_ASYNC_TEST_TIMEOUT


class HTTPResponse:
    """A fetched response with Tornado's field names."""

    def __init__(self, response: httpx.Response, request_time: float) -> None:
        self.code = response.status_code
        self.reason = response.reason_phrase
        self.headers = HTTPHeaders()
        for name, value in response.headers.multi_items():
            self.headers.add(name, value)
        self.body = response.content
        self.effective_url = str(response.url)
        self.request_time = request_time
        self.error: HTTPClientError | None = (
            HTTPClientError(self.code, self.reason, self) if self.code >= 400 else None
        )

    def rethrow(self) -> None:
        """Raise ``error`` if the response is an error."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        return f"HTTPResponse(code={self.code!r}, effective_url={self.effective_url!r})"


class HTTPClientError(Exception):
    """An HTTP error response (Tornado's ``tornado.httpclient.HTTPClientError``)."""

    def __init__(self, code: int, message: str, response: HTTPResponse | None = None) -> None:
        super().__init__(f"HTTP {code}: {message}")
        self.code = code
        self.message = message
        self.response = response


_OPTION_MAP = {"request_timeout": "timeout", "connect_timeout": "timeout"}


class AsyncHTTPClient:
    """Tornado's ``AsyncHTTPClient.fetch()`` over an httpx client bound to one app."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    async def fetch(
        self,
        request: str,
        method: str = "GET",
        body: str | bytes | None = None,
        headers: dict[str, str] | HTTPHeaders | None = None,
        follow_redirects: bool = True,
        raise_error: bool = True,
        **options: Any,
    ) -> HTTPResponse:
        """Fetch ``request`` (a URL); raises HTTPClientError for 4xx/5xx when
        ``raise_error``."""
        extra: dict[str, Any] = {}
        for name, value in options.items():
            if name in _OPTION_MAP:
                extra[_OPTION_MAP[name]] = value
            elif name in ("auth_username", "auth_password"):
                continue
            else:
                raise TypeError(f"fetch() option {name!r} is not supported by tornadoish")
        if "auth_username" in options:
            extra["auth"] = (options["auth_username"], options.get("auth_password", ""))
        plain_headers = dict(headers.get_all()) if isinstance(headers, HTTPHeaders) else headers
        if method == "POST":
            # As Tornado's client: a POST without a Content-Type is sent as a form, so
            # get_argument() sees its fields.
            plain_headers = dict(plain_headers or {})
            if not any(name.lower() == "content-type" for name in plain_headers):
                plain_headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        response = await self._client.request(
            method,
            request,
            content=body,
            headers=plain_headers,
            follow_redirects=follow_redirects,
            **extra,
        )
        result = HTTPResponse(response, time.monotonic() - started)
        if raise_error:
            result.rethrow()
        return result

    async def close(self) -> None:
        """Close the underlying httpx client (Tornado's name)."""
        await self._client.aclose()


class AsyncTestCase(unittest.TestCase):
    """A TestCase with a fresh event loop per test as ``self.io_loop``."""

    def setUp(self) -> None:
        super().setUp()
        self.io_loop = self.get_new_ioloop()

    def get_new_ioloop(self) -> IOLoop:
        """The IOLoop the test runs on (a fresh one per test), current for the thread
        as in Tornado, so code under test that looks the loop up (``IOLoop.current()``,
        ``app.listen()``) finds this one."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return IOLoop(loop)

    def tearDown(self) -> None:
        loop = self.io_loop.asyncio_loop
        loop.run_until_complete(loop.shutdown_asyncgens())
        self.io_loop.close()
        asyncio.set_event_loop(None)
        super().tearDown()


_Self = TypeVar("_Self", bound=AsyncTestCase)
_TestMethod = Callable[..., Coroutine[Any, Any, None]]


@overload
def gen_test(func: _TestMethod) -> Callable[..., None]: ...
@overload
def gen_test(
    func: None = None, timeout: float | None = None
) -> Callable[[_TestMethod], Callable[..., None]]: ...


def gen_test(func: _TestMethod | None = None, timeout: float | None = None) -> Any:
    """Run an ``async def`` test method on ``self.io_loop`` with a timeout
    (``ASYNC_TEST_TIMEOUT`` seconds, default 5)."""

    def decorate(method: _TestMethod) -> Callable[..., None]:
        @functools.wraps(method)
        def wrapper(self: AsyncTestCase, *args: Any, **kwargs: Any) -> None:
            limit = timeout if timeout is not None else _default_timeout()
            self.io_loop.run_sync(functools.partial(method, self, *args, **kwargs), limit)

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


class AsyncHTTPTestCase(AsyncTestCase):
    """Tornado's ``AsyncHTTPTestCase``: define ``get_app()``, call ``self.fetch(path)``."""

    def setUp(self) -> None:
        super().setUp()
        from tornadoish.server.config import ServerConfig
        from tornadoish.server.lifespan import Lifespan

        self._app = self.get_app()
        self._live_port: int | None = None
        self._live_server: Any = None
        # The server's lifespan driver: unlike an anyio task group it may be started
        # and stopped from different tasks, as setUp and tearDown are.
        self._lifespan = Lifespan(self._app, ServerConfig(lifespan="auto"), {})
        self.io_loop.run_sync(self._lifespan.startup)
        self.http_client = AsyncHTTPClient(self._app, "http://127.0.0.1")

    def get_app(self) -> ASGIApp:
        """Return the app under test (an ``Application`` or any ASGI app)."""
        raise NotImplementedError("AsyncHTTPTestCase subclasses must define get_app()")

    def get_protocol(self) -> str:
        """The URL scheme of :meth:`get_url` (``http``)."""
        return "http"

    def get_http_port(self) -> int:
        """The port of our own server serving the app, started on first use."""
        if self._live_port is None:
            from tornadoish.server.config import ServerConfig
            from tornadoish.server.runner import listen

            config = ServerConfig(host="127.0.0.1", port=0, access_log=False, lifespan="off")
            # listen() binds at once, whether or not the loop runs (inside a @gen_test
            # method it does), and serves whenever the loop runs, as Tornado's does.
            server = listen(self._app, config)
            self._live_server = server
            self._live_port = server.port
            assert self._live_port is not None  # a TCP server always has a port
        return self._live_port

    def get_url(self, path: str) -> str:
        """An absolute URL for ``path`` on the app's server."""
        return f"{self.get_protocol()}://127.0.0.1:{self.get_http_port()}{path}"

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        """Fetch ``path`` (or an absolute URL) from the app, synchronously.

        Unlike Tornado, a relative path is served in-process without a socket.
        """
        if urllib.parse.urlsplit(path).scheme:
            url = path
        else:
            port = f":{self._live_port}" if self._live_port is not None else ""
            url = f"{self.get_protocol()}://127.0.0.1{port}{path}"
        return self.io_loop.run_sync(  # type: ignore[no-any-return]  # run_sync returns Any
            lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
            timeout=_default_timeout(),
        )

    def tearDown(self) -> None:
        async def shut_down() -> None:
            await self.http_client.close()
            if self._live_server is not None:
                await self._live_server.close()
            await self._lifespan.shutdown()

        self.io_loop.run_sync(shut_down)
        super().tearDown()
