"""Run the same handler code on real Tornado and on tornadoish, and compare responses.

Handlers are written once, as a function of the ``web`` module::

    def hello_rules(web: ModuleType) -> list[Any]:
        class Hello(web.RequestHandler):
            def get(self) -> None:
                self.write("hi")

        return [("/", Hello)]

``differential(hello_rules)`` builds ``tornado.web.Application`` served by a real
``tornado.httpserver.HTTPServer`` on an ephemeral loopback port (same asyncio loop) and
``tornadoish.web.Application`` behind ``httpx.ASGITransport``; ``pair.fetch(...)`` sends the
same request to both and returns both responses, and :func:`assert_same` compares them.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

import tornadoish.web

__all__ = [
    "AppSpec",
    "Exchange",
    "Pair",
    "Response",
    "assert_error_logged",
    "assert_same",
    "differential",
    "logged_warnings",
]

# What every request carries as Host unless a test sets its own: both sides see the
# same host, so absolute URLs built from it compare equal.
DEFAULT_HOST = "differential.test:8080"

# Headers left out of the comparison:
# - Date and Server: Tornado's handler sets them; under ASGI the server does.
# - Transfer-Encoding and Connection: Tornado's HTTP/1.1 connection adds them (chunked
#   framing for a flushed response without Content-Length, ``Connection: close``); an ASGI
#   app never sends them, its server does (and httpx.ASGITransport has no framing).
IGNORED_HEADERS = frozenset(("date", "server", "transfer-encoding", "connection"))

# A Set-Cookie "expires" attribute computed from the clock (clear_cookie, expires_days)
# may differ by a second between the two runs.
_EXPIRES_RE = re.compile(r"(?i)(expires=)[^;]*")

# Every request is plain http. By default each httpx client loads the CA bundle into a
# new SSL context (~0.1 s): one unused context shared by all keeps the module fast.
_UNUSED_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

Rules = list[Any]
RulesFactory = Callable[[ModuleType], "Rules | AppSpec"]


@dataclasses.dataclass
class AppSpec:
    """What a factory returns when plain rules are not enough."""

    rules: Rules
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    # (host_pattern, rules) pairs passed to ``add_handlers`` after construction.
    host_handlers: list[tuple[str, Rules]] = dataclasses.field(default_factory=list)
    default_host: str | None = None


@dataclasses.dataclass(frozen=True)
class Response:
    """A response reduced to what is compared: status, headers (lower-case names, in
    order within a name) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Response:
        pairs = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in response.headers.raw
        ]
        # A stable sort by name: values of a repeated header keep their order.
        pairs.sort(key=lambda pair: pair[0])
        return cls(response.status_code, tuple(pairs), response.content)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key == lowered), None)

    def header_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key == lowered]

    def compared(self, ignore: Iterable[str] = (), normalize_expires: bool = False) -> Response:
        """This response without the headers never compared and those in ``ignore``."""
        skipped = IGNORED_HEADERS | {name.lower() for name in ignore}
        headers = []
        for name, value in self.headers:
            if name in skipped:
                continue
            if normalize_expires and name == "set-cookie":
                value = _EXPIRES_RE.sub(r"\1<clock>", value)
            headers.append((name, value))
        return dataclasses.replace(self, headers=tuple(headers))

    def describe(self) -> list[str]:
        lines = [f"status: {self.status}"]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        body = self.body.decode("utf-8", errors="backslashreplace")
        lines.append("")
        lines.extend(body.splitlines() or [""])
        return lines


@dataclasses.dataclass(frozen=True)
class Exchange:
    """One request's answers from both frameworks."""

    tornado: Response
    tornadoish: Response


def assert_same(
    exchange: Exchange, *, ignore: Iterable[str] = (), normalize_expires: bool = False
) -> Response:
    """Fail with a unified diff unless both responses match; return the common response."""
    ignore = tuple(ignore)
    expected = exchange.tornado.compared(ignore, normalize_expires)
    actual = exchange.tornadoish.compared(ignore, normalize_expires)
    if expected != actual:
        diff = "\n".join(
            difflib.unified_diff(
                expected.describe(), actual.describe(), "tornado", "tornadoish", lineterm=""
            )
        )
        pytest.fail(f"tornadoish differs from Tornado:\n{diff}", pytrace=False)
    return actual


def assert_error_logged(
    caplog: pytest.LogCaptureFixture,
    *needles: str,
    frameworks: Iterable[str] = ("tornado", "tornadoish"),
) -> None:
    """Each of ``frameworks`` logged at ERROR (Tornado on ``tornado.*``, us on
    ``tornadoish.*``), its messages containing every needle; then forget the records."""
    records = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    for prefix in (f"{framework}." for framework in frameworks):
        own = [r for r in records if r.name.startswith(prefix)]
        # pytest.fail, not assert: this helper module is not assertion-rewritten, and
        # a plain assert would vanish under ``python -O``.
        if not own:
            pytest.fail(f"no ERROR log from {prefix}*", pytrace=False)
        text = "\n".join(
            r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
            for r in own
        )
        for needle in needles:
            if needle not in text:
                pytest.fail(f"{needle!r} not in the {prefix}* ERROR logs:\n{text}", pytrace=False)
    caplog.clear()


def logged_warnings(caplog: pytest.LogCaptureFixture, logger: str) -> tuple[list[str], list[str]]:
    """The WARNING messages of ``tornado.<logger>`` and of ``tornadoish.<logger>``."""

    def messages(name: str) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.get_records("call")
            if r.name == name and r.levelno == logging.WARNING
        ]

    return messages(f"tornado.{logger}"), messages(f"tornadoish.{logger}")


class Pair:
    """Both applications and a client for each; ``fetch`` asks both the same thing."""

    def __init__(
        self,
        tornado_app: tornado.web.Application,
        tornadoish_app: tornadoish.web.Application,
        tornado_client: httpx.AsyncClient,
        tornadoish_client: httpx.AsyncClient,
    ) -> None:
        self.tornado_app = tornado_app
        self.tornadoish_app = tornadoish_app
        self._clients = (tornado_client, tornadoish_client)

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Exchange:
        """Send one request to each framework (Tornado first) and return both answers.

        ``kwargs`` go to ``httpx.AsyncClient.request``; a callable ``content`` is called
        once per framework (a streamed body, an async iterator, can be sent only once).
        """
        merged = {"Host": DEFAULT_HOST, **(headers or {})}
        content = kwargs.pop("content", None)
        answers = []
        for client in self._clients:
            if callable(content):
                kwargs["content"] = content()
            elif content is not None:
                kwargs["content"] = content
            response = await client.request(method, url, headers=merged, **kwargs)
            # Each client would keep the cookies its framework set and send them next
            # time: the two would no longer get the same request.
            client.cookies.clear()
            answers.append(Response.from_httpx(response))
        return Exchange(*answers)

    async def same(
        self,
        url: str,
        method: str = "GET",
        *,
        ignore: Iterable[str] = (),
        normalize_expires: bool = False,
        **kwargs: Any,
    ) -> Response:
        """``fetch`` then :func:`assert_same`; returns the (common) response."""
        exchange = await self.fetch(url, method, **kwargs)
        return assert_same(exchange, ignore=ignore, normalize_expires=normalize_expires)


def _build(factory: RulesFactory, web: ModuleType, settings: dict[str, Any]) -> Any:
    made = factory(web)
    spec = made if isinstance(made, AppSpec) else AppSpec(rules=made)
    app = web.Application(
        spec.rules, default_host=spec.default_host, **{**spec.settings, **settings}
    )
    for host_pattern, rules in spec.host_handlers:
        app.add_handlers(host_pattern, rules)
    return app


@asynccontextmanager
async def differential(
    factory: RulesFactory,
    *,
    tornado_server_options: Mapping[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Pair]:
    """Serve ``factory``'s handlers on Tornado (real socket) and tornadoish (ASGI).

    ``settings`` go to both applications; ``tornado_server_options`` to Tornado's
    ``HTTPServer`` only (where Tornado keeps options such as ``max_body_size``).
    """
    tornado_app = _build(factory, tornado.web, settings)
    tornadoish_app = _build(factory, tornadoish.web, settings)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    server = tornado.httpserver.HTTPServer(tornado_app, **(tornado_server_options or {}))
    server.add_sockets(sockets)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with (
            httpx.AsyncClient(base_url=base_url, verify=_UNUSED_TLS) as tornado_client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(tornadoish_app),
                base_url=base_url,
                verify=_UNUSED_TLS,
            ) as tornadoish_client,
        ):
            yield Pair(tornado_app, tornadoish_app, tornado_client, tornadoish_client)
    finally:
        server.stop()
        await server.close_all_connections()
