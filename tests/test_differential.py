"""Differential tests: the same handler code on real Tornado 6 and on tornadoish.

Each rules factory takes the ``web`` module (``tornado.web`` or ``tornadoish.web``) and
defines its handlers against it; ``tests/differential.py`` serves both and compares
status, headers and body. Where a difference is deliberate (DESIGN.md §3, the table in
docs/index.md, or a module docstring that says so), a separate test named
``..._deliberately_...`` asserts each side's own behaviour. A difference nobody has
documented yet is an ``xfail(strict=True)`` whose reason says what differs.

ASGI has no reason phrase, so a custom ``reason`` is compared where it shows: in the
default error page.
"""

# Handlers subclass ``web.RequestHandler`` (and use ``web.authenticated``...) where
# ``web`` is either framework's module, which mypy can only see as Any.
# mypy: allow-subclassing-any, allow-untyped-decorators

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import tornado.template
import tornado.web

import tornadoish.web
from tests.differential import (
    AppSpec,
    Exchange,
    Response,
    assert_error_logged,
    assert_same,
    differential,
    logged_warnings,
)

# The ``tornado.web`` or ``tornadoish.web`` module. Typed Any: mypy cannot take a base
# class from a ModuleType attribute.
Web = Any
Rules = list[Any]


@pytest.fixture
def anyio_backend() -> str:
    # Tornado's HTTPServer needs an asyncio loop.
    return "asyncio"


def _body(response: Response) -> str:
    return response.body.decode("utf-8")


# -- plain output: write, JSON, status, headers -----------------------------------------


def output_rules(web: Web) -> Rules:
    class WriteStr(web.RequestHandler):
        def get(self) -> None:
            self.write("héllo, ")
            self.write("wörld")

    class WriteBytes(web.RequestHandler):
        def get(self) -> None:
            self.write(b"\x00\xff raw")

    class WriteDict(web.RequestHandler):
        def get(self) -> None:
            self.write({"html": "</script><script>", "n": [1, 2.5, None, True], "é": "ü"})

    class DictThenContentType(web.RequestHandler):
        def get(self) -> None:
            self.write({"a": 1})
            self.set_header("Content-Type", "text/plain")

    class Empty(web.RequestHandler):
        def get(self) -> None:
            pass

    class Status(web.RequestHandler):
        def get(self, code: str) -> None:
            self.set_status(int(code))
            self.write(f"status {code}")

    class Reason(web.RequestHandler):
        def get(self, code: str) -> None:
            reason = self.get_argument("reason", None, strip=False)
            self.set_status(int(code), reason)
            # ASGI cannot carry a reason phrase: compare what the handler holds.
            self.write(self._reason)

    class HeaderOps(web.RequestHandler):
        def get(self) -> None:
            self.set_header("X-Set", "one")
            self.set_header("X-Set", "two")
            self.add_header("X-Added", "a")
            self.add_header("X-Added", "b")
            self.set_header("X-Cleared", "gone")
            self.clear_header("X-Cleared")
            self.clear_header("X-Never-Set")
            self.set_header("x-lower-case", "v")
            self.set_header("X-Int", 42)
            self.add_header("X-Bytes", b"bytes value")
            self.set_header("X-Aware", datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))
            self.set_header("X-Naive", datetime.datetime(2021, 6, 7, 8, 9, 10))
            self.write("headers")

    class HeaderValue(web.RequestHandler):
        def get(self) -> None:
            # Raw, not get_argument(): that would turn control characters into spaces.
            value = self.request.query_arguments["v"][0].decode("utf-8")
            self.set_header("X-Value", value)
            self.add_header("X-Added", value.encode("utf-8"))

    class NoContentType(web.RequestHandler):
        def get(self) -> None:
            self.clear_header("Content-Type")
            self.write("untyped")

    class NoContent(web.RequestHandler):
        def get(self) -> None:
            self.set_status(204)
            self.set_header("Content-Language", "en")

    class ExplicitLength(web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Length", "5")
            self.write("12345")

    class Streamed(web.RequestHandler):
        async def get(self) -> None:
            self.set_header("X-Streamed", "yes")
            self.write("first,")
            await self.flush()
            self.write("second,")
            self.flush()
            self.write("last")

    class StreamedThenFinish(web.RequestHandler):
        async def get(self) -> None:
            self.write("a")
            await self.flush()
            await self.finish("b")

    return [
        ("/str", WriteStr),
        ("/bytes", WriteBytes),
        ("/dict", WriteDict),
        ("/dict-then-type", DictThenContentType),
        ("/empty", Empty),
        (r"/status/(\d+)", Status),
        (r"/reason/(\d+)", Reason),
        ("/headers", HeaderOps),
        ("/header-value", HeaderValue),
        ("/no-content-type", NoContentType),
        ("/204", NoContent),
        ("/length", ExplicitLength),
        ("/streamed", Streamed),
        ("/streamed-finish", StreamedThenFinish),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/str",
        "/bytes",
        "/dict",  # JSON with "</" escaped
        "/dict-then-type",
        "/empty",
        "/status/201",
        "/status/202",
        "/status/299",  # no standard phrase
        "/status/404",  # an error status set by hand: no error page
        "/status/599",
        "/reason/200",
        "/reason/299",  # unknown code: "Unknown"
        "/reason/200?reason=Fine%20Indeed",
        "/reason/299?reason=Custom",
        "/reason/200?reason=",
        "/reason/200?reason=%3Cb%3E",  # markup is refused
        "/reason/200?reason=a%0D%0Ab",  # CR/LF is refused
        "/reason/200?reason=tab%09and%C3%A9",
        "/headers",
        "/header-value?v=plain",
        "/header-value?v=tab%09inside",  # HTAB is allowed in a field value
        "/header-value?v=caf%C3%A9",  # latin-1 (obs-text) passes
        "/header-value?v=%E2%82%AC",  # beyond latin-1: 500 from set_header
        "/header-value?v=del%7F",  # DEL: 500
        "/header-value?v=split%0D%0AX-Evil:%201",  # CR/LF: 500
        "/header-value?v=nul%00",
        "/no-content-type",
        "/204",  # no body, no Content-Type, no Content-Length
        "/length",
        "/streamed",  # flushed: no Content-Length (Tornado adds chunked framing)
        "/streamed-finish",
    ],
)
async def test_plain_output_matches(path: str, caplog: pytest.LogCaptureFixture) -> None:
    async with differential(output_rules) as pair:
        response = await pair.same(path)
    if response.status >= 500:
        assert_error_logged(caplog)  # the access log line of a 5xx


@pytest.mark.anyio
async def test_json_escapes_closing_tags_on_both() -> None:
    async with differential(output_rules) as pair:
        response = await pair.same("/dict")
    assert response.header("Content-Type") == "application/json; charset=UTF-8"
    assert b"<\\/script>" in response.body


@pytest.mark.anyio
async def test_204_has_no_body_or_representation_headers_on_both() -> None:
    async with differential(output_rules) as pair:
        response = await pair.same("/204")
    assert response.status == 204
    assert response.body == b""
    assert response.header("Content-Type") is None
    assert response.header("Content-Language") is None


def list_rules(web: Web) -> Rules:
    class WriteList(web.RequestHandler):
        def get(self) -> None:
            self.write(["</a>", 1])

    return [("/list", WriteList)]


@pytest.mark.anyio
async def test_write_list_is_deliberately_json_on_tornadoish_but_refused_by_tornado(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DESIGN.md §3: write() accepts lists (JSON arrays); Tornado raises TypeError -> 500.
    async with differential(list_rules) as pair:
        exchange = await pair.fetch("/list")
    assert exchange.tornado.status == 500
    assert_error_logged(caplog, "TypeError", frameworks=["tornado"])
    assert exchange.tornadoish.status == 200
    assert exchange.tornadoish.header("Content-Type") == "application/json; charset=UTF-8"
    assert exchange.tornadoish.body == b'["<\\/a>", 1]'


# -- errors: HTTPError, send_error, write_error, exceptions -----------------------------


def error_rules(web: Web) -> Rules:
    class Raise(web.RequestHandler):
        def set_default_headers(self) -> None:
            self.set_header("X-Default", "kept")

        def get(self, kind: str) -> None:
            self.set_header("X-Dropped", "by the error page")
            self.set_cookie("dropped", "too")
            self.write("this body is discarded")
            if kind == "404":
                raise web.HTTPError(404)
            if kind == "418":
                raise web.HTTPError(418)
            if kind == "unknown":
                raise web.HTTPError(599)
            if kind == "reason":
                raise web.HTTPError(400, reason="Bad Thing & <Worse>")
            if kind == "newline-reason":
                raise web.HTTPError(400, reason="split\r\nX-Evil: 1")
            if kind == "plain-reason":
                raise web.HTTPError(409, reason="Already There")
            if kind == "log":
                raise web.HTTPError(403, "private detail %s", "x")
            if kind == "log-percent":
                raise web.HTTPError(403, "100% private")
            if kind == "500":
                raise web.HTTPError(500)
            if kind == "503-reason":
                raise web.HTTPError(503, reason="Down For Maintenance")
            if kind == "304":
                raise web.HTTPError(304)
            if kind == "finish":
                raise web.Finish()
            if kind == "finish-chunk":
                raise web.Finish("finished early")
            if kind == "finish-dict":
                raise web.Finish({"done": True})
            if kind == "missing":
                self.get_argument("nope")
            if kind == "send-error":
                self.send_error(402)
                return
            if kind == "send-error-reason":
                self.send_error(400, reason="Custom Reason")
                return
            if kind == "send-error-204":
                self.send_error(204)
                return
            if kind == "send-error-304":
                self.send_error(304)
                return
            if kind == "204":
                raise web.HTTPError(204)
            if kind == "200":
                raise web.HTTPError(200)
            raise AssertionError(kind)

    class SetStatusThenFinishRaise(web.RequestHandler):
        def get(self) -> None:
            self.set_status(202)
            self.set_header("X-Kept", "finish keeps headers")
            raise web.Finish("accepted")

    class Gone(web.ErrorHandler):
        pass

    return [
        (r"/raise/([\w-]+)", Raise),
        ("/finish-keeps", SetStatusThenFinishRaise),
        ("/gone", web.ErrorHandler, {"status_code": 410}),
        ("/gone-subclass", Gone, {"status_code": 451}),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kind",
    [
        "404",
        "418",
        "unknown",  # 599: reason "Unknown"
        "reason",  # custom reason, escaped in the page... and refused for its "<"
        "newline-reason",  # invalid reason -> "Unknown"
        "plain-reason",
        "log",  # log_message goes to the log, never to the client
        "log-percent",
        "304",  # no body
        "finish",
        "finish-chunk",
        "finish-dict",
        "missing",  # MissingArgumentError -> 400
        "send-error",
        "send-error-reason",
        "send-error-204",
        "send-error-304",
        "204",
        "200",  # an "error" page with status 200
    ],
)
async def test_http_errors_and_finish_match(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    async with differential(error_rules) as pair:
        response = await pair.same(f"/raise/{kind}")
    if response.status >= 500:
        assert_error_logged(caplog)  # the access log line of a 5xx
    assert response.header("X-Default") == "kept"
    # Cookies set before the error survive it (Tornado's clear() keeps them); other
    # headers do not, unless the error was a Finish.
    assert response.header("Set-Cookie") == "dropped=too; Path=/"
    if kind.startswith("finish"):
        assert response.header("X-Dropped") is not None
    else:
        assert response.header("X-Dropped") is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "warning"),
    [
        ("/raise/log", "403 GET /raise/log (127.0.0.1): private detail x"),
        ("/raise/log-percent", "403 GET /raise/log-percent (127.0.0.1): 100% private"),
        ("/raise/missing", "400 GET /raise/missing (127.0.0.1): Missing argument nope"),
        ("/raise/404", None),  # no log_message: no warning
    ],
)
async def test_http_error_log_messages_match(
    path: str, warning: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    async with differential(error_rules) as pair:
        await pair.same(path)
    tornado_warnings, tornadoish_warnings = logged_warnings(caplog, "general")
    assert tornadoish_warnings == tornado_warnings == ([] if warning is None else [warning])


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["500", "503-reason"])
async def test_5xx_http_errors_match(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    async with differential(error_rules) as pair:
        await pair.same(f"/raise/{kind}")
    assert_error_logged(caplog)  # the access log line of a 5xx


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/finish-keeps", "/gone", "/gone-subclass"])
async def test_finish_and_error_handler_match(path: str) -> None:
    async with differential(error_rules) as pair:
        await pair.same(path)
        if path != "/finish-keeps":  # a 405 from a handler without post(): see below
            await pair.same(path, "POST")


def exception_rules(web: Web) -> Rules:
    class Boom(web.RequestHandler):
        def set_default_headers(self) -> None:
            self.set_header("X-Default", "kept")

        def get(self) -> None:
            self.set_header("X-Dropped", "1")
            self.write("partial")
            raise ZeroDivisionError("boom in get")

    class AsyncBoom(web.RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(0)
            raise KeyError("boom in async get")

    class BoomInWriteError(web.RequestHandler):
        def get(self) -> None:
            raise ValueError("first")

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            self.set_header("X-From-Write-Error", "yes")
            self.write("partial error page")
            raise LookupError("boom in write_error")

    class CustomWriteError(web.RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "http":
                raise web.HTTPError(402, reason="Pay Up")
            if kind == "send":
                self.send_error(429, detail="slow down")
                return
            raise RuntimeError("custom")

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            exc_info = kwargs.get("exc_info")
            self.set_header("Content-Type", "application/problem+json")
            self.finish(
                {
                    "status": status_code,
                    "exception": None if exc_info is None else type(exc_info[1]).__name__,
                    "detail": kwargs.get("detail"),
                }
            )

    class WriteAfterFinish(web.RequestHandler):
        def get(self) -> None:
            self.finish("done")
            self.write("more")

    class FinishTwice(web.RequestHandler):
        def get(self) -> None:
            self.finish("done")
            self.finish()

    class BodyOn204(web.RequestHandler):
        def get(self) -> None:
            self.set_status(204)
            self.write("not allowed")

    class UnsafeHeader(web.RequestHandler):
        def get(self) -> None:
            self.set_header("X-Bad", "a\r\nInjected: 1")

    class RedirectAfterFlush(web.RequestHandler):
        async def get(self) -> None:
            self.write("streamed ")
            await self.flush()
            self.redirect("/elsewhere")

    class BadJson(web.RequestHandler):
        def get(self) -> None:
            self.write({"not serializable": object()})

    class ComplexReverse(web.RequestHandler):
        def get(self, *args: str) -> None:
            self.write(self.reverse_url("complex", "x"))

    class OnFinishRaises(web.RequestHandler):
        def get(self) -> None:
            self.write("sent before on_finish")

        def on_finish(self) -> None:
            raise OSError("boom in on_finish")

    class ErrorAfterFlush(web.RequestHandler):
        async def get(self) -> None:
            self.write("streamed ")
            await self.flush()
            raise ValueError("too late for an error page")

    return [
        ("/boom", Boom),
        ("/async-boom", AsyncBoom),
        ("/boom-in-write-error", BoomInWriteError),
        (r"/custom/(\w+)", CustomWriteError),
        ("/write-after-finish", WriteAfterFinish),
        ("/finish-twice", FinishTwice),
        ("/body-on-204", BodyOn204),
        ("/unsafe-header", UnsafeHeader),
        ("/error-after-flush", ErrorAfterFlush),
        ("/on-finish-raises", OnFinishRaises),
        ("/redirect-after-flush", RedirectAfterFlush),
        ("/bad-json", BadJson),
        web.url(r"/complex/((a|b)+)", ComplexReverse, name="complex"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/boom", "ZeroDivisionError"),
        ("/async-boom", "KeyError"),
        ("/boom-in-write-error", "LookupError"),
        ("/custom/exception", "RuntimeError"),
        ("/write-after-finish", "RuntimeError"),  # already sent: the 200 stands
        ("/finish-twice", "RuntimeError"),
        ("/body-on-204", "RuntimeError"),
        ("/unsafe-header", "ValueError"),
        ("/error-after-flush", "ValueError"),
        ("/on-finish-raises", "boom in on_finish"),
        ("/redirect-after-flush", "Cannot redirect after headers have been written"),
        ("/bad-json", "TypeError"),
        ("/complex/a", "reverse"),  # a pattern too complex to reverse
    ],
)
async def test_uncaught_exceptions_match(
    path: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with differential(exception_rules) as pair:
        response = await pair.same(path)
    # The same messages ("Uncaught exception GET /boom (127.0.0.1)" and the request's
    # repr, "Uncaught exception in write_error", ...) from the same kind of logger.
    tornado_errors, tornadoish_errors = (
        [
            (r.name.partition(".")[2], r.getMessage())
            for r in caplog.get_records("call")
            if r.name.startswith(f"{framework}.") and not r.name.endswith(".access")
        ]
        for framework in ("tornado", "tornadoish")
    )
    if path != "/on-finish-raises":
        # Except for on_finish, which runs inside finish() on Tornado and after the
        # response on tornadoish (it may be async: a documented difference), so the
        # message says where it failed.
        assert tornadoish_errors == tornado_errors
    assert_error_logged(caplog, logged)
    if path == "/boom":
        assert response.status == 500
        assert response.header("X-Default") == "kept"
        assert response.header("X-Dropped") is None


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/custom/http", "/custom/send"])
async def test_custom_write_error_matches(path: str) -> None:
    async with differential(exception_rules) as pair:
        await pair.same(path)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "settings",
    [{"serve_traceback": True}, {"debug": True, "autoreload": False}],
    ids=["serve_traceback", "debug"],
)
async def test_serve_traceback_sends_a_plain_text_traceback_on_both(
    settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with differential(exception_rules, **settings) as pair:
        exchange = await pair.fetch("/boom")
    assert_error_logged(caplog, "ZeroDivisionError")
    # The traceback text names files and lines of each framework: compare its shape.
    for response in (exchange.tornado, exchange.tornadoish):
        assert response.status == 500
        assert response.header("Content-Type") == "text/plain"
        assert _body(response).startswith("Traceback (most recent call last):")
        assert "ZeroDivisionError: boom in get" in _body(response)
        assert response.header("Content-Length") == str(len(response.body))


# -- lifecycle: prepare, async methods, on_finish, 404, default handler -----------------


def lifecycle_rules(web: Web, finished: list[str]) -> Rules:
    class EarlyFinish(web.RequestHandler):
        def prepare(self) -> None:
            self.set_header("X-Prepared", "1")
            self.finish("from prepare")

        def get(self) -> None:
            raise AssertionError("get() must not run")

    class PrepareRedirect(web.RequestHandler):
        def prepare(self) -> None:
            self.redirect("/elsewhere")

    class PrepareRaises(web.RequestHandler):
        def prepare(self) -> None:
            raise web.HTTPError(401)

    class AsyncPrepare(web.RequestHandler):
        async def prepare(self) -> None:
            await asyncio.sleep(0)
            self.greeting = "async"

        async def get(self) -> None:
            await asyncio.sleep(0)
            self.write(self.greeting + " get")

    class Recorded(web.RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "error":
                raise web.HTTPError(400)
            self.write(kind)

        def on_finish(self) -> None:
            finished.append(f"{self.request.method} {self.request.path} {self.get_status()}")

    return [
        ("/early", EarlyFinish),
        ("/prepare-redirect", PrepareRedirect),
        ("/prepare-raises", PrepareRaises),
        ("/async", AsyncPrepare),
        (r"/recorded/(\w+)", Recorded),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/early", "GET"),
        ("/early", "POST"),  # prepare runs before the verb method is even looked up
        ("/prepare-redirect", "GET"),
        ("/prepare-raises", "GET"),
        ("/async", "GET"),
        ("/nowhere", "GET"),  # default 404 page
        ("/nowhere", "POST"),
        ("/nowhere", "HEAD"),
        ("/prepare-raises", "HEAD"),
    ],
)
async def test_lifecycle_matches(path: str, method: str) -> None:
    async with differential(lambda web: lifecycle_rules(web, [])) as pair:
        await pair.same(path, method)


@pytest.mark.anyio
async def test_on_finish_runs_after_every_response_on_both() -> None:
    calls: dict[str, list[str]] = {"tornado.web": [], "tornadoish.web": []}
    async with differential(lambda web: lifecycle_rules(web, calls[web.__name__])) as pair:
        await pair.same("/recorded/ok")
        await pair.same("/recorded/error")
    assert calls["tornado.web"] == ["GET /recorded/ok 200", "GET /recorded/error 400"]
    assert calls["tornadoish.web"] == calls["tornado.web"]


def default_handler_spec(web: Web) -> AppSpec:
    class Fallback(web.RequestHandler):
        def initialize(self, label: str) -> None:
            self.label = label

        def prepare(self) -> None:
            self.set_status(404)
            self.finish(f"{self.label}: no page at {self.request.path}")

    class Home(web.RequestHandler):
        def get(self) -> None:
            self.write("home")

    return AppSpec(
        rules=[("/", Home)],
        settings={
            "default_handler_class": Fallback,
            "default_handler_args": {"label": "custom"},
        },
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "method"), [("/", "GET"), ("/x/y", "GET"), ("/x", "PUT")])
async def test_default_handler_class_matches(path: str, method: str) -> None:
    async with differential(default_handler_spec) as pair:
        await pair.same(path, method)


# -- redirects ---------------------------------------------------------------------------


def redirect_rules(web: Web) -> Rules:
    class Redirect(web.RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "temporary":
                self.redirect("/target")
            elif kind == "permanent":
                self.redirect("/target", permanent=True)
            elif kind == "status":
                self.redirect("/target?x=1", status=307)
            elif kind == "absolute":
                self.redirect("https://other.example/path")
            elif kind == "unicode":
                self.redirect("/tärget")
            elif kind == "after-write":
                self.write("discarded? no: kept in the buffer")
                self.redirect("/target")

    r = web.RedirectHandler
    return [
        (r"/redirect/([\w-]+)", Redirect),
        (r"/pos/(.*)", r, {"url": "/to/{0}"}),
        (r"/named/(?P<name>.*)", r, {"url": "/to/{name}", "permanent": False}),
        (r"/with-query/(.*)", r, {"url": "/to/{0}?fixed=1"}),
        (r"/absolute/(.*)", r, {"url": "https://fixed.example/{0}"}),
        (r"/open/(.*)", r, {"url": "/{0}"}),
        (r"/open-scheme/(.*)", r, {"url": "http://{0}"}),
        (r"/open-host/(.*)", r, {"url": "https://{0}/x"}),
        ("/plain", r, {"url": "/target"}),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/redirect/temporary",
        "/redirect/permanent",
        "/redirect/status",
        "/redirect/absolute",
        "/redirect/unicode",
        "/redirect/after-write",
        "/pos/a/b",
        "/pos/a%20b",
        "/pos/x?q=1&q=2&r=%C3%A9",
        "/named/n?a=b",
        "/with-query/x?extra=2",
        "/absolute/p?q=1",
        "/plain?a=1",
        "/open/ok",
        "/open//evil.example/",  # open-redirect guard: 400
        "/open/%2F%2Fevil.example",
        "/open/%5C%5Cevil.example",  # browsers treat a backslash like a slash
        "/open-scheme/evil.example",
        "/open-host/evil.example",
        "/pos/del%7F",  # DEL is not: 400
        "/pos/crlf%0D%0A",
        "/pos/%E2%82%AC",
    ],
)
async def test_redirects_match(path: str) -> None:
    async with differential(redirect_rules) as pair:
        await pair.same(path)


# -- routing: path groups, raw path, first match, hosts ---------------------------------


def routing_rules(web: Web) -> Rules:
    class Echo(web.RequestHandler):
        def get(self, *args: str | None, **kwargs: str | None) -> None:
            self.write({"handler": "echo", "args": list(args), "kwargs": kwargs})

    def named(label: str) -> type:
        class Named(web.RequestHandler):
            def get(self, *args: str) -> None:
                self.write(label)

        return Named

    return [
        (r"/pos/([^/]+)/([^/]+)", Echo),
        (r"/kw/(?P<first>[^/]+)/(?P<second>[^/]+)", Echo),
        (r"/optional/(a)?(b)?", Echo),
        (r"/optional-kw/(?P<x>x)?", Echo),
        (r"/rest/(.*)", Echo),
        ("/a/b", named("slash")),
        ("/a%2Fb", named("encoded slash")),
        ("/first/.*", named("first")),
        ("/first/exact", named("second")),
        ("/caf%C3%A9", named("encoded literal")),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/pos/one/two",
        "/kw/one/two",
        "/optional/",  # unmatched groups -> None
        "/optional/a",
        "/optional/b",
        "/optional-kw/",
        "/pos/a%2Fb/c",  # %2F decoded after matching
        "/pos/a+b/c%20d",  # '+' stays '+'
        "/pos/%C3%A9t%C3%A9/%E2%82%AC",  # UTF-8
        "/pos/%FF/x",  # invalid UTF-8 -> 400
        "/kw/%FE%FF/x",
        "/rest/a/b%3Fc",
        "/a/b",
        "/a%2Fb",  # matched against the raw path: not "/a/b"
        "/a%2fb",  # ... and literally: lower-case escape is another path
        "/first/exact",  # first match wins
        "/café",  # the client percent-encodes it
        "/pos/one",  # no match: 404
    ],
)
async def test_routing_matches(path: str) -> None:
    async with differential(routing_rules) as pair:
        await pair.same(path)


def host_spec(web: Web) -> AppSpec:
    def says(text: str) -> type:
        class Says(web.RequestHandler):
            def get(self) -> None:
                self.write(f"{text} for {self.request.host}")

        return Says

    return AppSpec(
        rules=[("/", says("wildcard")), ("/only-wildcard", says("only wildcard"))],
        host_handlers=[
            (r"www\.example\.com", [("/", says("www"))]),
            (r".*\.api\.example", [("/", says("api")), ("/v1", says("api v1"))]),
            # Another wildcard: it goes ahead of the constructor's handlers too.
            (".*", [("/only-wildcard", says("later wildcard")), ("/later", says("later"))]),
        ],
        default_host="www.example.com",
    )


def no_default_host_spec(web: Web) -> AppSpec:
    spec = host_spec(web)
    spec.default_host = None
    return spec


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", {"Host": "www.example.com"}),
        ("/", {"Host": "WWW.Example.COM:8080"}),
        ("/", {"Host": "v2.api.example"}),
        ("/v1", {"Host": "v2.api.example"}),
        ("/only-wildcard", {"Host": "www.example.com"}),
        ("/later", {"Host": "elsewhere.example"}),
        ("/", {"Host": "elsewhere.example"}),  # falls back to default_host's rules
        ("/v1", {"Host": "elsewhere.example"}),
        ("/", {"Host": "elsewhere.example", "X-Real-Ip": "10.0.0.1"}),  # not behind a proxy
    ],
)
@pytest.mark.parametrize("spec", [host_spec, no_default_host_spec], ids=["default", "no-default"])
async def test_host_rules_match(path: str, headers: dict[str, str], spec: Any) -> None:
    async with differential(spec) as pair:
        await pair.same(path, headers=headers)


def reverse_rules(web: Web) -> Rules:
    class Reverse(web.RequestHandler):
        def get(self, which: str) -> None:
            if which == "str":
                self.write(self.reverse_url("user", "a b/c", "d%e"))
            elif which == "bytes":
                self.write(self.reverse_url("user", b"caf\xc3\xa9", "é"))
            elif which == "int":
                self.write(self.reverse_url("item", 42))
            elif which == "named":
                self.write(self.reverse_url("named", "x?y"))
            elif which == "plain":
                self.write(self.reverse_url("plain"))
            elif which == "app":
                self.write(self.application.reverse_url("item", 7))
            else:
                self.write(self.reverse_url("no-such-name"))

    return [
        (r"/reverse/(\w+)", Reverse),
        web.url(r"/user/([^/]+)/([^/]+)", Reverse, name="user"),
        web.url(r"/item/(\d+)", Reverse, name="item"),
        web.url(r"/named/(?P<key>[^/]+)/end", Reverse, name="named"),
        web.url(r"/plain/path", Reverse, name="plain"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("which", ["str", "bytes", "int", "named", "plain", "app"])
async def test_reverse_url_matches(which: str) -> None:
    async with differential(reverse_rules) as pair:
        await pair.same(f"/reverse/{which}")


@pytest.mark.anyio
async def test_reverse_url_of_an_unknown_name_is_a_500_on_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with differential(reverse_rules) as pair:
        response = await pair.same("/reverse/unknown")
    assert response.status == 500
    assert_error_logged(caplog, "KeyError", "no-such-name")


# -- the request as handlers see it -------------------------------------------------------


def request_rules(web: Web) -> Rules:
    class Describe(web.RequestHandler):
        def get(self, *args: str) -> None:
            request = self.request
            self.write(
                {
                    "method": request.method,
                    "uri": request.uri,
                    "path": request.path,
                    "query": request.query,
                    "version": request.version,
                    "host": request.host,
                    "host_name": request.host_name,
                    "protocol": request.protocol,
                    "remote_ip": request.remote_ip,
                    "full_url": request.full_url(),
                    "body": request.body.decode("latin-1"),
                    "headers": {
                        name: request.headers.get_list(name)
                        for name in ("Host", "X-Multi", "x-lower", "Content-Type", "Cookie")
                    },
                    "query_arguments": {
                        name: [v.decode("latin-1") for v in values]
                        for name, values in request.query_arguments.items()
                    },
                    "arguments": sorted(request.arguments),
                    "status": self.get_status(),
                }
            )

        post = put = delete = patch = get

    return [(r"/describe(/.*)?", Describe)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/describe", "GET", {}),
        ("/describe/a%20b/c?x=1&y=%2B&x=2", "GET", {}),
        ("/describe?q=%E2%82%AC&empty=&flag", "GET", {}),
        ("/describe", "GET", {"Host": "Mixed.Case.Example:9000"}),
        ("/describe", "GET", {"Host": "[::1]:8080"}),
        ("/describe", "GET", {"Host": "no-port.example"}),
        ("/describe", "POST", {"X-Multi": "one", "x-lower": "two", "Content-Type": "text/x"}),
        ("/describe", "PUT", {"Cookie": "a=1"}),
    ],
)
async def test_request_attributes_match(path: str, method: str, headers: dict[str, str]) -> None:
    async with differential(request_rules) as pair:
        await pair.same(path, method, headers=headers, content=b"body \xe9")


@pytest.mark.anyio
async def test_query_argument_names_are_deliberately_utf8_on_tornadoish_latin1_on_tornado() -> None:
    # docs/index.md lists it: Tornado's parse_qs_bytes decodes names as latin-1.
    async with differential(request_rules) as pair:
        exchange = await pair.fetch("/describe?%C3%A9=1")
    assert b'"query_arguments": {"\\u00c3\\u00a9": ["1"]}' in exchange.tornado.body
    assert b'"query_arguments": {"\\u00e9": ["1"]}' in exchange.tornadoish.body


# -- arguments ---------------------------------------------------------------------------


def argument_rules(web: Web) -> Rules:
    class Arguments(web.RequestHandler):
        def report(self) -> None:
            self.write(
                {
                    "argument": self.get_argument("a", None),
                    "unstripped": self.get_argument("a", None, strip=False),
                    "arguments": self.get_arguments("a"),
                    "query": self.get_query_argument("a", None),
                    "query_all": self.get_query_arguments("a", strip=False),
                    "body": self.get_body_argument("a", None),
                    "body_all": self.get_body_arguments("a"),
                    "other": self.get_argument("other", "default"),
                }
            )

        def get(self) -> None:
            self.report()

        post = put = patch = delete = options = get

    class Required(web.RequestHandler):
        def get(self, which: str) -> None:
            if which == "query":
                self.write(self.get_query_argument("a"))
            elif which == "body":
                self.write(self.get_body_argument("a"))
            else:
                self.write(self.get_argument("a"))

        def post(self, which: str) -> None:
            self.get(which)

    class Files(web.RequestHandler):
        def post(self) -> None:
            self.write(
                {
                    name: [[f["filename"], f["content_type"], f["body"].decode()] for f in files]
                    for name, files in self.request.files.items()
                }
            )

    return [("/args", Arguments), (r"/required/(\w+)", Required), ("/files", Files)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?a=1",
        "?a=1&a=2",  # the last value wins
        "?a=+spaced+&other=o",  # stripped unless strip=False
        "?a=%20%09tab%0A",
        "?a=x%01y%1Fz%7F",  # control characters -> spaces (DEL is kept)
        "?a=%C3%A9",
        "?a=&a=",  # blank values are kept
        "?a",
        "?%C3%A9=1&a=%E2%82%AC",
        "?a=%FF",  # invalid UTF-8 -> 400
    ],
)
async def test_query_arguments_match(query: str) -> None:
    async with differential(argument_rules) as pair:
        await pair.same("/args" + query)


_URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "body", "headers"),
    [
        ("", b"a=1&a=2", _URLENCODED),
        ("?a=q", b"a=b", _URLENCODED),  # query values first, body last
        ("?a=q", b"a=+b+&other=%C3%A9", _URLENCODED),
        ("", b"a=1", {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}),
        ("", b"a=1", {"Content-Type": "text/plain"}),  # not a form: no body arguments
        ("", b"a=1", {}),
        ("", b"a=%FF", _URLENCODED),
        (
            "?a=q",
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nmulti part\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n two \r\n--XyZ--\r\n',
            {"Content-Type": "multipart/form-data; boundary=XyZ"},
        ),
        (
            "",
            b'--"q"\r\nContent-Disposition: form-data; name="a"\r\n\r\nquoted\r\n--"q"--\r\n',
            {"Content-Type": 'multipart/form-data; boundary="q"'},
        ),
        (
            "",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--b--\r\n',
            {"Content-Type": "multipart/form-data; boundary=b"},  # an empty value
        ),
        *(
            ("", body, {"Content-Type": "multipart/form-data; boundary=b"})
            for body in (
                b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n',  # no end
                b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--',
                b"garbage",
                b"--b\r\nNo-Disposition: x\r\n\r\nx\r\n--b--\r\n",
                b'--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--b--\r\n',
                b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
                b'--b\r\nContent-Disposition: form-data; name="f"; filename=""\r\n\r\n'
                b"x\r\n--b--\r\n",
            )
        ),
        ("", b"a", {"Content-Type": "multipart/form-data"}),  # no boundary: 400
        ("", b"a=1&&=2&b", _URLENCODED),
        ("", b"a=%zz&a=%", _URLENCODED),
        ("", b"a=1;b=2", _URLENCODED),
    ],
)
async def test_body_arguments_match(query: str, body: bytes, headers: dict[str, str]) -> None:
    async with differential(argument_rules) as pair:
        await pair.same("/args" + query, "POST", content=body, headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_form_bodies_are_parsed_for_every_method_on_both(method: str) -> None:
    async with differential(argument_rules) as pair:
        await pair.same("/args?a=q", method, content=b"a=body", headers=_URLENCODED)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "tornado_sees_a_form"),
    [
        ("Multipart/Form-Data; boundary=b", False),
        ("APPLICATION/X-WWW-FORM-URLENCODED", False),
        ("application/x-www-form-urlencoded-extra", True),
    ],
)
async def test_form_media_types_are_deliberately_compared_exactly_and_case_insensitively(
    content_type: str, tornado_sees_a_form: bool
) -> None:
    # tornadoish/forms.py documents it (RFC 9110 §8.3.1): Tornado tests a case-sensitive
    # prefix of the Content-Type.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n'
        if content_type.lower().startswith("multipart")
        else b"a=1"
    )
    async with differential(argument_rules) as pair:
        exchange = await pair.fetch(
            "/args", "POST", content=body, headers={"Content-Type": content_type}
        )
    found = b'"body": "1"'
    assert (found in exchange.tornado.body) is tornado_sees_a_form
    assert (found in exchange.tornadoish.body) is not tornado_sees_a_form


@pytest.mark.anyio
async def test_multipart_part_without_body_line_is_deliberately_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # docs/index.md: a part whose headers run straight into the closing delimiter (no
    # CRLF for an empty body) is malformed; Tornado 6.6 reads it as an empty value.
    async with differential(argument_rules) as pair:
        exchange = await pair.fetch(
            "/args",
            "POST",
            content=b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n--b--\r\n',
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert exchange.tornado.status == 200
    assert exchange.tornadoish.status == 400


@pytest.mark.anyio
async def test_multipart_files_match() -> None:
    async with differential(argument_rules) as pair:
        await pair.same(
            "/files",
            "POST",
            data={"field": "value"},
            files=[
                ("upload", ("a.txt", b"alpha", "text/plain")),
                ("upload", ("b.bin", b"beta", "application/octet-stream")),
                ("other", ("résumé.txt", b"gamma", "text/plain")),
            ],
        )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/required/any", "GET", b""),
        ("/required/any?a=1", "GET", b""),
        ("/required/query", "POST", b"a=1"),  # present in the body only
        ("/required/body?a=1", "POST", b""),  # present in the query only
        ("/required/body", "POST", b"a=2"),
    ],
)
async def test_missing_arguments_are_400_on_both(path: str, method: str, body: bytes) -> None:
    async with differential(argument_rules) as pair:
        await pair.same(path, method, content=body, headers=_URLENCODED)


# -- cookies -----------------------------------------------------------------------------


def cookie_rules(web: Web) -> Rules:
    class Read(web.RequestHandler):
        def get(self) -> None:
            self.write(
                {
                    "a": self.get_cookie("a"),
                    "quoted": self.get_cookie("quoted"),
                    "missing": self.get_cookie("missing", "fallback"),
                    "names": sorted(self.cookies),
                }
            )

    class Write(web.RequestHandler):
        def get(self, kind: str) -> None:
            fixed = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
            if kind == "plain":
                self.set_cookie("plain", "value")
            elif kind == "all":
                self.set_cookie(
                    "all",
                    "v",
                    domain="example.com",
                    expires=fixed,
                    path="/sub",
                    max_age=3600,
                    httponly=True,
                    secure=True,
                    samesite="Lax",
                )
            elif kind == "timestamp":
                self.set_cookie("ts", "v", expires=1_700_000_000)
            elif kind == "naive":
                self.set_cookie("naive", "v", expires=datetime.datetime(2030, 1, 2, 3, 4, 5))
            elif kind == "tuple":
                self.set_cookie("tuple", "v", expires=(2030, 1, 2, 3, 4, 5, 0, 0, 0))
            elif kind == "samesite-none":
                self.set_cookie("sn", "v", samesite="None", secure=True, max_age=0)
            elif kind == "days":
                self.set_cookie("days", "v", expires_days=30)
            elif kind == "quoting":
                self.set_cookie("q", 'needs"quotes",\\;')
            elif kind == "bytes":
                self.set_cookie("b", b"bytes-value")
            elif kind == "replace":
                self.set_cookie("same", "first")
                self.set_cookie("other", "x")
                self.set_cookie("same", "second", path="/p")
            elif kind == "clear":
                self.clear_cookie("gone")
                self.clear_cookie("gone-too", path="/p", domain="example.com")
            elif kind == "clear-all":
                self.clear_all_cookies()
            elif kind == "no-path":
                self.set_cookie("np", "v", path=None)  # Tornado allows no Path
            self.write("ok")

    class Invalid(web.RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "value":
                self.set_cookie("bad", "a b")
            elif kind == "domain":
                self.set_cookie("bad", "v", domain="x;secure")
            else:
                self.set_cookie("bad", "v", path="/\x00")

    return [("/read", Read), (r"/write/([\w-]+)", Write), (r"/invalid/(\w+)", Invalid)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "a=1",
        'a=1; quoted="x\\"y\\073"',
        "a=1; a=2",
        "a=1;;b=2; =empty; noequals",
        "a=%C3%A9; bad name=1",
    ],
)
async def test_reading_cookies_matches(cookie: str | None) -> None:
    headers = {} if cookie is None else {"Cookie": cookie}
    async with differential(cookie_rules) as pair:
        await pair.same("/read", headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kind",
    [
        "plain",
        "all",
        "timestamp",
        "naive",
        "tuple",
        "samesite-none",  # max_age=0 means "no Max-Age" on both
        "days",
        "quoting",
        "bytes",
        "replace",
        "clear",
        "clear-all",
        "no-path",
    ],
)
async def test_setting_cookies_matches(kind: str) -> None:
    async with differential(cookie_rules) as pair:
        # Expiry dates computed from the clock may be a second apart: normalised.
        response = await pair.same(
            f"/write/{kind}",
            headers={"Cookie": "c1=1; c2=2"},
            normalize_expires=kind in ("days", "clear", "clear-all"),
        )
    if kind == "all":
        assert response.header("Set-Cookie") == (
            "all=v; Domain=example.com; expires=Wed, 02 Jan 2030 03:04:05 GMT; "
            "HttpOnly; Max-Age=3600; Path=/sub; SameSite=Lax; Secure"
        )


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["value", "domain", "path"])
async def test_invalid_cookies_are_a_500_on_both(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with differential(cookie_rules) as pair:
        await pair.same(f"/invalid/{kind}")
    assert_error_logged(caplog)


# -- ETags -------------------------------------------------------------------------------

_ETAG_BODY = b"cacheable body"
_ETAG = '"' + hashlib.sha1(_ETAG_BODY).hexdigest() + '"'


def etag_rules(web: Web) -> Rules:
    class Cached(web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Language", "en")
            self.set_header("X-Other", "kept on 304")
            self.write(_ETAG_BODY)

        def post(self) -> None:
            self.write(_ETAG_BODY)

    class NoEtag(web.RequestHandler):
        def compute_etag(self) -> None:
            return None

        def get(self) -> None:
            self.write(_ETAG_BODY)

    class OwnEtag(web.RequestHandler):
        def get(self) -> None:
            self.set_header("Etag", 'W/"mine"')
            self.write(_ETAG_BODY)

    class Created(web.RequestHandler):
        def get(self) -> None:
            self.set_status(201)
            self.write(_ETAG_BODY)

    class WeakComputed(web.RequestHandler):
        def compute_etag(self) -> str:
            return 'W/"' + hashlib.sha1(_ETAG_BODY).hexdigest() + '"'

        def get(self) -> None:
            self.write(_ETAG_BODY)

    class EarlyCheck(web.RequestHandler):
        # Tornado's documented pattern: answer 304 before producing the body.
        def get(self) -> None:
            self.set_header("Etag", _ETAG)
            if self.check_etag_header():
                self.set_status(304)
                return
            self.write("expensive body")

    return [
        ("/cached", Cached),
        ("/no-etag", NoEtag),
        ("/own-etag", OwnEtag),
        ("/201", Created),
        ("/weak-computed", WeakComputed),
        ("/early-check", EarlyCheck),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "if_none_match",
    [
        None,
        _ETAG,  # strong match -> 304
        "W/" + _ETAG,  # weak comparison -> 304
        "*",
        f'"other", {_ETAG}',
        f'"other",W/{_ETAG}',
        '"other"',
        "garbage",
        "",
        f"{_ETAG[:-1]}",  # unterminated
    ],
)
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/cached", "GET"),
        ("/cached", "POST"),
        ("/no-etag", "GET"),
        ("/own-etag", "GET"),
        ("/201", "GET"),
        ("/weak-computed", "GET"),
        ("/early-check", "GET"),
    ],
)
async def test_etags_match(if_none_match: str | None, path: str, method: str) -> None:
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    async with differential(etag_rules) as pair:
        response = await pair.same(path, method, headers=headers)
    if response.status == 304:
        assert response.body == b""
        assert response.header("Content-Type") is None
        assert response.header("Content-Length") is None


# -- methods: HEAD, OPTIONS, custom verbs, 405 -------------------------------------------


def method_rules(web: Web) -> Rules:
    class WithHead(web.RequestHandler):
        def get(self) -> None:
            self.write("get body")

        def head(self) -> None:
            self.set_header("X-Head", "own head()")
            self.set_header("Content-Length", "8")

    class HeadWritesBody(web.RequestHandler):
        def head(self) -> None:
            self.write("a body HEAD must not send")

    class WithOptions(web.RequestHandler):
        def options(self) -> None:
            self.set_header("Allow", "GET, OPTIONS")
            self.set_status(204)

    class CustomVerb(web.RequestHandler):
        SUPPORTED_METHODS = (*web.RequestHandler.SUPPORTED_METHODS, "PROPFIND")

        def propfind(self) -> None:
            self.write(f"{self.request.method} ok")

    class GetOnly(web.RequestHandler):
        def get(self) -> None:
            self.write("get only")

    class Restricted(web.RequestHandler):
        SUPPORTED_METHODS = ("GET", "POST")

        def get(self) -> None:
            self.write("restricted get")

    class EchoMethod(web.RequestHandler):
        def get(self) -> None:
            self.write(self.request.method)

        post = put = patch = delete = get

    return [
        ("/with-head", WithHead),
        ("/head-writes-body", HeadWritesBody),
        ("/with-options", WithOptions),
        ("/custom-verb", CustomVerb),
        ("/get-only", GetOnly),
        ("/restricted", Restricted),
        ("/echo", EchoMethod),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/with-head", "HEAD"),
        ("/with-head", "GET"),
        ("/head-writes-body", "HEAD"),
        ("/with-options", "OPTIONS"),
        ("/custom-verb", "PROPFIND"),
        ("/echo", "POST"),
        ("/echo", "PUT"),
        ("/echo", "PATCH"),
        ("/echo", "DELETE"),
        ("/restricted", "GET"),
    ],
)
async def test_methods_match(path: str, method: str) -> None:
    async with differential(method_rules) as pair:
        await pair.same(path, method)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/get-only", "POST", "GET, HEAD"),
        ("/get-only", "OPTIONS", "GET, HEAD"),
        ("/with-options", "GET", "OPTIONS"),
        ("/custom-verb", "GET", "PROPFIND"),
        # A method outside SUPPORTED_METHODS: 405 as well.
        ("/restricted", "PUT", "GET"),
        ("/get-only", "PROPFIND", "GET, HEAD"),
    ],
)
async def test_405_deliberately_carries_allow_on_tornadoish_only(
    path: str, method: str, allow: str
) -> None:
    # DESIGN.md §3: our 405 names the allowed methods; Tornado's does not.
    async with differential(method_rules) as pair:
        exchange = await pair.fetch(path, method)
    assert exchange.tornado.status == exchange.tornadoish.status == 405
    assert exchange.tornado.header("Allow") is None
    assert exchange.tornadoish.header("Allow") == allow
    assert_same(exchange, ignore=["Allow"])


@pytest.mark.anyio
async def test_head_without_head_method_deliberately_falls_back_to_get_on_tornadoish() -> None:
    # DESIGN.md §3: HEAD runs get() with the body dropped; Tornado answers 405.
    async with differential(method_rules) as pair:
        head = await pair.fetch("/get-only", "HEAD")
        get = await pair.same("/get-only")
    assert head.tornado.status == 405
    assert head.tornadoish.status == 200
    assert head.tornadoish.body == b""
    assert head.tornadoish.headers == get.headers


# -- limits ------------------------------------------------------------------------------


def echo_body_rules(web: Web) -> Rules:
    class EchoBody(web.RequestHandler):
        def post(self) -> None:
            self.write(self.request.body)

    return [("/", EchoBody)]


@pytest.mark.anyio
async def test_too_large_body_is_deliberately_413_on_tornadoish_and_400_on_tornado() -> None:
    # DESIGN.md §3: a body over the limit gets 413; Tornado's server answers a bare 400 and
    # closes. (Tornado's limit is an HTTPServer option; ours an Application setting.)
    async with differential(
        echo_body_rules, max_body_size=10, tornado_server_options={"max_body_size": 10}
    ) as pair:
        exchange = await pair.fetch("/", "POST", content=b"x" * 11)
        small = await pair.same("/", "POST", content=b"x" * 10)
    assert exchange.tornado.status == 400
    assert exchange.tornadoish.status == 413
    assert small.body == b"x" * 10


# -- gzip --------------------------------------------------------------------------------

_LONG_TEXT = "compressible text, " * 100


def gzip_rules(web: Web) -> Rules:
    class Payload(web.RequestHandler):
        def get(self, kind: str) -> None:
            if kind == "short":
                self.write("short")
            elif kind == "json":
                self.write({"text": _LONG_TEXT})
            elif kind == "png":
                self.set_header("Content-Type", "image/png")
                self.write(_LONG_TEXT)
            elif kind == "svg":
                self.set_header("Content-Type", "image/svg+xml; charset=UTF-8")
                self.write(_LONG_TEXT)
            elif kind == "encoded":
                self.set_header("Content-Encoding", "identity")
                self.write(_LONG_TEXT)
            elif kind == "no-content":
                self.set_status(204)
            else:
                self.write(_LONG_TEXT)

    class Streamed(web.RequestHandler):
        async def get(self) -> None:
            self.write("tiny ")
            await self.flush()
            self.write(_LONG_TEXT)

    return [(r"/gzip/([\w-]+)", Payload), ("/gzip-streamed", Streamed)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/gzip/text",
        "/gzip/short",  # under 1 KiB: not compressed
        "/gzip/json",
        "/gzip/png",  # not a compressible type
        "/gzip/svg",
        "/gzip/encoded",  # already has a Content-Encoding
        "/gzip/no-content",
        "/gzip-streamed",  # compressed whatever the size of the first chunk
    ],
)
@pytest.mark.parametrize(
    "accept",
    [
        "gzip",
        "identity",
        "br, gzip",
        "x-gzip",
    ],
)
async def test_gzip_matches(path: str, accept: str) -> None:
    async with differential(gzip_rules, compress_response=True) as pair:
        exchange = await pair.fetch(path, headers={"Accept-Encoding": accept})
    # httpx decodes the body; the compressed size (Content-Length) depends on the
    # encoder's gzip header. The ETag of a compressed response is deliberately weak on
    # tornadoish (DESIGN.md §3), strong and identical to the plain one on Tornado.
    response = assert_same(exchange, ignore=["Content-Length", "Etag"])
    tornado_etag = exchange.tornado.header("Etag")
    if response.header("Content-Encoding") == "gzip" and tornado_etag is not None:
        assert exchange.tornadoish.header("Etag") == "W/" + tornado_etag
    else:
        assert exchange.tornadoish.header("Etag") == tornado_etag
        assert exchange.tornadoish.header("Content-Length") == exchange.tornado.header(
            "Content-Length"
        )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept", "tornado_gzips", "tornadoish_gzips"),
    [("*", False, True), ("gzip;q=0", True, False), ("GZIP", False, True)],
)
async def test_gzip_accept_encoding_is_deliberately_parsed_per_rfc(
    accept: str, tornado_gzips: bool, tornadoish_gzips: bool
) -> None:
    # docs/index.md: Tornado looks for the substring "gzip"; we parse codings and
    # q-values (RFC 9110 §12.5.3).
    async with differential(gzip_rules, compress_response=True) as pair:
        exchange = await pair.fetch("/gzip/text", headers={"Accept-Encoding": accept})
    assert (exchange.tornado.header("Content-Encoding") == "gzip") is tornado_gzips
    assert (exchange.tornadoish.header("Content-Encoding") == "gzip") is tornadoish_gzips
    assert exchange.tornado.body == exchange.tornadoish.body


# -- signed cookies, XSRF, @authenticated, slashes ------------------------------------------

_SECRETS: dict[str, Any] = {
    "single": {"cookie_secret": "a secret long enough to sign with"},
    "rotated": {"cookie_secret": {1: "old secret", 2: "new secret"}, "key_version": 2},
}


def auth_rules(web: Web) -> Rules:
    class Sign(web.RequestHandler):
        def get(self) -> None:
            version = int(self.get_argument("version", "2"))
            self.set_signed_cookie("s", self.get_argument("value"), version=version)

    class ReadSigned(web.RequestHandler):
        def get(self) -> None:
            value = self.get_signed_cookie(self.get_argument("name", "s"))
            self.write({"value": None if value is None else value.decode("utf-8")})

    class Form(web.RequestHandler):
        def get(self) -> None:
            self.write(self.xsrf_token)

        def post(self) -> None:
            self.write("accepted")

    class XsrfHtml(web.RequestHandler):
        def get_current_user(self) -> str | None:
            user: str | None = self.get_cookie("user")
            return user

        def get(self) -> None:
            self.write(self.xsrf_form_html())

    class Private(web.RequestHandler):
        def get_current_user(self) -> str | None:
            user: str | None = self.get_cookie("user")
            return user

        @web.authenticated
        def get(self) -> None:
            self.write(f"hello {self.current_user}")

        @web.authenticated
        def post(self) -> None:
            self.write("posted")

    class Slashes(web.RequestHandler):
        @web.addslash
        def get(self) -> None:
            self.write("with slash")

    class NoSlash(web.RequestHandler):
        @web.removeslash
        def get(self) -> None:
            self.write("without slash")

    return [
        ("/sign", Sign),
        ("/read-signed", ReadSigned),
        ("/form", Form),
        ("/xsrf-html", XsrfHtml),
        ("/private", Private),
        ("/dir/?", Slashes),
        ("/file/?", NoSlash),
        ("/", NoSlash),
    ]


def _cookie_value(set_cookie: str | None) -> str:
    assert set_cookie is not None
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("secret", "version"),
    [("single", 1), ("single", 2), ("rotated", 2)],  # v1 has no key versions
)
async def test_signed_cookies_made_by_either_framework_read_the_same_on_both(
    secret: str, version: int
) -> None:
    async with differential(auth_rules, **_SECRETS[secret]) as pair:
        signed = await pair.fetch(f"/sign?value=caf%C3%A9+%3B%22x&version={version}")
        for maker in (signed.tornado, signed.tornadoish):
            cookie = _cookie_value(maker.header("Set-Cookie"))
            response = await pair.same("/read-signed", headers={"Cookie": f"s={cookie}"})
            assert response.body == b'{"value": "caf\\u00e9 ;\\"x"}'
            # Signed for another name, or tampered with: rejected on both.
            await pair.same("/read-signed?name=t", headers={"Cookie": f"t={cookie}"})
            tampered = cookie[:-1] + ("0" if cookie[-1] != "0" else "1")
            response = await pair.same("/read-signed", headers={"Cookie": f"s={tampered}"})
            assert response.body == b'{"value": null}'


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b""),  # no token at all
        ({"Cookie": "_xsrf={token}"}, b""),  # a cookie but no argument
        ({"Cookie": "_xsrf={token}"}, b"_xsrf={token}"),
        ({"Cookie": "_xsrf={token}", "X-Xsrftoken": "{token}"}, b""),
        ({"Cookie": "_xsrf={token}", "X-Csrftoken": "{token}"}, b""),
        ({"Cookie": "_xsrf={token}"}, b"_xsrf=2|00000000|00000000000000000000000000000000|1"),
        ({"Cookie": "_xsrf={token}"}, b"_xsrf=garbage"),
        ({}, b"_xsrf={token}"),  # an argument but no cookie
    ],
)
async def test_xsrf_checks_match(
    headers: dict[str, str], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with differential(auth_rules, xsrf_cookies=True, cookie_secret="s") as pair:
        made = await pair.fetch("/form")
        # A token from either framework passes the other's check.
        for token in (made.tornado.body.decode(), made.tornadoish.body.decode()):
            await pair.same(
                "/form",
                "POST",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    **{name: value.format(token=token) for name, value in headers.items()},
                },
                content=body.replace(b"{token}", token.encode()),
            )


_RANDOM_TOKEN_RE = re.compile(r"2\|[0-9a-f]{8}\|[0-9a-f]{32}\|[0-9]+|[0-9a-f]{32}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("settings", "headers"),
    [
        ({}, {}),
        ({}, {"Cookie": "user=ann"}),  # a logged-in user's token cookie lasts 30 days
        ({"xsrf_cookie_kwargs": {"httponly": True, "samesite": "Strict"}}, {}),
        ({"xsrf_cookie_version": 1}, {}),
        ({"xsrf_cookie_name": "csrf"}, {}),
    ],
)
async def test_xsrf_form_html_and_cookie_match(
    settings: dict[str, Any], headers: dict[str, str]
) -> None:
    async with differential(auth_rules, cookie_secret="s", **settings) as pair:
        exchange = await pair.fetch("/xsrf-html", headers=headers)
    # Tokens are random: compare their shape, and everything around them.
    for response in (exchange.tornado, exchange.tornadoish):
        assert _RANDOM_TOKEN_RE.search(response.body.decode())
    masked = [
        dataclasses.replace(
            response,
            body=_RANDOM_TOKEN_RE.sub("<token>", response.body.decode()).encode(),
            headers=tuple(
                (name, _RANDOM_TOKEN_RE.sub("<token>", value)) for name, value in response.headers
            ),
        )
        for response in (exchange.tornado, exchange.tornadoish)
    ]
    assert_same(Exchange(*masked), ignore=["Etag", "Content-Length"], normalize_expires=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("login_url", "path", "method", "headers"),
    [
        ("/login", "/private", "GET", {}),
        ("/login", "/private?x=1&y=%C3%A9", "GET", {}),
        ("/login?from=app", "/private", "GET", {}),
        ("https://login.example/in", "/private?x=1", "GET", {}),
        ("/login", "/private", "POST", {}),  # no redirect for POST: 403
        ("/login", "/private", "GET", {"Cookie": "user=ann"}),
        ("/login", "/private", "POST", {"Cookie": "user=ann"}),
    ],
)
async def test_authenticated_matches(
    login_url: str, path: str, method: str, headers: dict[str, str]
) -> None:
    async with differential(auth_rules, login_url=login_url) as pair:
        await pair.same(path, method, headers=headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path", ["/dir", "/dir/", "/dir?a=1", "/file", "/file/", "/file/?a=1", "/", "//evil.example/"]
)
async def test_addslash_and_removeslash_match(path: str) -> None:
    async with differential(auth_rules) as pair:
        await pair.same(path)


# -- static files ----------------------------------------------------------------------------


_MODIFIED = datetime.datetime(2020, 5, 6, 7, 8, 9, tzinfo=datetime.UTC).timestamp()


@pytest.fixture
def static_root(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "hello.txt").write_bytes(b"hello, static world\n")
    (root / "page.html").write_bytes(b"<h1>page</h1>")
    (root / "data.json").write_bytes(b'{"a": 1}')
    (root / "blob.unknownext").write_bytes(bytes(range(256)))
    (root / "empty.txt").write_bytes(b"")
    (root / "sub" / "index.html").write_bytes(b"index of sub")
    (root / "caf\u00e9.txt").write_bytes(b"accented")
    (tmp_path / "secret.txt").write_bytes(b"outside the root")
    for file in root.rglob("*"):
        os.utime(file, (_MODIFIED, _MODIFIED))  # Last-Modified and If-Modified-Since
    return root


def static_spec(root: Path) -> Callable[[Web], AppSpec]:
    def spec(web: Web) -> AppSpec:
        class Url(web.RequestHandler):
            def get(self, path: str) -> None:
                self.write(self.static_url(path, include_version=self.get_argument("v", "") != "0"))

        return AppSpec(
            rules=[
                (r"/url/(.*)", Url),
                (r"/files/(.*)", web.StaticFileHandler, {"path": str(root)}),
                (
                    r"/indexed/(.*)",
                    web.StaticFileHandler,
                    {"path": str(root), "default_filename": "index.html"},
                ),
            ],
            settings={"static_path": str(root)},
        )

    return spec


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/static/hello.txt", "GET", {}),
        ("/static/hello.txt", "HEAD", {}),
        ("/static/page.html", "GET", {}),
        ("/static/data.json", "GET", {}),
        ("/static/blob.unknownext", "GET", {}),
        ("/static/empty.txt", "GET", {}),
        ("/static/caf%C3%A9.txt", "GET", {}),
        ("/static/sub/index.html", "GET", {}),
        ("/static/missing.txt", "GET", {}),
        ("/static/sub", "GET", {}),  # a directory without default_filename: 403
        ("/static/sub/", "GET", {}),
        ("/indexed/sub", "GET", {}),  # redirected to the trailing slash
        ("/indexed/sub/", "GET", {}),
        ("/indexed/empty-dir/", "GET", {}),
        ("/static/%2E%2E/secret.txt", "GET", {}),  # outside the root: 403
        ("/static/..%2Fsecret.txt", "GET", {}),
        ("/files/hello.txt", "GET", {}),
        ("/files/", "GET", {}),
        ("/static/hello.txt", "POST", {}),
        ("/static/hello.txt", "PUT", {}),
        # Conditional requests.
        ("/static/hello.txt", "GET", {"If-Modified-Since": "Wed, 06 May 2020 07:08:09 GMT"}),
        ("/static/hello.txt", "GET", {"If-Modified-Since": "Wed, 06 May 2020 07:08:08 GMT"}),
        ("/static/hello.txt", "GET", {"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"}),
        ("/static/hello.txt", "GET", {"If-Modified-Since": "not a date"}),
        ("/static/hello.txt", "GET", {"If-None-Match": "*"}),
        ("/static/hello.txt", "GET", {"If-None-Match": '"nope"'}),
        (
            "/static/hello.txt",
            "GET",
            {"If-None-Match": '"nope"', "If-Modified-Since": "Wed, 06 May 2020 07:08:09 GMT"},
        ),
        # Byte ranges.
        ("/static/hello.txt", "GET", {"Range": "bytes=0-4"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=7-"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=-6"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=0-1000"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=-1000"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=100-200"}),  # 416
        ("/static/hello.txt", "GET", {"Range": "bytes=5-2"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=0-1,3-4"}),  # several: ignored
        ("/static/hello.txt", "GET", {"Range": "items=0-4"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=-0"}),
        ("/static/empty.txt", "GET", {"Range": "bytes=0-"}),
        ("/static/hello.txt", "HEAD", {"Range": "bytes=0-4"}),
        ("/static/hello.txt", "GET", {"Range": "bytes=0-4", "If-None-Match": "*"}),
        # static_url()
        ("/url/hello.txt", "GET", {}),
        ("/url/hello.txt?v=0", "GET", {}),
        ("/url/missing.txt", "GET", {}),  # no version; logged at ERROR by both
    ],
)
async def test_static_files_match(
    path: str,
    method: str,
    headers: dict[str, str],
    static_root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with differential(static_spec(static_root)) as pair:
        # POST: a 405, whose Allow header is a deliberate difference (tested above).
        await pair.same(path, method, headers=headers, ignore=["Allow"])
    if path == "/url/missing.txt":
        assert_error_logged(caplog, "Could not open static file")


@pytest.mark.anyio
async def test_versioned_static_urls_are_cached_for_ten_years_on_both(static_root: Path) -> None:
    async with differential(static_spec(static_root)) as pair:
        url = (await pair.same("/url/hello.txt")).body.decode()
        # Expires is ten years from now: from the clock, so compared by presence only.
        response = await pair.same(url, ignore=["Expires"])
        exchange = await pair.fetch(url)
    assert response.header("Cache-Control") == "max-age=315360000"
    assert exchange.tornado.header("Expires") is not None
    assert exchange.tornadoish.header("Expires") is not None


@pytest.mark.anyio
async def test_static_path_with_nul_is_deliberately_404_on_tornadoish_500_on_tornado(
    static_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # tornadoish/static.py documents it: Tornado's os.stat raises ValueError on a NUL.
    async with differential(static_spec(static_root)) as pair:
        exchange = await pair.fetch("/static/hello%00.txt")
    assert exchange.tornado.status == 500
    assert_error_logged(caplog, "ValueError", frameworks=["tornado"])
    assert exchange.tornadoish.status == 404


# -- streamed request bodies -----------------------------------------------------------------


def streaming_rules(web: Web) -> Rules:
    @web.stream_request_body
    class Upload(web.RequestHandler):
        def prepare(self) -> None:
            self.received: list[bytes] = []
            self.body_in_prepare = self.request.body

        async def data_received(self, chunk: bytes) -> None:
            await asyncio.sleep(0)
            self.received.append(chunk)

        def put(self) -> None:
            self.write(
                {
                    "body": b"".join(self.received).decode("latin-1"),
                    "request.body": self.request.body.decode("latin-1"),
                    "body in prepare": self.body_in_prepare.decode("latin-1"),
                }
            )

    @web.stream_request_body
    class RejectEarly(web.RequestHandler):
        def prepare(self) -> None:
            raise web.HTTPError(403)

        def data_received(self, chunk: bytes) -> None:
            raise AssertionError("no body for a rejected request")

    return [("/upload", Upload), ("/reject", RejectEarly)]


async def _chunked(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/upload", b""),
        ("/upload", b"small body"),
        ("/upload", bytes(range(256)) * 300),
        ("/reject", b"refused"),
    ],
)
async def test_streamed_request_bodies_match(path: str, content: bytes) -> None:
    async with differential(streaming_rules) as pair:
        await pair.same(path, "PUT", content=content)


@pytest.mark.anyio
async def test_chunked_request_bodies_match() -> None:
    async with differential(streaming_rules) as pair:
        response = await pair.same(
            "/upload", "PUT", content=lambda: _chunked([b"one ", b"", b"two ", b"three"])
        )
    assert b'"body": "one two three"' in response.body
    async with differential(echo_body_rules) as pair:
        response = await pair.same("/", "POST", content=lambda: _chunked([b"buffered ", b"chunks"]))
    assert response.body == b"buffered chunks"


# -- templates through a tornado.template.Loader ----------------------------------------------

_TEMPLATES = {
    "base.html": "<title>{% block title %}base{% end %}</title>{% block body %}{% end %}",
    "page.html": (
        '{% extends "base.html" %}{% block title %}{{ title }}{% end %}{% block body %}'
        "{% for item in items %}<li>{{ item }}</li>{% end %}"
        "|{{ request.path }}|{{ request.uri }}|{{ handler.greeting }}|{{ current_user }}"
        '|{{ reverse_url("rendered", "a b") }}|{{ static_url("hello.txt", include_version=False) }}'
        "|{% raw '<raw>' %}|{{ json_encode({'a': '</x>'}) }}|{{ url_escape('a b&') }}"
        "|{{ squeeze('  a   b ') }}|{{ xhtml_escape('<&>') }}{% end %}"
    ),
}


def template_spec(root: Path) -> Callable[[Web], AppSpec]:
    loader = tornado.template.Loader(str(root))

    def spec(web: Web) -> AppSpec:
        class Rendered(web.RequestHandler):
            greeting = "hi <you>"

            def get_current_user(self) -> str:
                return "ann & bob"

            def get(self, name: str) -> None:
                self.render("page.html", title=f"<{name}>", items=["x", "<y>"])

        class RenderString(web.RequestHandler):
            greeting = "plain"

            def get(self) -> None:
                html = self.render_string("page.html", title="s", items=[])
                self.set_header("Content-Type", "text/plain")
                self.write(html.upper())

        return AppSpec(
            rules=[
                web.url(r"/render/(.*)", Rendered, name="rendered"),
                ("/render-string", RenderString),
            ],
            # template_path too: Tornado caches loaders per template path for the whole
            # process, by default the handler module's directory, shared with other
            # test modules that give their own template_loader.
            settings={
                "template_loader": loader,
                "template_path": str(root),
                "static_path": str(root),
            },
        )

    return spec


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/render/a%20b?q=1", "/render-string"])
async def test_tornado_templates_render_the_same(path: str, tmp_path: Path) -> None:
    for name, text in _TEMPLATES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "hello.txt").write_text("hello")
    async with differential(template_spec(tmp_path)) as pair:
        await pair.same(path)


# -- proxies: Tornado's xheaders=True against our trusted_proxies --------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Real-Ip": "10.1.2.3"},
        {"X-Forwarded-For": "10.1.2.3"},
        {"X-Forwarded-For": "203.0.113.9, 10.1.2.3"},
        {"X-Forwarded-For": "not an ip"},
        {"X-Real-Ip": "2001:db8::1"},
        {"X-Real-Ip": "10.0.0.1", "X-Forwarded-For": "10.0.0.2"},
        {"X-Scheme": "https"},
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-Proto": "https, http"},
        {"X-Forwarded-Proto": "gopher"},
        {"X-Scheme": "http", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"},  # trusted hops are skipped
        {"X-Forwarded-For": "127.0.0.1, 127.0.0.1"},
    ],
)
async def test_proxy_headers_from_a_trusted_peer_match(headers: dict[str, str]) -> None:
    # The peer is 127.0.0.1 on both sides; Tornado trusts it with xheaders=True, and
    # trusted_downstream makes it skip trusted hops in X-Forwarded-For as we do.
    async with differential(
        request_rules,
        trusted_proxies=["127.0.0.1"],
        tornado_server_options={"xheaders": True, "trusted_downstream": ["127.0.0.1"]},
    ) as pair:
        await pair.same("/describe", headers=headers)


@pytest.mark.anyio
async def test_upper_case_forwarded_scheme_is_deliberately_read() -> None:
    # docs/index.md: "X-Forwarded-Proto: HTTPS" from a trusted proxy means https to us;
    # Tornado matches the scheme case-sensitively and ignores it.
    async with differential(
        request_rules,
        trusted_proxies=["127.0.0.1"],
        tornado_server_options={"xheaders": True, "trusted_downstream": ["127.0.0.1"]},
    ) as pair:
        exchange = await pair.fetch("/describe", headers={"X-Forwarded-Proto": "HTTPS"})
    assert b'"protocol": "http"' in exchange.tornado.body
    assert b'"protocol": "https"' in exchange.tornadoish.body


@pytest.mark.anyio
async def test_proxy_headers_are_ignored_by_default_on_both() -> None:
    async with differential(request_rules) as pair:
        response = await pair.same(
            "/describe", headers={"X-Real-Ip": "10.1.2.3", "X-Forwarded-Proto": "https"}
        )
    assert b'"remote_ip": "127.0.0.1"' in response.body


# -- reversing route patterns (no HTTP needed: the same call on both URLSpecs) ----------------


def _reverse(web: Web, pattern: str, args: tuple[Any, ...]) -> str:
    try:
        return str(web.URLSpec(pattern, web.RequestHandler).reverse(*args))
    except (ValueError, AssertionError):
        # Tornado asserts on a wrong argument count where we raise ValueError.
        return "refused"


@pytest.mark.parametrize(
    ("pattern", "args"),
    [
        (r"/plain", ()),
        (r"/user/(\d+)", (42,)),
        (r"/user/([^/]+)/posts/([^/]+)", ("a b", "c/d")),
        (r"/named/(?P<key>[^/]+)$", ("k?&=",)),
        (r"^/anchored/(.*)$", ("x",)),
        (r"/api/v1.0/(\d+)", (7,)),  # an unescaped "." read as a literal
        (r"/escaped\.dot/(\d+)", (7,)),
        (r"/dash\-ed/(\w+)", ("w",)),
        (r"/trailing/?", ()),  # Tornado keeps the optional "/?" literally; so do we
        (r"/trailing/(\d+)/?", (3,)),
        (r"/bytes/(.*)", (b"caf\xc3\xa9",)),
        (r"/unicode/(.*)", ("caf\u00e9 \u20ac",)),
        (r"/percent/(.*)", ("100%",)),
        (r"/nested/((a|b)+)", ("a",)),
        (r"/user/(\d+)", ()),  # too few arguments
        (r"/user/(\d+)", (1, 2)),  # too many
    ],
)
def test_reverse_url_patterns_match(pattern: str, args: tuple[Any, ...]) -> None:
    assert _reverse(tornadoish.web, pattern, args) == _reverse(tornado.web, pattern, args)


def test_reverse_of_regex_syntax_outside_groups_is_deliberately_refused() -> None:
    # docs/index.md: Tornado copies "[a-z]+" into the URL, a path no request would
    # take; we refuse to reverse such a pattern.
    pattern = r"/class/[a-z]+/(\d+)"
    assert _reverse(tornado.web, pattern, (1,)) == "/class/[a-z]+/1"
    assert _reverse(tornadoish.web, pattern, (1,)) == "refused"


def prefixed_static_spec(root: Path) -> Callable[[Web], AppSpec]:
    base = static_spec(root)

    def spec(web: Web) -> AppSpec:
        made = base(web)
        made.settings["static_url_prefix"] = "/assets/"
        return made

    return spec


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path", ["/assets/hello.txt", "/static/hello.txt", "/url/hello.txt", "/url/sub/index.html"]
)
async def test_static_url_prefix_matches(path: str, static_root: Path) -> None:
    async with differential(prefixed_static_spec(static_root)) as pair:
        await pair.same(path)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/static/long.txt", "GET", {}),
        ("/static/long.txt", "HEAD", {}),
        ("/static/long.txt", "GET", {"Range": "bytes=0-99"}),
        ("/static/long.txt", "GET", {"If-Modified-Since": "Wed, 06 May 2020 07:08:09 GMT"}),
        ("/static/hello.txt", "GET", {}),  # short: not compressed
    ],
)
async def test_gzipped_static_files_match(
    path: str, method: str, headers: dict[str, str], static_root: Path
) -> None:
    long_file = static_root / "long.txt"
    long_file.write_text(_LONG_TEXT)
    os.utime(long_file, (_MODIFIED, _MODIFIED))
    async with differential(static_spec(static_root), compress_response=True) as pair:
        exchange = await pair.fetch(path, method, headers={"Accept-Encoding": "gzip", **headers})
    # As in test_gzip_matches: compressed sizes and the (deliberately weak) ETag aside.
    response = assert_same(exchange, ignore=["Content-Length", "Etag"])
    tornado_etag = exchange.tornado.header("Etag")
    if response.header("Content-Encoding") == "gzip" and tornado_etag is not None:
        assert exchange.tornadoish.header("Etag") == "W/" + tornado_etag
    else:
        assert exchange.tornadoish.header("Etag") == tornado_etag


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {"If-None-Match": "*"}),
        ("GET", {"Accept-Encoding": "identity"}),
    ],
)
async def test_gzip_with_304_and_identity_matches(method: str, headers: dict[str, str]) -> None:
    async with differential(gzip_rules, compress_response=True) as pair:
        await pair.same(
            "/gzip/text",
            method,
            headers={"Accept-Encoding": "gzip", **headers},
            ignore=["Content-Length", "Etag"],
        )


# -- access log ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/str", "GET"),
        ("/status/201?x=%20y", "GET"),
        ("/nowhere", "POST"),
        ("/redirect/temporary", "GET"),
    ],
)
async def test_access_log_lines_match(
    path: str, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    def rules(web: Web) -> Rules:
        return output_rules(web) + redirect_rules(web)

    async with differential(rules) as pair:
        await pair.same(path, method)
    lines: dict[str, list[tuple[int, str]]] = {"tornado": [], "tornadoish": []}
    for record in caplog.get_records("call"):
        framework, _, logger = record.name.partition(".")
        if logger == "access" and framework in lines:
            # The duration differs: keep "<status> <method> <uri> (<ip>)".
            lines[framework].append((record.levelno, record.getMessage().rsplit(" ", 1)[0]))
    assert lines["tornadoish"] == lines["tornado"]
    assert len(lines["tornado"]) == 1
