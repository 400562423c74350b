"""tornadoish.handler (RequestHandler and its mixins): lifecycle, output, errors, input."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from typing import Any, ClassVar

import anyio
import httpx
import pytest

from tests.apps import call, client, http_scope
from tornadoish import (
    Application,
    ErrorHandler,
    Finish,
    HTTPError,
    RedirectHandler,
    RequestHandler,
)
from tornadoish.request import HTTPServerRequest
from tornadoish.types import Message

pytestmark = pytest.mark.anyio

DEFAULT_PAGE = "<html><title>{0}: {1}</title><body>{0}: {1}</body></html>"


async def fetch(
    handler: type[RequestHandler],
    method: str = "GET",
    path: str = "/",
    *,
    pattern: str = "/",
    handler_kwargs: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    **request_kwargs: Any,
) -> httpx.Response:
    """One request to an app serving ``handler`` at ``pattern``."""
    app = Application([(pattern, handler, handler_kwargs)], **(settings or {}))
    async with client(app) as http:
        return await http.request(method, path, **request_kwargs)


async def raw(
    handler: type[RequestHandler],
    method: str = "GET",
    *,
    handler_kwargs: dict[str, Any] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
) -> list[Message]:
    """The ASGI messages ``handler`` sends for one request (to see streaming and HEAD)."""
    app = Application([("/", handler, handler_kwargs)])
    scope = http_scope(method=method, headers=headers or [(b"host", b"testserver")])
    return await call(app, scope, body)


def header_map(start: Message) -> dict[bytes, bytes]:
    return dict(start["headers"])


def bare_handler(method: str = "GET", **settings: Any) -> RequestHandler:
    """A handler not attached to a request being served, for the pure setters."""
    return RequestHandler(Application(**settings), HTTPServerRequest(method, "/"))


def pop_records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    """The records of ``logger``; clears caplog so expected ERROR logs do not fail the test."""
    records = [r for r in caplog.records if r.name == logger]
    caplog.clear()
    return records


# -- lifecycle ----------------------------------------------------------------------------


class SyncLifecycle(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events
        events.append("initialize")

    def prepare(self) -> None:
        self.events.append("prepare")

    def get(self) -> None:
        self.events.append("get")
        self.write("ok")

    def on_finish(self) -> None:
        self.events.append("on_finish")


class AsyncLifecycle(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events
        events.append("initialize")

    async def prepare(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append("prepare")

    async def get(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append("get")
        self.write("ok")

    async def on_finish(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.events.append("on_finish")


@pytest.mark.parametrize("handler", [SyncLifecycle, AsyncLifecycle])
async def test_lifecycle_order_is_initialize_prepare_verb_send_on_finish(
    handler: type[RequestHandler],
) -> None:
    events: list[str] = []
    app = Application([("/", handler, {"events": events})])

    async def send(message: Message) -> None:
        events.append(message["type"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await app(http_scope(), receive, send)
    assert events == [
        "initialize",
        "prepare",
        "get",
        "http.response.start",
        "http.response.body",
        "on_finish",
    ]


class PrepareFinishes(RequestHandler):
    def initialize(self, how: str, events: list[str]) -> None:
        self.how = how
        self.events = events

    async def prepare(self) -> None:
        if self.how == "finish":
            self.finish("early")
        elif self.how == "await":
            await self.finish("early")
        elif self.how == "raise":
            raise Finish("early")
        else:
            raise HTTPError(403)

    def get(self) -> None:
        self.events.append("get")

    def on_finish(self) -> None:
        self.events.append("on_finish")


@pytest.mark.parametrize(
    ("how", "status"), [("finish", 200), ("await", 200), ("raise", 200), ("error", 403)]
)
async def test_prepare_that_finishes_skips_the_verb_method(how: str, status: int) -> None:
    events: list[str] = []
    response = await fetch(PrepareFinishes, handler_kwargs={"how": how, "events": events})
    assert response.status_code == status
    if status == 200:
        assert response.text == "early"
    assert events == ["on_finish"]


class ArgsHandler(RequestHandler):
    def initialize(self, greeting: str = "hi") -> None:
        self.greeting = greeting

    def get(self, first: str, second: str | None = None) -> None:
        self.write(
            {"greeting": self.greeting, "path_args": self.path_args, "args": [first, second]}
        )


async def test_initialize_gets_the_rule_kwargs_and_the_verb_gets_path_groups() -> None:
    response = await fetch(
        ArgsHandler, path="/a%20b/c", pattern="/([^/]+)/([^/]+)", handler_kwargs={"greeting": "yo"}
    )
    assert response.json() == {"greeting": "yo", "path_args": ["a b", "c"], "args": ["a b", "c"]}


class AsyncOnFinishHandler(RequestHandler):
    def initialize(self, done: list[bool]) -> None:
        self.done = done

    def get(self) -> None:
        self.write("x")

    async def on_finish(self) -> None:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        self.done.append(self._finished)


async def test_async_on_finish_is_awaited_before_the_app_returns() -> None:
    done: list[bool] = []
    await raw(AsyncOnFinishHandler, handler_kwargs={"done": done})
    assert done == [True]


class FailingOnFinish(RequestHandler):
    def get(self) -> None:
        self.write("fine")

    def on_finish(self) -> None:
        raise RuntimeError("on_finish broke")


async def test_on_finish_exception_is_logged_and_the_response_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(FailingOnFinish)
    assert response.text == "fine"
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.getMessage() == "Uncaught exception in on_finish"
    assert record.exc_info is not None


class CustomMethods(RequestHandler):
    SUPPORTED_METHODS = ("GET", "PROPFIND")

    def get(self) -> None:
        self.write("get")

    def propfind(self) -> None:
        self.write("propfind")


async def test_custom_supported_methods_are_dispatched() -> None:
    response = await fetch(CustomMethods, "PROPFIND")
    assert (response.status_code, response.text) == (200, "propfind")


@pytest.mark.parametrize("method", ["POST", "DELETE", "HEAD"])
async def test_methods_outside_supported_methods_get_405_with_allow(method: str) -> None:
    response = await fetch(CustomMethods, method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PROPFIND"


class GetPostHandler(RequestHandler):
    def get(self) -> None:
        self.write("get")

    def post(self) -> None:
        self.write("post")


class PutOnlyHandler(RequestHandler):
    async def put(self) -> None:
        self.write("put")


@pytest.mark.parametrize(
    ("handler", "method", "allow"),
    [
        (GetPostHandler, "DELETE", "GET, HEAD, POST"),
        (GetPostHandler, "OPTIONS", "GET, HEAD, POST"),
        (GetPostHandler, "PROPFIND", "GET, HEAD, POST"),
        (PutOnlyHandler, "GET", "PUT"),
        (PutOnlyHandler, "HEAD", "PUT"),
    ],
)
async def test_unimplemented_method_is_405_with_allow_listing_implemented_ones(
    handler: type[RequestHandler], method: str, allow: str
) -> None:
    response = await fetch(handler, method)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert response.text == DEFAULT_PAGE.format(405, "Method Not Allowed")


async def test_head_without_head_method_runs_get_and_drops_the_body() -> None:
    messages = await raw(GetPostHandler, "HEAD")
    start, body = messages
    assert start["status"] == 200
    assert header_map(start)[b"content-length"] == b"3"
    assert b"etag" in header_map(start)
    assert body == {"type": "http.response.body", "body": b"", "more_body": False}


class ExplicitHead(RequestHandler):
    def get(self) -> None:
        self.write("get body")

    def head(self) -> None:
        self.set_header("X-Head", "yes")


async def test_head_method_wins_over_get_when_defined() -> None:
    response = await fetch(ExplicitHead, "HEAD")
    assert response.headers["X-Head"] == "yes"
    assert response.headers["Content-Length"] == "0"


# -- write --------------------------------------------------------------------------------


class WriteHandler(RequestHandler):
    def initialize(self, chunks: list[Any]) -> None:
        self.chunks = chunks

    def get(self) -> None:
        for chunk in self.chunks:
            self.write(chunk)


@pytest.mark.parametrize(
    ("chunks", "body", "content_type"),
    [
        (["héllo ", b"w\xc3\xb6rld"], "héllo wörld".encode(), "text/html; charset=UTF-8"),
        (
            [{"a": [1, "</script>"]}],
            b'{"a": [1, "<\\/script>"]}',
            "application/json; charset=UTF-8",
        ),
        ([[1, {"b": None}]], b'[1, {"b": null}]', "application/json; charset=UTF-8"),
        ([], b"", "text/html; charset=UTF-8"),
    ],
)
async def test_write_accepts_str_bytes_dict_and_list(
    chunks: list[Any], body: bytes, content_type: str
) -> None:
    response = await fetch(WriteHandler, handler_kwargs={"chunks": chunks})
    assert response.content == body
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == str(len(body))


class _SetAndDateEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, set):
            return sorted(o)
        if isinstance(o, datetime.date):
            return o.isoformat()
        return super().default(o)


async def test_json_encoder_setting_encodes_dicts_and_lists() -> None:
    chunk = {"when": datetime.date(2024, 1, 2), "tags": {"b", "a"}, "html": "</b>"}
    response = await fetch(
        WriteHandler,
        handler_kwargs={"chunks": [chunk]},
        settings={"json_encoder": _SetAndDateEncoder},
    )
    assert response.json() == {"when": "2024-01-02", "tags": ["a", "b"], "html": "</b>"}
    assert "<\\/b>" in response.text


@pytest.mark.parametrize("chunk", [42, None, ("a",), 1.5, bytearray(b"x")])
async def test_write_of_other_types_is_a_type_error_and_a_500(
    chunk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(WriteHandler, handler_kwargs={"chunks": ["partial", chunk]})
    assert response.status_code == 500
    assert response.text == DEFAULT_PAGE.format(500, "Internal Server Error")
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.exc_info is not None
    assert record.exc_info[0] is TypeError
    assert "write() only accepts bytes, str, dict and list objects" in str(record.exc_info[1])


def test_write_type_error_names_the_type() -> None:
    with pytest.raises(TypeError, match="got int"):
        bare_handler().write(42)  # type: ignore[arg-type]  # the point: a wrong type


# -- flush and finish ---------------------------------------------------------------------


class FinishStyles(RequestHandler):
    def initialize(self, style: str, events: list[str]) -> None:
        self.style = style
        self.events = events

    async def get(self) -> None:
        if self.style == "bare":
            self.finish("done")
        elif self.style == "awaited":
            await self.finish("done")
        else:
            self.write("done")
        self.events.append("after")


class SyncBareFinish(RequestHandler):
    def get(self) -> None:
        self.write("do")
        self.finish("ne")


@pytest.mark.parametrize("style", ["bare", "awaited", "automatic"])
async def test_finish_works_awaited_bare_or_automatic(style: str) -> None:
    events: list[str] = []
    response = await fetch(FinishStyles, handler_kwargs={"style": style, "events": events})
    assert (response.status_code, response.text) == (200, "done")
    assert response.headers["Content-Length"] == "4"
    assert events == ["after"]


async def test_bare_finish_in_a_sync_method_is_sent() -> None:
    messages = await raw(SyncBareFinish)
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    assert messages[1]["body"] == b"done"


class AwaitedSendObserver(RequestHandler):
    """Checks that awaiting flush()/finish() returns only after the bytes were sent."""

    def initialize(self, sent: list[Message], seen: list[int]) -> None:
        self.sent = sent
        self.seen = seen

    async def get(self) -> None:
        self.write("one")
        await self.flush()
        self.seen.append(len(self.sent))
        self.write("two")
        await self.flush()
        self.seen.append(len(self.sent))
        await self.finish("three")
        self.seen.append(len(self.sent))


async def test_awaiting_flush_and_finish_waits_until_sent() -> None:
    sent: list[Message] = []
    seen: list[int] = []
    app = Application([("/", AwaitedSendObserver, {"sent": sent, "seen": seen})])

    async def send(message: Message) -> None:
        await anyio.lowlevel.checkpoint()
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await app(http_scope(), receive, send)
    assert seen == [2, 3, 4]
    assert [(m.get("body"), m.get("more_body")) for m in sent] == [
        (None, None),
        (b"one", True),
        (b"two", True),
        (b"three", False),
    ]


class StreamingHandler(RequestHandler):
    def initialize(self, awaited: bool) -> None:
        self.awaited = awaited

    async def get(self) -> None:
        for index in range(3):
            self.write(f"chunk{index};")
            if self.awaited:
                await self.flush()
            else:
                self.flush()


@pytest.mark.parametrize("awaited", [True, False])
async def test_flush_streams_chunks_without_content_length(awaited: bool) -> None:
    messages = await raw(StreamingHandler, handler_kwargs={"awaited": awaited})
    start, *bodies = messages
    assert start["status"] == 200
    assert b"content-length" not in header_map(start)
    assert b"etag" not in header_map(start)
    assert [(m["body"], m["more_body"]) for m in bodies] == [
        (b"chunk0;", True),
        (b"chunk1;", True),
        (b"chunk2;", True),
        (b"", False),
    ]


async def test_head_of_a_streaming_get_sends_no_body() -> None:
    messages = await raw(StreamingHandler, "HEAD", handler_kwargs={"awaited": True})
    assert all(m.get("body", b"") == b"" for m in messages)
    assert messages[-1]["more_body"] is False


class WriteAfterFinish(RequestHandler):
    def initialize(self, errors: list[str]) -> None:
        self.errors = errors

    def get(self) -> None:
        self.finish("first")
        for attempt in (lambda: self.write("again"), self.finish):
            try:
                attempt()
            except RuntimeError as exc:
                self.errors.append(str(exc))


async def test_write_after_finish_and_finish_twice_raise_runtime_error() -> None:
    errors: list[str] = []
    response = await fetch(WriteAfterFinish, handler_kwargs={"errors": errors})
    assert response.text == "first"
    assert errors == ["Cannot write() after finish()", "finish() called twice"]


def test_flush_of_a_handler_not_being_served_raises_runtime_error() -> None:
    handler = bare_handler()
    handler.write("x")

    async def main() -> None:
        await handler.flush()

    with pytest.raises(RuntimeError, match="not attached to a request"):
        anyio.run(main)


# -- status -------------------------------------------------------------------------------


class StatusHandler(RequestHandler):
    def initialize(self, status: int, reason: str | None = None) -> None:
        self.status = status
        self.reason = reason

    def get(self) -> None:
        self.set_status(self.status, self.reason)
        self.write({"status": self.get_status(), "reason": self._reason})


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (201, None, "Created"),
        (299, None, "Unknown"),
        (200, "Fine Thanks", "Fine Thanks"),
        (200, "split\r\nX-Evil: 1", "Unknown"),
        (200, "line\nfeed", "Unknown"),
        (200, "<script>", "Unknown"),
        (200, "caf\u00e9", "caf\u00e9"),  # obs-text is allowed
    ],
)
async def test_set_status_reason(status: int, reason: str | None, expected: str) -> None:
    response = await fetch(StatusHandler, handler_kwargs={"status": status, "reason": reason})
    assert response.status_code == status
    assert response.json() == {"status": status, "reason": expected}


@pytest.mark.parametrize(
    ("error", "page"),
    [
        (HTTPError(499), DEFAULT_PAGE.format(499, "Unknown")),
        (HTTPError(418, reason="Short & Stout"), DEFAULT_PAGE.format(418, "Short &amp; Stout")),
        (HTTPError(400, reason="bad\r\nX-Evil: 1"), DEFAULT_PAGE.format(400, "Unknown")),
        (HTTPError(400, reason="<img src=x>"), DEFAULT_PAGE.format(400, "Unknown")),
    ],
)
async def test_error_page_shows_a_safe_reason(error: HTTPError, page: str) -> None:
    class Raiser(RequestHandler):
        def get(self) -> None:
            raise error

    response = await fetch(Raiser)
    assert response.status_code == error.status_code
    assert response.text == page


@pytest.mark.parametrize("status", ["200", 200.0, True, None])
def test_set_status_refuses_non_int(status: Any) -> None:
    with pytest.raises(TypeError, match="status code must be an int"):
        bare_handler().set_status(status)


# -- headers ------------------------------------------------------------------------------


class HeaderHandler(RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Default", "d")
        self.set_header("X-Gone", "soon")

    def get(self) -> None:
        self.set_header("X-Str", "text")
        self.set_header("X-Bytes", b"caf\xe9")
        self.set_header("X-Int", 42)
        self.set_header("X-Date", datetime.datetime(2001, 9, 9, 1, 46, 40, tzinfo=datetime.UTC))
        self.add_header("X-Multi", "1")
        self.add_header("x-multi", 2)
        self.set_header("X-Replaced", "old")
        self.set_header("x-replaced", "new")
        self.clear_header("X-Gone")
        self.clear_header("X-Never-Set")
        self.set_header("Content-Type", "text/plain")


async def test_set_add_and_clear_header_convert_values() -> None:
    response = await fetch(HeaderHandler)
    headers = response.headers
    assert headers["X-Default"] == "d"
    assert headers["X-Str"] == "text"
    assert headers.raw[[k.lower() for k, _ in headers.raw].index(b"x-bytes")][1] == b"caf\xe9"
    assert headers["X-Int"] == "42"
    assert headers["X-Date"] == "Sun, 09 Sep 2001 01:46:40 GMT"
    assert headers.get_list("X-Multi") == ["1", "2"]
    assert headers.get_list("X-Replaced") == ["new"]
    assert "X-Gone" not in headers
    assert headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "a\x1fb", b"a\r\nb", "\r\nX-Evil: 1"])
@pytest.mark.parametrize("setter", ["set_header", "add_header"])
def test_header_values_with_control_characters_raise_value_error(
    setter: str, value: str | bytes
) -> None:
    with pytest.raises(ValueError, match="unsafe header value"):
        getattr(bare_handler(), setter)("X-A", value)


@pytest.mark.parametrize("name", ["", "X A", "X:A", "X\r\nA", "Ä", "X(A)", b"X-A", 1])
@pytest.mark.parametrize("setter", ["set_header", "add_header"])
def test_invalid_header_names_raise_value_error(setter: str, name: Any) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        getattr(bare_handler(), setter)(name, "v")


@pytest.mark.parametrize("value", [True, 1.5, None, ["a"], datetime.date(2020, 1, 1)])
def test_unsupported_header_value_types_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="unsupported header value"):
        bare_handler().set_header("X-A", value)


class BadHeaderHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("X-A", "a\r\nX-Evil: 1")


async def test_unsafe_header_in_a_handler_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    response = await fetch(BadHeaderHandler)
    assert response.status_code == 500
    assert "X-Evil" not in response.headers
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


# -- redirect -----------------------------------------------------------------------------


class RedirectingHandler(RequestHandler):
    def initialize(self, kwargs: dict[str, Any]) -> None:
        self.redirect_kwargs = kwargs

    def get(self) -> None:
        self.redirect(**self.redirect_kwargs)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"url": "/target"}, 302),
        ({"url": "/target", "permanent": True}, 301),
        ({"url": "/target", "status": 303}, 303),
        ({"url": "/target", "permanent": True, "status": 307}, 307),
    ],
)
async def test_redirect_sets_status_and_location(kwargs: dict[str, Any], status: int) -> None:
    response = await fetch(RedirectingHandler, handler_kwargs={"kwargs": kwargs})
    assert response.status_code == status
    assert response.headers["Location"] == "/target"
    assert response.content == b""


async def test_redirect_location_is_sent_as_utf8() -> None:
    response = await fetch(RedirectingHandler, handler_kwargs={"kwargs": {"url": "/caf\u00e9"}})
    assert dict(response.headers.raw)[b"location"] == "/caf\u00e9".encode()


async def test_redirect_with_a_non_3xx_status_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    kwargs = {"url": "/t", "status": 200}
    response = await fetch(RedirectingHandler, handler_kwargs={"kwargs": kwargs})
    assert response.status_code == 500
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.exc_info is not None
    assert "redirect status must be 3xx" in str(record.exc_info[1])


async def test_redirect_url_with_a_line_break_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    kwargs = {"url": "/t\r\nX-Evil: 1"}
    response = await fetch(RedirectingHandler, handler_kwargs={"kwargs": kwargs})
    assert response.status_code == 500
    assert "X-Evil" not in response.headers
    caplog.clear()


class RedirectAfterFlush(RequestHandler):
    def initialize(self, errors: list[str]) -> None:
        self.errors = errors

    async def get(self) -> None:
        await self.flush()
        try:
            self.redirect("/elsewhere")
        except RuntimeError as exc:
            self.errors.append(str(exc))


async def test_redirect_after_flush_raises_runtime_error() -> None:
    errors: list[str] = []
    response = await fetch(RedirectAfterFlush, handler_kwargs={"errors": errors})
    assert response.status_code == 200
    assert errors == ["Cannot redirect after headers have been written"]


@pytest.mark.parametrize(
    ("pattern", "url", "permanent", "path", "status", "location"),
    [
        ("/old", "/new", True, "/old", 301, "/new"),
        ("/old", "/new", False, "/old", 302, "/new"),
        ("/old/(.*)", "/new/{0}", True, "/old/a%20b", 301, "/new/a b"),
        ("/old/(?P<x>.*)", "/new/{x}", True, "/old/7", 301, "/new/7"),
        ("/old", "/new?a=1", True, "/old?b=2&b=3", 301, "/new?a=1&b=2&b=3"),
        ("/old", "https://other.test/x", True, "/old", 301, "https://other.test/x"),
    ],
)
async def test_redirect_handler(
    pattern: str, url: str, permanent: bool, path: str, status: int, location: str
) -> None:
    response = await fetch(
        RedirectHandler,
        path=path,
        pattern=pattern,
        handler_kwargs={"url": url, "permanent": permanent},
    )
    assert response.status_code == status
    assert response.headers["Location"] == location


@pytest.mark.parametrize("path", ["/r//evil.test", "/r/%2F%2Fevil.test", "/r/\\\\evil.test"])
async def test_redirect_handler_refuses_to_change_the_host(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(
        RedirectHandler, path=path, pattern="/r/(.*)", handler_kwargs={"url": "/{0}"}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    [record] = pop_records(caplog, "tornadoish.general")
    assert "cannot change the scheme or netloc" in record.getMessage()


async def test_error_handler_answers_its_status() -> None:
    response = await fetch(ErrorHandler, "POST", handler_kwargs={"status_code": 410})
    assert response.status_code == 410
    assert response.text == DEFAULT_PAGE.format(410, "Gone")


# -- ETags --------------------------------------------------------------------------------


class EtagHandler(RequestHandler):
    def get(self) -> None:
        self.write("etag body")

    def post(self) -> None:
        self.write("etag body")


class NoEtagHandler(EtagHandler):
    def compute_etag(self) -> str | None:
        return None


class FixedEtagHandler(RequestHandler):
    def initialize(self, etag: str, check: bool) -> None:
        self.etag = etag
        self.check = check

    def get(self) -> None:
        self.set_header("Etag", self.etag)
        if self.check and self.check_etag_header():
            self.set_status(304)
        else:
            self.write("fixed")


async def _etag_of(handler: type[RequestHandler]) -> str:
    return (await fetch(handler)).headers["Etag"]


async def test_get_responses_carry_a_strong_sha1_etag() -> None:
    assert await _etag_of(EtagHandler) == f'"{hashlib.sha1(b"etag body").hexdigest()}"'
    post = await fetch(EtagHandler, "POST")
    assert "Etag" not in post.headers


async def test_compute_etag_returning_none_disables_etags() -> None:
    response = await fetch(NoEtagHandler, headers={"If-None-Match": "*"})
    assert response.status_code == 200
    assert "Etag" not in response.headers
    assert response.text == "etag body"


@pytest.mark.parametrize(
    "if_none_match",
    [
        "{etag}",
        "W/{etag}",
        "*",
        '"other", {etag}',
        '"a","b", W/{etag}',
    ],
)
async def test_matching_if_none_match_gives_304_without_body(if_none_match: str) -> None:
    etag = await _etag_of(EtagHandler)
    response = await fetch(EtagHandler, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Etag"] == etag


@pytest.mark.parametrize("if_none_match", ['"nope"', 'W/"nope"', "garbage", ""])
async def test_non_matching_if_none_match_gives_200(if_none_match: str) -> None:
    response = await fetch(EtagHandler, headers={"If-None-Match": if_none_match})
    assert response.status_code == 200
    assert response.text == "etag body"


@pytest.mark.parametrize(
    ("etag", "if_none_match"),
    [('"v1"', '"v1"'), ('W/"v1"', '"v1"'), ('"v1"', 'W/"v1"')],
)
async def test_check_etag_header_compares_weakly(etag: str, if_none_match: str) -> None:
    response = await fetch(
        FixedEtagHandler,
        handler_kwargs={"etag": etag, "check": True},
        headers={"If-None-Match": if_none_match},
    )
    assert response.status_code == 304
    assert response.headers["Etag"] == etag
    assert response.content == b""


async def test_handler_set_etag_is_not_checked_automatically() -> None:
    # As in Tornado: a handler that sets its own ETag calls check_etag_header() itself.
    response = await fetch(
        FixedEtagHandler,
        handler_kwargs={"etag": '"v1"', "check": False},
        headers={"If-None-Match": '"v1"'},
    )
    assert response.status_code == 200
    assert response.text == "fixed"


async def test_post_ignores_if_none_match() -> None:
    response = await fetch(EtagHandler, "POST", headers={"If-None-Match": "*"})
    assert response.status_code == 200


# -- no-body statuses ---------------------------------------------------------------------


class NoContentHandler(RequestHandler):
    def initialize(self, body: str = "") -> None:
        self.body = body

    def get(self) -> None:
        self.set_status(204)
        if self.body:
            self.write(self.body)


async def test_204_has_no_body_and_no_content_type() -> None:
    messages = await raw(NoContentHandler)
    start, body = messages
    assert start["status"] == 204
    assert b"content-type" not in header_map(start)
    assert b"content-length" not in header_map(start)
    assert body["body"] == b""


async def test_writing_a_body_with_204_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    response = await fetch(NoContentHandler, handler_kwargs={"body": "oops"})
    assert response.status_code == 500
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.exc_info is not None
    assert "Cannot send body with status code HTTP204" in str(record.exc_info[1])


# -- errors -------------------------------------------------------------------------------


class ErrorsHandler(RequestHandler):
    def initialize(self, action: str) -> None:
        self.action = action

    def set_default_headers(self) -> None:
        self.set_header("X-Default", "kept")

    def get(self) -> None:
        self.set_header("X-Custom", "dropped")
        self.write("dropped body")
        if self.action == "http_error":
            raise HTTPError(403)
        if self.action == "http_error_logged":
            raise HTTPError(403, "user %s may not", "bob")
        if self.action == "finish":
            self.clear()
            self.set_status(201)
            raise Finish("finished")
        if self.action == "finish_empty":
            self.set_status(202)
            raise Finish()
        if self.action == "send_error":
            self.send_error(503)
            return
        if self.action == "send_error_reason":
            self.send_error(503, reason="Back Soon")
            return
        raise ZeroDivisionError("boom")


async def test_http_error_gives_the_default_page_and_drops_earlier_output() -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": "http_error"})
    assert response.status_code == 403
    assert response.text == DEFAULT_PAGE.format(403, "Forbidden")
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["X-Default"] == "kept"
    assert "X-Custom" not in response.headers


async def test_http_error_without_log_message_logs_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    await fetch(ErrorsHandler, handler_kwargs={"action": "http_error"})
    assert pop_records(caplog, "tornadoish.general") == []
    assert pop_records(caplog, "tornadoish.application") == []


async def test_http_error_with_log_message_logs_a_general_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": "http_error_logged"})
    assert response.status_code == 403
    assert "bob" not in response.text  # the log message is private
    [record] = pop_records(caplog, "tornadoish.general")
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "403 GET / (127.0.0.1): user bob may not"


@pytest.mark.parametrize(
    ("action", "status", "body"),
    [("finish", 201, "finished"), ("finish_empty", 202, "dropped body")],
)
async def test_finish_exception_ends_the_request_keeping_status_and_output(
    action: str, status: int, body: str
) -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": action})
    assert response.status_code == status
    assert response.text == body
    assert response.headers["X-Default"] == "kept"


@pytest.mark.parametrize(
    ("action", "reason"),
    [("send_error", "Service Unavailable"), ("send_error_reason", "Back Soon")],
)
async def test_send_error_replaces_the_response(
    action: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": action})
    assert response.status_code == 503
    assert response.text == DEFAULT_PAGE.format(503, reason)
    assert "X-Custom" not in response.headers
    assert response.headers["X-Default"] == "kept"
    [access] = pop_records(caplog, "tornadoish.access")
    assert access.levelno == logging.ERROR


async def test_uncaught_exception_is_a_500_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": "crash"})
    assert response.status_code == 500
    assert response.text == DEFAULT_PAGE.format(500, "Internal Server Error")
    assert "boom" not in response.text
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Uncaught exception GET / (127.0.0.1)\n")
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize("settings", [{"serve_traceback": True}, {"debug": True}])
async def test_serve_traceback_sends_the_traceback_as_plain_text(
    settings: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(ErrorsHandler, handler_kwargs={"action": "crash"}, settings=settings)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text.startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: boom" in response.text
    caplog.clear()


async def test_serve_traceback_does_not_apply_to_send_error_without_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(
        ErrorsHandler, handler_kwargs={"action": "send_error"}, settings={"serve_traceback": True}
    )
    assert response.text == DEFAULT_PAGE.format(503, "Service Unavailable")
    caplog.clear()


class CustomErrorPage(RequestHandler):
    def get(self) -> None:
        raise HTTPError(409, reason="Clash")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exception = kwargs["exc_info"][1]
        self.write({"code": status_code, "error": type(exception).__name__})


async def test_write_error_override_builds_the_page() -> None:
    response = await fetch(CustomErrorPage)
    assert response.status_code == 409
    assert response.json() == {"code": 409, "error": "HTTPError"}


class BrokenErrorPage(RequestHandler):
    def initialize(self, error: Exception) -> None:
        self.error = error

    def get(self) -> None:
        raise self.error

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        raise RuntimeError("write_error broke")


@pytest.mark.parametrize(("error", "status"), [(ValueError("x"), 500), (HTTPError(404), 404)])
async def test_exception_in_write_error_gives_an_empty_body(
    error: Exception, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(BrokenErrorPage, handler_kwargs={"error": error})
    assert response.status_code == status
    assert response.content == b""
    messages = [r.getMessage() for r in pop_records(caplog, "tornadoish.application")]
    assert "Uncaught exception in write_error" in messages


class ErrorAfterFlush(RequestHandler):
    async def get(self) -> None:
        self.write("partial")
        await self.flush()
        raise ValueError("too late")


async def test_error_after_headers_were_sent_ends_the_partial_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    messages = await raw(ErrorAfterFlush)
    assert messages[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in messages) == b"partial"
    assert messages[-1]["more_body"] is False
    general = [r.getMessage() for r in pop_records(caplog, "tornadoish.general")]
    assert general == ["Cannot send error response after headers written"]


class HeadErrorHandler(RequestHandler):
    def get(self) -> None:
        raise HTTPError(404)


async def test_error_page_of_a_head_request_has_no_body() -> None:
    start, body = await raw(HeadErrorHandler, "HEAD")
    assert start["status"] == 404
    assert body["body"] == b""
    length = int(header_map(start)[b"content-length"])
    assert length == len(DEFAULT_PAGE.format(404, "Not Found"))


# -- client disconnects -------------------------------------------------------------------


class DisconnectObserver(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events

    def post(self) -> None:
        self.events.append("post")

    def on_connection_close(self) -> None:
        self.events.append("on_connection_close")

    def on_finish(self) -> None:
        self.events.append("on_finish")


async def test_disconnect_while_reading_the_body_calls_on_connection_close() -> None:
    events: list[str] = []
    app = Application([("/", DisconnectObserver, {"events": events})])
    sent: list[Message] = []
    messages = iter([{"type": "http.request", "body": b"x", "more_body": True}])

    async def receive() -> Message:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope(method="POST"), receive, send)
    assert events == ["on_connection_close", "on_finish"]
    assert sent == []


async def test_send_failing_with_os_error_calls_on_connection_close() -> None:
    events: list[str] = []
    app = Application([("/", DisconnectObserver, {"events": events})])
    requests: list[Message] = [{"type": "http.request", "body": b""}]

    async def receive() -> Message:
        # After the body, a server's receive() blocks until the client leaves.
        if not requests:
            await anyio.sleep_forever()
        return requests.pop()

    async def send(message: Message) -> None:
        raise BrokenPipeError()

    await app(http_scope(method="POST"), receive, send)
    assert events == ["post", "on_connection_close", "on_finish"]


# -- JSON bodies and arguments ------------------------------------------------------------


class JSONBodyHandler(RequestHandler):
    def post(self) -> None:
        self.write({"got": self.get_json_body()})


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"a": [1, 2]}', {"a": [1, 2]}), (b"[true]", [True]), ('"é"'.encode(), "é")],
)
async def test_get_json_body_parses_json(body: bytes, expected: Any) -> None:
    response = await fetch(JSONBodyHandler, "POST", content=body)
    assert response.json() == {"got": expected}


@pytest.mark.parametrize("body", [b"{", b"", b"\xff", b"{'a': 1}"])
async def test_get_json_body_with_bad_json_is_a_400(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(JSONBodyHandler, "POST", content=body)
    assert response.status_code == 400
    assert response.text == DEFAULT_PAGE.format(400, "Invalid JSON")
    [record] = pop_records(caplog, "tornadoish.general")
    assert "Invalid JSON body" in record.getMessage()


class ArgumentHandler(RequestHandler):
    def initialize(
        self, call: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> None:
        self.call = call
        self.call_args = args
        self.call_kwargs = kwargs or {}

    def get(self) -> None:
        self.write({"result": getattr(self, self.call)(*self.call_args, **self.call_kwargs)})

    post = get


@pytest.mark.parametrize(
    ("query", "call", "args", "kwargs", "result"),
    [
        ("?a=1", "get_argument", ("a",), {}, "1"),
        ("?a=1&a=2", "get_argument", ("a",), {}, "2"),  # the last value wins
        ("?a=1&a=2", "get_arguments", ("a",), {}, ["1", "2"]),
        ("?a=+x+", "get_argument", ("a",), {}, "x"),  # stripped by default
        ("?a=+x+", "get_argument", ("a",), {"strip": False}, " x "),
        ("?a=+x+", "get_arguments", ("a",), {"strip": False}, [" x "]),
        ("?a=x%01y%7Fz%0Aw%09v", "get_argument", ("a",), {}, "x y\x7fz\nw\tv"),
        ("?a=caf%C3%A9", "get_argument", ("a",), {}, "caf\u00e9"),
        ("", "get_argument", ("a", "dflt"), {}, "dflt"),
        ("", "get_argument", ("a", None), {}, None),
        ("", "get_arguments", ("a",), {}, []),
        ("?a=", "get_argument", ("a", "dflt"), {}, ""),
        ("?a=1", "get_query_argument", ("a",), {}, "1"),
        ("?a=1", "get_query_arguments", ("a",), {}, ["1"]),
        ("?a=1", "get_body_argument", ("a", "none"), {}, "none"),
        ("?a=1", "get_body_arguments", ("a",), {}, []),
    ],
)
async def test_query_arguments(
    query: str, call: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> None:
    response = await fetch(
        ArgumentHandler,
        path="/" + query,
        handler_kwargs={"call": call, "args": args, "kwargs": kwargs},
    )
    assert response.json() == {"result": result}


@pytest.mark.parametrize(
    ("call", "args", "result"),
    [
        ("get_argument", ("a",), "body"),  # body values come after query values
        ("get_arguments", ("a",), ["query", "body"]),
        ("get_body_argument", ("a",), "body"),
        ("get_body_arguments", ("b",), ["x y", "z"]),
        ("get_query_argument", ("a",), "query"),
        ("get_query_argument", ("b", "missing"), "missing"),
    ],
)
async def test_body_arguments_from_a_urlencoded_post(
    call: str, args: tuple[Any, ...], result: Any
) -> None:
    response = await fetch(
        ArgumentHandler,
        "POST",
        path="/?a=query",
        handler_kwargs={"call": call, "args": args},
        data={"a": "body", "b": ["x y", "z"]},
    )
    assert response.json() == {"result": result}


@pytest.mark.parametrize("call", ["get_argument", "get_query_argument", "get_body_argument"])
async def test_missing_required_argument_is_a_400(
    call: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(ArgumentHandler, handler_kwargs={"call": call, "args": ("needed",)})
    assert response.status_code == 400
    assert response.text == DEFAULT_PAGE.format(400, "Bad Request")
    [record] = pop_records(caplog, "tornadoish.general")
    assert record.getMessage() == "400 GET / (127.0.0.1): Missing argument needed"


async def test_argument_with_invalid_utf8_is_a_400(caplog: pytest.LogCaptureFixture) -> None:
    response = await fetch(
        ArgumentHandler, path="/?a=%FF", handler_kwargs={"call": "get_argument", "args": ("a",)}
    )
    assert response.status_code == 400
    [record] = pop_records(caplog, "tornadoish.general")
    assert "Invalid unicode in a" in record.getMessage()


async def test_malformed_form_body_is_a_400(caplog: pytest.LogCaptureFixture) -> None:
    response = await fetch(
        ArgumentHandler,
        "POST",
        handler_kwargs={"call": "get_argument", "args": ("a", None)},
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 400
    [record] = pop_records(caplog, "tornadoish.general")
    assert "Malformed form body" in record.getMessage()


class UploadHandler(RequestHandler):
    def post(self) -> None:
        self.write(
            {
                "files": {
                    name: [[f.filename, f.body.decode(), f.content_type] for f in files]
                    for name, files in self.request.files.items()
                },
                "note": self.get_body_argument("note"),
            }
        )


async def test_multipart_files_are_in_request_files() -> None:
    response = await fetch(
        UploadHandler,
        "POST",
        data={"note": "hello"},
        files=[
            ("doc", ("a.txt", b"alpha", "text/plain")),
            ("doc", ("b.bin", b"beta", "application/octet-stream")),
        ],
    )
    assert response.json() == {
        "files": {
            "doc": [["a.txt", "alpha", "text/plain"], ["b.bin", "beta", "application/octet-stream"]]
        },
        "note": "hello",
    }


async def test_body_over_max_body_size_is_a_413(caplog: pytest.LogCaptureFixture) -> None:
    response = await fetch(
        JSONBodyHandler, "POST", content=b"[" + b"1," * 20 + b"1]", settings={"max_body_size": 10}
    )
    assert response.status_code == 413
    caplog.clear()


# -- cookies ------------------------------------------------------------------------------


class CookieHandler(RequestHandler):
    def initialize(self, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        self.calls = calls

    def get(self) -> None:
        for name, args, kwargs in self.calls:
            getattr(self, name)(*args, **kwargs)
        self.write(
            {
                "a": self.get_cookie("a"),
                "missing": self.get_cookie("missing", "dflt"),
                "names": sorted(self.cookies),
            }
        )


async def set_cookie_headers(
    *calls: tuple[str, tuple[Any, ...], dict[str, Any]], cookie: str | None = None
) -> list[str]:
    headers = {"Cookie": cookie} if cookie else {}
    response = await fetch(CookieHandler, handler_kwargs={"calls": list(calls)}, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers.get_list("Set-Cookie")


async def test_get_cookie_reads_request_cookies_with_a_default() -> None:
    response = await fetch(
        CookieHandler, handler_kwargs={"calls": []}, headers={"Cookie": 'a="x y"; b=2'}
    )
    assert response.json() == {"a": "x y", "missing": "dflt", "names": ["a", "b"]}


def _attributes(header: str) -> tuple[str, set[str]]:
    first, *rest = header.split("; ")
    return first, {part.lower() for part in rest}


@pytest.mark.parametrize(
    ("args", "kwargs", "pair", "attributes"),
    [
        (("a", "1"), {}, "a=1", {"path=/"}),
        (("a", b"bytes"), {}, "a=bytes", {"path=/"}),
        (("a", "1"), {"path": "/sub"}, "a=1", {"path=/sub"}),
        (("a", "1"), {"domain": "example.com"}, "a=1", {"domain=example.com", "path=/"}),
        (
            ("a", "1"),
            {"expires": datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)},
            "a=1",
            {"expires=wed, 02 jan 2030 03:04:05 gmt", "path=/"},
        ),
        (
            ("a", "1"),
            {"expires": 1_000_000_000},
            "a=1",
            {"expires=sun, 09 sep 2001 01:46:40 gmt", "path=/"},
        ),
        (("a", "1"), {"max_age": 60}, "a=1", {"max-age=60", "path=/"}),
        (("a", "1"), {"httponly": True}, "a=1", {"httponly", "path=/"}),
        (("a", "1"), {"secure": True}, "a=1", {"secure", "path=/"}),
        (("a", "1"), {"samesite": "Lax"}, "a=1", {"samesite=lax", "path=/"}),
        (
            ("a", "1"),
            {
                "domain": "x.test",
                "path": "/p",
                "max_age": 5,
                "httponly": True,
                "secure": True,
                "samesite": "Strict",
            },
            "a=1",
            {"domain=x.test", "path=/p", "max-age=5", "httponly", "secure", "samesite=strict"},
        ),
        (("a", "x,y"), {}, 'a="x\\054y"', {"path=/"}),  # quoted by the cookie rules
        (("a", "v;x"), {}, 'a="v\\073x"', {"path=/"}),
    ],
)
async def test_set_cookie_options(
    args: tuple[Any, ...], kwargs: dict[str, Any], pair: str, attributes: set[str]
) -> None:
    [header] = await set_cookie_headers(("set_cookie", args, kwargs))
    assert _attributes(header) == (pair, attributes)


async def test_set_cookie_expires_days_sets_a_future_expiry() -> None:
    [header] = await set_cookie_headers(("set_cookie", ("a", "1"), {"expires_days": 10}))
    _, attributes = _attributes(header)
    [expires] = [a for a in attributes if a.startswith("expires=")]
    when = datetime.datetime.strptime(expires[8:], "%a, %d %b %Y %H:%M:%S gmt").replace(
        tzinfo=datetime.UTC
    )
    delta = when - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=9, hours=23) < delta <= datetime.timedelta(days=10)


async def test_setting_a_cookie_twice_sends_the_last_one_and_others_separately() -> None:
    headers = await set_cookie_headers(
        ("set_cookie", ("a", "1"), {}),
        ("set_cookie", ("b", "2"), {}),
        ("set_cookie", ("a", "3"), {}),
    )
    assert sorted(header.split(";")[0] for header in headers) == ["a=3", "b=2"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("bad name", "v"), {}),
        (("a", "bad value"), {}),
        (("a", "v\r\n"), {}),
        (("a;b", "v"), {}),
        (("a", "v"), {"domain": "x.test; evil"}),
        (("a", "v"), {"path": "/p;evil"}),
        (("a", "v"), {"samesite": "Lax\x7f"}),
        (("", "v"), {}),
        (("a=b", "v"), {}),
    ],
)
def test_invalid_cookies_raise_value_error(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"(?i)cookie|illegal key"):
        bare_handler().set_cookie(*args, **kwargs)


async def test_clear_cookie_expires_it_in_the_past() -> None:
    [header] = await set_cookie_headers(
        ("clear_cookie", ("a",), {"path": "/p", "domain": "x.test"})
    )
    pair, attributes = _attributes(header)
    assert pair == 'a=""'
    assert {"path=/p", "domain=x.test"} <= attributes
    [expires] = [a for a in attributes if a.startswith("expires=")]
    when = datetime.datetime.strptime(expires[8:], "%a, %d %b %Y %H:%M:%S gmt").replace(
        tzinfo=datetime.UTC
    )
    assert when < datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=300)


@pytest.mark.parametrize("keyword", ["expires", "max_age"])
def test_clear_cookie_refuses_expiry_arguments(keyword: str) -> None:
    with pytest.raises(TypeError, match=keyword):
        bare_handler().clear_cookie("a", **{keyword: 1})


async def test_clear_all_cookies_expires_every_request_cookie() -> None:
    headers = await set_cookie_headers(
        ("clear_all_cookies", (), {"path": "/x"}), cookie="a=1; b=2; c=3"
    )
    assert sorted(header.split(";")[0] for header in headers) == ['a=""', 'b=""', 'c=""']
    assert all("Path=/x" in header for header in headers)


async def test_cookies_survive_an_error_page_like_tornado(caplog: pytest.LogCaptureFixture) -> None:
    class SetThenFail(RequestHandler):
        def get(self) -> None:
            self.set_cookie("session", "1")
            raise HTTPError(400)

    response = await fetch(SetThenFail)
    assert response.status_code == 400
    assert response.headers.get_list("Set-Cookie") == ["session=1; Path=/"]


# -- the handler API outside a request ----------------------------------------------------


def test_settings_are_the_application_settings() -> None:
    handler = bare_handler(custom_key="mine")
    assert handler.settings["custom_key"] == "mine"
    assert handler.settings is handler.application.settings


class Multi(RequestHandler):
    SUPPORTED_METHODS: ClassVar[tuple[str, ...]] = ("GET", "POST", "DELETE")

    def get(self) -> None:
        pass

    async def delete(self) -> None:
        pass


def test_allowed_methods_include_head_for_get_and_are_cached() -> None:
    assert Multi._allowed_methods() == ("GET", "DELETE")
    assert GetPostHandler._allowed_methods() == ("GET", "HEAD", "POST")
    assert GetPostHandler._allowed_methods() is GetPostHandler._allowed_methods()


# -- less travelled paths -----------------------------------------------------------------


class SuperGetHandler(RequestHandler):
    def get(self) -> None:
        super().get()

    def post(self) -> None:
        self.write("post")


async def test_calling_an_unimplemented_base_method_is_a_405_with_allow() -> None:
    response = await fetch(SuperGetHandler)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("status", [204, 304])
async def test_http_error_with_a_no_body_status_sends_no_body(status: int) -> None:
    class NoBodyError(RequestHandler):
        def get(self) -> None:
            raise HTTPError(status)

    start, body = await raw(NoBodyError)
    assert start["status"] == status
    assert body["body"] == b""
    assert b"content-type" not in header_map(start)


class LateFailures(RequestHandler):
    def initialize(self, action: str) -> None:
        self.action = action

    def get(self) -> None:
        self.finish("sent")
        if self.action == "finish":
            raise Finish("ignored")
        raise ValueError("after finish")


async def test_finish_raised_after_finishing_changes_nothing() -> None:
    response = await fetch(LateFailures, handler_kwargs={"action": "finish"})
    assert (response.status_code, response.text) == (200, "sent")


async def test_exception_after_finishing_is_logged_without_an_error_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(LateFailures, handler_kwargs={"action": "raise"})
    assert (response.status_code, response.text) == (200, "sent")
    [record] = pop_records(caplog, "tornadoish.application")
    assert record.getMessage().startswith("Uncaught exception GET /")


class BrokenLogger(RequestHandler):
    def get(self) -> None:
        raise ValueError("original")

    def log_exception(self, *args: Any) -> None:
        raise RuntimeError("logger broke")


async def test_failing_log_exception_is_logged_and_the_error_page_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await fetch(BrokenLogger)
    assert response.status_code == 500
    assert response.text == DEFAULT_PAGE.format(500, "Internal Server Error")
    messages = [r.getMessage() for r in pop_records(caplog, "tornadoish.application")]
    assert messages == ["Error in exception logger"]


class ExplicitLength(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Length", 5)
        self.write("12345")


async def test_handler_set_content_length_is_kept() -> None:
    start, body = await raw(ExplicitLength)
    assert header_map(start)[b"content-length"] == b"5"
    assert body["body"] == b"12345"


class BrokenCloseObserver(DisconnectObserver):
    def on_connection_close(self) -> None:
        super().on_connection_close()
        raise RuntimeError("close hook broke")


async def test_failing_on_connection_close_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    app = Application([("/", BrokenCloseObserver, {"events": events})])

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent to a gone client")

    await app(http_scope(method="POST"), receive, send)
    assert events == ["on_connection_close", "on_finish"]
    messages = [r.getMessage() for r in pop_records(caplog, "tornadoish.application")]
    assert messages == ["Uncaught exception in on_connection_close"]


class LongPoll(RequestHandler):
    def initialize(self, events: list[str]) -> None:
        self.events = events
        self.closed = anyio.Event()

    async def get(self) -> None:
        with anyio.fail_after(5):
            await self.closed.wait()
        self.events.append("get saw the close")

    def on_connection_close(self) -> None:
        self.events.append("on_connection_close")
        self.closed.set()


async def test_on_connection_close_fires_while_the_verb_method_waits() -> None:
    events: list[str] = []
    app = Application([("/", LongPoll, {"events": events})])
    sent: list[Message] = []
    await app(http_scope(), _disconnect_after_request(), _collect(sent))
    assert events == ["on_connection_close", "get saw the close"]
    assert sent == []


def _disconnect_after_request() -> Any:
    messages: list[Message] = [{"type": "http.disconnect"}, {"type": "http.request", "body": b""}]

    async def receive() -> Message:
        return messages.pop()

    return receive


def _collect(sent: list[Message]) -> Any:
    async def send(message: Message) -> None:
        sent.append(message)

    return send


@pytest.mark.parametrize("call", ["get_argument", "get_body_argument", "get_body_arguments"])
async def test_malformed_form_body_is_a_400_for_every_reader(
    call: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(
        ArgumentHandler,
        "POST",
        handler_kwargs={"call": call, "args": ("a",)},
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 400
    caplog.clear()


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("/r/a%0Ab", "/{0}"),  # a line break would split the Location header
        ("/r/%2F%5Bx", "/{0}"),  # "//[x": not even a parsable host
        ("/r/evil.test", "http://{0}/"),  # the template fixes the scheme, not the host
    ],
)
async def test_redirect_handler_refuses_unsafe_targets(
    path: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(
        RedirectHandler, path=path, pattern="/r/(.*)", handler_kwargs={"url": url}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    caplog.clear()


async def test_error_handler_is_not_masked_by_the_xsrf_check() -> None:
    response = await fetch(
        ErrorHandler,
        "POST",
        handler_kwargs={"status_code": 410},
        settings={"xsrf_cookies": True, "cookie_secret": "s"},
    )
    assert response.status_code == 410


class ConcurrentFlushes(RequestHandler):
    def initialize(self, sent: list[Message], seen: list[tuple[int, list[bytes]]]) -> None:
        self.sent = sent
        self.seen = seen

    async def get(self) -> None:
        async def part(number: int) -> None:
            self.write(f"p{number};")
            await self.flush()
            self.seen.append((number, [m["body"] for m in self.sent if "body" in m]))

        async with anyio.create_task_group() as group:
            group.start_soon(part, 1)
            group.start_soon(part, 2)


async def test_concurrent_flush_awaiters_each_return_after_their_bytes_were_sent() -> None:
    sent: list[Message] = []
    seen: list[tuple[int, list[bytes]]] = []
    app = Application([("/", ConcurrentFlushes, {"sent": sent, "seen": seen})])

    async def slow_send(message: Message) -> None:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await app(http_scope(), receive, slow_send)
    assert sorted(number for number, _ in seen) == [1, 2]
    for number, bodies in seen:
        assert f"p{number};".encode() in bodies


class RaisesWhileWatching(RequestHandler):
    """Overrides on_connection_close, so the verb runs beside a disconnect watcher."""

    def initialize(self, error: Exception) -> None:
        self.error = error

    async def get(self) -> None:
        self.write("before")
        raise self.error

    def on_connection_close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (HTTPError(403), 403, DEFAULT_PAGE.format(403, "Forbidden")),
        (Finish("finished"), 200, "beforefinished"),
        (ValueError("boom"), 500, DEFAULT_PAGE.format(500, "Internal Server Error")),
    ],
)
async def test_exceptions_from_a_watched_verb_are_handled_as_usual(
    error: Exception, status: int, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await fetch(RaisesWhileWatching, handler_kwargs={"error": error})
    assert (response.status_code, response.text) == (status, body)
    logged = [r.exc_info[0] for r in pop_records(caplog, "tornadoish.application") if r.exc_info]
    assert logged == ([ValueError] if status == 500 else [])


async def test_query_arguments_do_not_parse_the_body() -> None:
    # The body is parsed lazily: a handler reading only the query never sees a bad form.
    response = await fetch(
        ArgumentHandler,
        "POST",
        path="/?a=1",
        handler_kwargs={"call": "get_query_argument", "args": ("a",)},
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.json() == {"result": "1"}


class InjectsArguments(RequestHandler):
    def prepare(self) -> None:
        self.request.arguments.setdefault("injected", []).append(b"by prepare")

    def get(self) -> None:
        self.write({"injected": self.get_argument("injected"), "q": self.get_arguments("q")})


async def test_arguments_changed_in_prepare_are_seen_by_get_argument() -> None:
    # A Tornado idiom (e.g. merging a JSON body into the arguments in prepare()).
    response = await fetch(InjectsArguments, path="/?q=1&q=2")
    assert response.json() == {"injected": "by prepare", "q": ["1", "2"]}
