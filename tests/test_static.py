"""StaticFileHandler: serving, validators and 304s, byte ranges, path traversal,
default_filename, static_url and versions, settings wiring, pathsend and streaming;
differential tests against Tornado; a memory bound over our own server."""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import hashlib
import os
import tracemalloc
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.apps import call, http_scope
from tests.differential import AppSpec, Exchange, Response, assert_same, differential
from tornadoish import Application, RequestHandler, StaticFileHandler
from tornadoish.testing import LiveServer, app_client, live_server
from tornadoish.types import ASGIReceive, ASGISend, Message, Scope

pytestmark = pytest.mark.anyio

DIGITS = b"0123456789"
SECRET = b"TOP-SECRET"
DIGITS_VERSION = hashlib.sha512(DIGITS).hexdigest()
DIGITS_ETAG = f'"{DIGITS_VERSION}"'
TEN_YEARS = 86400 * 365 * 10
# Every network wait in the tests over a real socket is bounded by this many seconds.
WAIT = 10.0


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """``tmp_path/static`` is served; the secrets beside it (including ``static2``, whose
    name starts like the root's) must never be."""
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "digits.txt").write_bytes(DIGITS)
    (root / "style.css").write_text("body {}")
    (root / "page.html").write_text("<p>hi</p>")
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "noextension").write_bytes(b"?")
    (root / "empty.txt").write_bytes(b"")
    (root / "sub" / "index.html").write_text("<p>index</p>")
    (root / "favicon.ico").write_bytes(b"ICO")
    (root / "robots.txt").write_text("User-agent: *\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "static2").mkdir()
    (tmp_path / "static2" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "escape.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path / "outside")
    (root / "alias.txt").symlink_to(root / "digits.txt")
    os.mkfifo(root / "fifo")
    return root


@pytest.fixture(autouse=True)
def _fresh_versions() -> Iterator[None]:
    StaticFileHandler.reset()
    yield
    StaticFileHandler.reset()


def last_modified(path: Path) -> str:
    return email.utils.formatdate(int(path.stat().st_mtime), usegmt=True)


@asynccontextmanager
async def serve_static(site: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(Application(static_path=str(site), **settings)) as http:
        yield http


# -- serving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("digits.txt", "text/plain"),  # no charset, as in Tornado
        ("style.css", "text/css"),
        ("page.html", "text/html"),
        ("archive.tar.gz", "application/gzip"),  # RFC 6713
        ("noextension", "application/octet-stream"),
    ],
)
async def test_content_type_comes_from_the_file_name(
    site: Path, name: str, content_type: str
) -> None:
    async with serve_static(site) as http:
        response = await http.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content == (site / name).read_bytes()


async def test_file_is_served_with_validators_and_accept_ranges(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/digits.txt")
    assert response.status_code == 200
    assert response.content == DIGITS
    assert response.headers["Content-Length"] == "10"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Etag"] == DIGITS_ETAG
    assert response.headers["Last-Modified"] == last_modified(site / "digits.txt")
    # No ?v=: the browser decides how long to cache.
    assert "Cache-Control" not in response.headers
    assert "Expires" not in response.headers


async def test_head_sends_the_headers_of_get_without_the_body(site: Path) -> None:
    async with serve_static(site) as http:
        got = await http.get("/static/digits.txt")
        head = await http.head("/static/digits.txt")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("Content-Length", "Content-Type", "Etag", "Last-Modified", "Accept-Ranges"):
        assert head.headers[name] == got.headers[name]


async def test_an_empty_file_is_served_empty(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/empty.txt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"


async def test_a_symlink_inside_the_root_is_followed(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/alias.txt")
    assert response.status_code == 200
    assert response.content == DIGITS


async def test_a_rule_with_a_path_serves_without_static_path(site: Path) -> None:
    app = Application([(r"/files/(.*)", StaticFileHandler, {"path": str(site)})])
    async with app_client(app) as http:
        response = await http.get("/files/digits.txt")
    assert response.content == DIGITS


# -- conditional requests --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": DIGITS_ETAG}, 304),
        ({"If-None-Match": f"W/{DIGITS_ETAG}"}, 304),  # weak comparison
        ({"If-None-Match": f'"other", {DIGITS_ETAG}'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Modified-Since": "Tue, 01 Jan 2070 00:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200),
        ({"If-Modified-Since": "yesterday"}, 200),
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
        ({"If-None-Match": '"other"', "If-Modified-Since": "Tue, 01 Jan 2070 00:00:00 GMT"}, 200),
    ],
)
async def test_conditional_requests_get_304_when_the_copy_is_current(
    site: Path, headers: dict[str, str], status: int
) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/digits.txt", headers=headers)
    assert response.status_code == status
    assert response.headers["Etag"] == DIGITS_ETAG
    if status == 304:
        assert response.content == b""
        assert "Content-Type" not in response.headers
    else:
        assert response.content == DIGITS


async def test_if_modified_since_equal_to_last_modified_gives_304(site: Path) -> None:
    async with serve_static(site) as http:
        since = last_modified(site / "digits.txt")
        response = await http.get("/static/digits.txt", headers={"If-Modified-Since": since})
    assert response.status_code == 304


# -- byte ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "status", "body", "content_range"),
    [
        ("bytes=2-4", 206, b"234", "bytes 2-4/10"),
        ("bytes=0-0", 206, b"0", "bytes 0-0/10"),
        ("bytes=-3", 206, b"789", "bytes 7-9/10"),  # suffix range
        ("bytes=5-", 206, b"56789", "bytes 5-9/10"),  # open range
        ("bytes=8-100", 206, b"89", "bytes 8-9/10"),  # end capped at the size
        ("bytes=0-", 200, DIGITS, None),  # the whole file is a 200 (Chrome audio)
        ("bytes=0-9", 200, DIGITS, None),
        ("bytes=-20", 200, DIGITS, None),
        ("bytes=10-", 416, b"", "bytes */10"),
        ("bytes=10-20", 416, b"", "bytes */10"),
        ("bytes=-0", 416, b"", "bytes */10"),
        ("bytes=5-2", 416, b"", "bytes */10"),
        ("bytes=0-1,4-5", 200, DIGITS, None),  # several ranges: the whole file
        ("items=0-1", 200, DIGITS, None),
        ("bytes=a-b", 200, DIGITS, None),  # invalid syntax: ignored
        ("bytes=", 200, DIGITS, None),
    ],
)
async def test_range_requests(
    site: Path, range_header: str, status: int, body: bytes, content_range: str | None
) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/digits.txt", headers={"Range": range_header})
    assert response.status_code == status
    assert response.content == body
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers.get("Content-Range") == content_range
    assert response.headers["Etag"] == DIGITS_ETAG  # a part carries the file's ETag
    if status == 416:
        assert response.headers["Content-Type"] == "text/plain"


async def test_head_with_a_range_gives_206_without_body(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.head("/static/digits.txt", headers={"Range": "bytes=2-4"})
    assert response.status_code == 206
    assert response.content == b""
    assert response.headers["Content-Length"] == "3"
    assert response.headers["Content-Range"] == "bytes 2-4/10"


async def test_any_range_of_an_empty_file_is_unsatisfiable(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.get("/static/empty.txt", headers={"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */0"


# -- path traversal --------------------------------------------------------------------

# (raw request target, status). Sent raw: httpx would normalise "..".
TRAVERSAL = [
    (b"/static/../secret.txt", 403),
    (b"/static/%2e%2e/secret.txt", 403),
    (b"/static/%2E%2E/secret.txt", 403),
    (b"/static/..%2fsecret.txt", 403),
    (b"/static/%2e%2e%2fsecret.txt", 403),
    (b"/static/sub/../../secret.txt", 403),
    (b"/static/sub/%2e%2e/%2e%2e/outside/secret.txt", 403),
    (b"/static/../static2/secret.txt", 403),  # a sibling whose name starts like the root
    (b"/static//etc/passwd", 403),  # absolute path
    (b"/static/%2fetc%2fpasswd", 403),
    (b"/static/escape.txt", 403),  # a symlink to a file outside
    (b"/static/escape-dir/secret.txt", 403),  # through a symlinked directory
    (b"/static/..%5csecret.txt", 404),  # a backslash is a file-name character on POSIX
    (b"/static/digits.txt%00", 404),  # NUL: no such file (Tornado: 500)
    (b"/static/%00", 404),
    (b"/static/%ff", 400),  # not UTF-8
    (b"/static/sub", 403),  # a directory, no default_filename
    (b"/static/", 403),
    (b"/static/fifo", 403),  # not a regular file: never opened
    (b"/static/missing.txt", 404),
    (b"/static/sub/../digits.txt", 200),  # ".." that stays inside is fine
    (b"/static/./digits.txt", 200),
    (b"/static/%64igits.txt", 200),
]


def _scope_for(raw_target: bytes, **kwargs: Any) -> dict[str, Any]:
    raw_path, _, query = raw_target.partition(b"?")
    path = urllib.parse.unquote(raw_path.decode("ascii"), errors="replace")
    return http_scope(path, raw_path=raw_path, query_string=query, **kwargs)


def _response_of(messages: list[Message]) -> tuple[int, dict[bytes, bytes], bytes]:
    start = messages[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(("raw_target", "status"), TRAVERSAL)
async def test_paths_outside_the_root_are_refused(
    site: Path, raw_target: bytes, status: int
) -> None:
    app = Application(static_path=str(site))
    answer, _, body = _response_of(await call(app, _scope_for(raw_target)))
    assert answer == status
    assert SECRET not in body
    if status == 200:
        assert body == DIGITS


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_paths_outside_the_root_are_refused_over_the_wire(site: Path) -> None:
    # The same table over our server: what it hands the app is the raw target.
    app = Application(static_path=str(site))
    async with live_server(app) as server:
        for raw_target, status in TRAVERSAL:
            answer, body = await raw_get(server, raw_target)
            assert (raw_target, answer) == (raw_target, status)
            assert SECRET not in body


# -- default_filename ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "root_path", "status", "location", "body"),
    [
        ("/static/sub", "", 301, "/static/sub/", b""),
        ("/static/sub?x=1", "", 301, "/static/sub/", b""),  # the query is dropped (Tornado)
        ("/static/sub/", "", 200, None, b"<p>index</p>"),
        ("/static/", "", 404, None, None),  # the root has no index.html
        ("/app/static/sub", "/app", 301, "/app/static/sub/", b""),  # under a mount point
        ("/app/static/sub/", "/app", 200, None, b"<p>index</p>"),
    ],
)
async def test_default_filename_serves_directories_and_adds_the_slash(
    site: Path,
    url: str,
    root_path: str,
    status: int,
    location: str | None,
    body: bytes | None,
) -> None:
    app = Application(static_path=str(site), static_handler_args={"default_filename": "index.html"})
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get(url)
    assert response.status_code == status
    assert response.headers.get("Location") == location
    if body is not None:
        assert response.content == body


# -- static_url and versions -----------------------------------------------------------


def version_of(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


class LinkHandler(RequestHandler):
    """Writes ``static_url(path)``; ``include_host``/``include_version`` from the query."""

    def get(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.get_argument("include_version", None) == "no":
            kwargs["include_version"] = False
        host = self.get_argument("include_host", None)
        if host is not None:
            kwargs["include_host"] = host == "yes"
        try:
            self.write(self.static_url(self.get_argument("path"), **kwargs))
        except RuntimeError as exc:
            self.write(f"RuntimeError: {exc}")


class HostLinkHandler(LinkHandler):
    include_host = True


@pytest.mark.parametrize(
    ("query", "url"),
    [
        ("path=digits.txt", f"/static/digits.txt?v={DIGITS_VERSION}"),
        ("path=sub/index.html", f"/static/sub/index.html?v={version_of(b'<p>index</p>')}"),
        ("path=digits.txt&include_version=no", "/static/digits.txt"),
        (
            "path=digits.txt&include_host=yes",
            f"http://testserver/static/digits.txt?v={DIGITS_VERSION}",
        ),
    ],
)
async def test_static_url_is_versioned_by_content_hash(site: Path, query: str, url: str) -> None:
    app = Application([("/link", LinkHandler)], static_path=str(site))
    async with app_client(app) as http:
        response = await http.get(f"/link?{query}")
    assert response.text == url


async def test_static_url_takes_include_host_from_the_handler_attribute(site: Path) -> None:
    app = Application([("/link", HostLinkHandler)], static_path=str(site))
    async with app_client(app) as http:
        default = await http.get("/link?path=digits.txt")
        overridden = await http.get("/link?path=digits.txt&include_host=no")
    assert default.text == f"http://testserver/static/digits.txt?v={DIGITS_VERSION}"
    assert overridden.text == f"/static/digits.txt?v={DIGITS_VERSION}"


async def test_static_url_uses_the_prefix_and_the_mount_point(site: Path) -> None:
    app = Application([("/link", LinkHandler)], static_path=str(site), static_url_prefix="/assets/")
    transport = httpx.ASGITransport(app=app, root_path="/app")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        link = await http.get("/app/link?path=digits.txt")
        served = await http.get(link.text)
    assert link.text == f"/app/assets/digits.txt?v={DIGITS_VERSION}"
    assert served.content == DIGITS


async def test_static_url_without_static_path_says_what_is_missing() -> None:
    async with app_client(Application([("/link", LinkHandler)])) as http:
        response = await http.get("/link?path=digits.txt")
    assert response.text.startswith("RuntimeError: You must define the 'static_path' setting")


async def test_static_url_refuses_a_path_outside_the_root(site: Path) -> None:
    app = Application([("/link", LinkHandler)], static_path=str(site))
    async with app_client(app) as http:
        response = await http.get("/link?path=../secret.txt")
    assert response.status_code == 403


async def test_static_url_of_a_missing_file_has_no_version_and_logs(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application([("/link", LinkHandler)], static_path=str(site))
    async with app_client(app) as http:
        response = await http.get("/link?path=missing.js")
    assert response.text == "/static/missing.js"
    assert "Could not open static file" in caplog.text
    caplog.clear()


async def test_versioned_urls_are_cached_for_ten_years(site: Path) -> None:
    async with serve_static(site) as http:
        response = await http.get(f"/static/digits.txt?v={DIGITS_VERSION}")
    assert response.headers["Cache-Control"] == f"max-age={TEN_YEARS}"
    expires = email.utils.parsedate_to_datetime(response.headers["Expires"])
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=TEN_YEARS)
    assert abs((expires - expected).total_seconds()) < 60


@pytest.mark.parametrize(
    ("settings", "follows_changes"),
    [
        ({}, False),  # cached until StaticFileHandler.reset()
        ({"static_hash_cache": False}, True),
        ({"debug": True}, True),  # debug turns the cache off, as in Tornado
    ],
)
async def test_versions_are_cached_unless_static_hash_cache_is_off(
    site: Path, settings: dict[str, Any], follows_changes: bool
) -> None:
    app = Application([("/link", LinkHandler)], static_path=str(site), **settings)
    async with app_client(app) as http:
        before = await http.get("/link?path=digits.txt")
        (site / "digits.txt").write_bytes(b"changed")
        after = await http.get("/link?path=digits.txt")
        served = await http.get("/static/digits.txt")
        StaticFileHandler.reset()
        after_reset = await http.get("/link?path=digits.txt")
    new_version = version_of(b"changed")
    assert before.text.endswith(DIGITS_VERSION)
    assert after.text.endswith(new_version if follows_changes else DIGITS_VERSION)
    assert served.headers["Etag"] == f'"{new_version if follows_changes else DIGITS_VERSION}"'
    assert after_reset.text.endswith(new_version)


class SmallVersionsStatic(StaticFileHandler):
    MAX_VERSION_CONTENT_SIZE = 4


async def test_a_file_too_large_to_hash_is_served_without_version_or_etag(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Application(
        [("/link", LinkHandler)], static_path=str(site), static_handler_class=SmallVersionsStatic
    )
    async with app_client(app) as http:
        served = await http.get("/static/digits.txt")
        link = await http.get("/link?path=digits.txt")
    assert served.content == DIGITS
    assert "Etag" not in served.headers
    assert link.text == "/static/digits.txt"
    assert "larger than MAX_VERSION_CONTENT_SIZE" in caplog.text  # at INFO, not ERROR


# -- settings wiring -------------------------------------------------------------------


class CatchAll(RequestHandler):
    def get(self, path: str) -> None:
        self.write(f"app: {path}")


async def test_static_rules_go_ahead_of_the_apps_rules(site: Path) -> None:
    app = Application([(r"/(.*)", CatchAll)], static_path=str(site))
    async with app_client(app) as http:
        robots = await http.get("/robots.txt")
        favicon = await http.get("/favicon.ico")
        static = await http.get("/static/digits.txt")
        other = await http.get("/other.txt")
    assert robots.text == "User-agent: *\n"
    assert favicon.content == b"ICO"
    assert favicon.headers["Content-Type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    assert static.content == DIGITS
    assert other.text == "app: other.txt"


async def test_without_static_path_there_are_no_static_rules(site: Path) -> None:
    app = Application([(r"/(.*)", CatchAll)])
    async with app_client(app) as http:
        response = await http.get("/static/digits.txt")
    assert response.text == "app: static/digits.txt"


class CustomStatic(StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Static-Path", path)

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        return 60

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        return f"/cdn/{path}"


async def test_static_handler_class_and_args_settings_are_used(site: Path) -> None:
    handler_args = {"default_filename": "index.html"}
    app = Application(
        [("/link", LinkHandler)],
        static_path=str(site),
        static_handler_class=CustomStatic,
        static_handler_args=handler_args,
    )
    async with app_client(app) as http:
        served = await http.get("/static/sub/")
        link = await http.get("/link?path=digits.txt")
    assert served.content == b"<p>index</p>"
    assert served.headers["X-Static-Path"] == "sub/"
    assert served.headers["Cache-Control"] == "max-age=60"
    assert link.text == "/cdn/digits.txt"
    assert handler_args == {"default_filename": "index.html"}  # the user's dict is untouched


def test_static_hash_cache_setting_must_be_a_bool(site: Path) -> None:
    with pytest.raises(TypeError, match="static_hash_cache"):
        Application(static_path=str(site), static_hash_cache="no")


# -- streaming and pathsend ------------------------------------------------------------

PATHSEND: dict[str, dict[str, Any]] = {"http.response.pathsend": {}}


async def test_whole_file_goes_by_pathsend_when_the_server_offers_it(site: Path) -> None:
    app = Application(static_path=str(site))
    real_path = str((site / "digits.txt").resolve())
    messages = await call(app, {**_scope_for(b"/static/digits.txt"), "extensions": PATHSEND})
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.pathsend"]
    assert messages[1]["path"] == real_path
    assert (b"content-length", b"10") in messages[0]["headers"]


@pytest.mark.parametrize(
    ("method", "headers", "settings"),
    [
        ("GET", [(b"range", b"bytes=2-4")], {}),  # a part
        ("HEAD", [], {}),  # no body
        ("GET", [(b"if-none-match", DIGITS_ETAG.encode())], {}),  # 304
        ("GET", [(b"accept-encoding", b"gzip")], {"compress_response": True}),
    ],
)
async def test_pathsend_is_used_only_for_a_whole_untransformed_body(
    site: Path, method: str, headers: list[tuple[bytes, bytes]], settings: dict[str, Any]
) -> None:
    app = Application(static_path=str(site), **settings)
    scope = {
        **_scope_for(b"/static/digits.txt", method=method, headers=[(b"host", b"t"), *headers]),
        "extensions": PATHSEND,
    }
    messages = await call(app, scope)
    assert "http.response.pathsend" not in [m["type"] for m in messages]


async def test_large_files_stream_in_bounded_chunks(site: Path) -> None:
    data = os.urandom(300_000)
    (site / "large.bin").write_bytes(data)
    app = Application(static_path=str(site))
    messages = await call(app, _scope_for(b"/static/large.bin"))
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert len(bodies) > 4
    assert all(len(m["body"]) <= 64 * 1024 for m in bodies)
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert b"".join(m["body"] for m in bodies) == data


class CountingStatic(StaticFileHandler):
    """Records how many chunks of a range were read and whether the reader was closed."""

    chunks_read = 0
    closed = False

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Iterator[bytes]:
        if start is None:  # hashing for the ETag: not counted
            yield from super().get_content(abspath, start, end)
            return
        try:
            for chunk in super().get_content(abspath, start, end):
                CountingStatic.chunks_read += 1
                yield chunk
        finally:
            CountingStatic.closed = True


async def test_a_client_leaving_mid_stream_stops_the_reads(site: Path) -> None:
    (site / "large.bin").write_bytes(b"x" * 1_000_000)
    CountingStatic.chunks_read, CountingStatic.closed = 0, False
    app = Application([(r"/c/(.*)", CountingStatic, {"path": str(site)})])
    bodies = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal bodies
        if message["type"] == "http.response.body":
            bodies += 1
            if bodies == 2:
                raise ConnectionResetError("client gone")

    headers = [(b"host", b"t"), (b"range", b"bytes=1-")]
    await app(_scope_for(b"/c/large.bin", headers=headers), receive, send)
    assert CountingStatic.closed
    assert CountingStatic.chunks_read == 2  # of the 16 the range spans


# -- differential against Tornado ------------------------------------------------------


def differential_rules(site: Path) -> Any:
    def rules(web: ModuleType) -> AppSpec:
        files = (r"/files/(.*)", web.StaticFileHandler, {"path": str(site)})
        return AppSpec(
            rules=[files],
            settings={
                "static_path": str(site),
                "static_handler_args": {"default_filename": "index.html"},
            },
        )

    return rules


DIFFERENTIAL = [
    ("GET", "/static/digits.txt", {}),
    ("HEAD", "/static/digits.txt", {}),
    ("GET", "/static/page.html", {}),
    ("GET", "/static/archive.tar.gz", {}),
    ("GET", "/static/digits.txt", {"Range": "bytes=2-4"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=-3"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=5-"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=0-"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=10-"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=-0"}),
    ("GET", "/static/digits.txt", {"Range": "bytes=0-1,4-5"}),
    ("HEAD", "/static/digits.txt", {"Range": "bytes=2-4"}),
    ("GET", "/static/digits.txt", {"If-None-Match": DIGITS_ETAG}),
    ("GET", "/static/digits.txt", {"If-Modified-Since": "Tue, 01 Jan 2070 00:00:00 GMT"}),
    ("GET", f"/static/digits.txt?v={DIGITS_VERSION}", {}),
    ("GET", "/static/sub", {}),
    ("GET", "/static/sub/", {}),
    ("GET", "/static/missing.txt", {}),
    ("GET", "/static/escape.txt", {}),
    ("GET", "/static/fifo", {}),
    ("GET", "/favicon.ico", {}),
    ("GET", "/robots.txt", {}),
    ("GET", "/files/digits.txt", {}),
    ("GET", "/files/sub", {}),  # no default_filename on this rule: 403
]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_responses_match_tornado(site: Path) -> None:
    async with differential(differential_rules(site)) as pair:
        for method, url, headers in DIFFERENTIAL:
            exchange = await pair.fetch(url, method, headers=headers)
            # Expires is computed from the clock: a second may pass between the two.
            assert_same(exchange, ignore=("expires",))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_responses_over_our_server_with_pathsend_match_tornado(site: Path) -> None:
    async with (
        differential(differential_rules(site)) as pair,
        live_server(pair.tornadoish_app) as server,
        httpx.AsyncClient(base_url=server.url) as ours,
    ):
        for method, url, headers in DIFFERENTIAL[:6]:
            tornado_answer = (await pair.fetch(url, method, headers=headers)).tornado
            response = await ours.request(method, url, headers={**headers, "Host": "h"})
            exchange = Exchange(tornado_answer, Response.from_httpx(response))
            assert_same(exchange, ignore=("expires",))


# -- over our own server ---------------------------------------------------------------


async def raw_get(server: LiveServer, raw_target: bytes) -> tuple[int, bytes]:
    """GET ``raw_target`` exactly as given; the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET " + raw_target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(WAIT):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class PathsendSpy:
    """Wraps an app and records the type of every message it sends."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent: list[str] = []

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        async def spy(message: Message) -> None:
            if scope["type"] == "http":
                self.sent.append(message["type"])
            await send(message)

        await self.app(scope, receive, spy)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_our_server_sends_the_file_by_pathsend(site: Path) -> None:
    spy = PathsendSpy(Application(static_path=str(site)))
    async with (
        live_server(spy) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        whole = await http.get("/static/digits.txt")
        assert spy.sent == ["http.response.start", "http.response.pathsend"]
        part = await http.get("/static/digits.txt", headers={"Range": "bytes=2-4"})
    assert whole.content == DIGITS
    assert whole.headers["Content-Length"] == "10"
    assert part.content == b"234"


BIG = 64 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="pathsend"),
        pytest.param({"Range": "bytes=1-"}, id="streamed"),
    ],
)
async def test_a_64_mib_file_is_served_in_bounded_memory(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    with (tmp_path / "big.bin").open("wb") as file:
        file.truncate(BIG)  # sparse: costs no disk
    app = Application(static_path=str(tmp_path))
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        received = 0
        async with (
            live_server(app) as server,
            httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
            http.stream("GET", "/static/big.bin", headers=headers) as response,
        ):
            async for chunk in response.aiter_raw():
                received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == BIG - (1 if headers else 0)
    assert peak - baseline < 16 * 1024 * 1024
