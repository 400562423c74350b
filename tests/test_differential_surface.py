"""Differential tests for the handler surface beyond the core: signed cookies and XSRF
tokens crossing between Tornado and tornadoish, authentication decorators,
compression, streamed request bodies and templates."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import tornado.template

from tests.differential import AppSpec, assert_same, differential

pytestmark = pytest.mark.anyio

SECRET = "It's a secret to everybody"
TEMPLATES = str(Path(__file__).parent / "templates")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Tornado runs on asyncio only


def session_rules(web: ModuleType) -> AppSpec:
    class Login(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write(self.xsrf_form_html())

        def post(self) -> None:
            self.set_signed_cookie("user", self.get_argument("name"))
            self.write("ok")

    class Me(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get_current_user(self) -> Any:
            return self.get_signed_cookie("user")

        @web.authenticated  # type: ignore[untyped-decorator]  # web is a module parameter
        def get(self) -> None:
            self.write(b"me: " + self.current_user)

        @web.authenticated  # type: ignore[untyped-decorator]  # web is a module parameter
        def post(self) -> None:
            self.write("posted")

    class Slashes(web.RequestHandler):  # type: ignore[name-defined,misc]
        @web.removeslash  # type: ignore[untyped-decorator]  # web is a module parameter
        def get(self) -> None:
            self.write("no slash")

    class AddSlash(web.RequestHandler):  # type: ignore[name-defined,misc]
        @web.addslash  # type: ignore[untyped-decorator]  # web is a module parameter
        def get(self) -> None:
            self.write("slash")

    rules = [("/login", Login), ("/me", Me), ("/rs/?", Slashes), ("/as/?", AddSlash)]
    settings = {"cookie_secret": SECRET, "login_url": "/login", "xsrf_cookies": True}
    return AppSpec(rules=rules, settings=settings)


async def _log_in(client: httpx.AsyncClient, base: str) -> None:
    form = await client.get(base + "/login")
    token = re.search(r'value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post(base + "/login", data={"name": "ada", "_xsrf": token.group(1)})
    assert answer.status_code == 200


@pytest.mark.parametrize("issuer", ["tornado", "tornadoish"])
async def test_signed_session_and_xsrf_cookies_cross_between_frameworks(issuer: str) -> None:
    async with differential(session_rules) as pair:
        tornado_client, tornadoish_client = pair._clients
        issuing, reading = (
            (tornado_client, tornadoish_client)
            if issuer == "tornado"
            else (tornadoish_client, tornado_client)
        )
        await _log_in(issuing, "")
        for name, value in issuing.cookies.items():
            reading.cookies.set(name, value)
        me = await reading.get("/me")
        assert me.text == "me: ada"
        # The XSRF cookie one framework set, with a form token it issued, passes the other.
        form = await issuing.get("/login")
        token = re.search(r'value="([^"]+)"', form.text)
        assert token is not None
        for name, value in issuing.cookies.items():
            reading.cookies.set(name, value)
        posted = await reading.post("/login", data={"name": "bo", "_xsrf": token.group(1)})
        assert posted.status_code == 200


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/me", "GET"),
        ("/me?x=1", "GET"),
        ("/rs/", "GET"),
        ("/rs", "GET"),
        ("/rs/?q=1", "GET"),
        ("/as", "GET"),
        ("/as?q=1", "GET"),
        ("/as/", "GET"),
    ],
)
async def test_auth_and_slash_decorators_match(path: str, method: str) -> None:
    async with differential(session_rules) as pair:
        await pair.same(path, method)


async def test_anonymous_post_is_forbidden_on_both(caplog: pytest.LogCaptureFixture) -> None:
    async with differential(session_rules, xsrf_cookies=False) as pair:
        await pair.same("/me", "POST")


@pytest.mark.parametrize("headers", [{}, {"X-Xsrftoken": "bogus"}])
async def test_missing_or_bad_xsrf_token_is_403_on_both(headers: dict[str, str]) -> None:
    async with differential(session_rules) as pair:
        await pair.same("/login", "POST", data={"name": "x"}, headers=headers)


def compression_rules(web: ModuleType) -> AppSpec:
    class Big(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write("abc " * 600)

    class Small(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.write("abc")

    return AppSpec(rules=[("/big", Big), ("/small", Small)], settings={"compress_response": True})


@pytest.mark.parametrize(
    ("path", "accept"), [("/big", "gzip"), ("/small", "gzip"), ("/big", "identity")]
)
async def test_compression_matches_except_for_the_weak_etag(path: str, accept: str) -> None:
    async with differential(compression_rules) as pair:
        exchange = await pair.fetch(path, headers={"Accept-Encoding": accept})
        # httpx already decoded the bodies; compare them and every header but ETag and
        # Content-Length (gzip output bytes differ with the gzip header's mtime).
        assert_same(exchange, ignore=("etag", "content-length"))
        ours, theirs = exchange.tornadoish, exchange.tornado
        if ours.header("content-encoding") == "gzip":
            assert ours.header("etag") == "W/" + (theirs.header("etag") or "")
        else:
            assert ours.header("etag") == theirs.header("etag")


def streaming_rules(web: ModuleType) -> list[Any]:
    @web.stream_request_body
    class Upload(web.RequestHandler):  # type: ignore[name-defined,misc]
        def prepare(self) -> None:
            self.received = 0
            self.chunks = 0

        def data_received(self, chunk: bytes) -> None:
            self.received += len(chunk)
            self.chunks += 1

        def put(self) -> None:
            self.write({"received": self.received})

    return [("/upload", Upload)]


async def test_streamed_request_bodies_match() -> None:
    async with differential(streaming_rules) as pair:
        await pair.same("/upload", "PUT", content=b"x" * 100_000)


def template_rules(web: ModuleType) -> AppSpec:
    class Page(web.RequestHandler):  # type: ignore[name-defined,misc]
        def get(self) -> None:
            self.render("tornado_page.html", title="<i>x</i>", items=["a<", "b"])

    # Tornado caches a loader per template directory for the whole process, so the
    # directory is named too: another test's loader for some other path cannot leak in.
    loader = tornado.template.Loader(TEMPLATES)
    settings = {"template_loader": loader, "template_path": TEMPLATES}
    return AppSpec(rules=[("/page", Page)], settings=settings)


async def test_tornado_templates_render_the_same() -> None:
    async with differential(template_rules) as pair:
        await pair.same("/page")


def test_gzip_module_decodes_what_we_send() -> None:
    # Guard for the comparison above: our gzip output is a standard gzip stream.
    from tornadoish.compression import GzipEncoder
    from tornadoish.httputil import HTTPHeaders

    headers = HTTPHeaders({"Content-Type": "text/plain"})
    body = GzipEncoder("gzip").first(200, headers, b"abc " * 600, finishing=True)
    assert gzip.decompress(body) == b"abc " * 600


def cross_origin_rules(web: ModuleType) -> AppSpec:
    class Target(web.RequestHandler):  # type: ignore[name-defined,misc]
        def post(self) -> None:
            self.write("accepted")

        def get(self) -> None:
            self.write("read")

    settings = {"cross_origin_protection": True, "trusted_origins": ["https://ok.example"]}
    return AppSpec(rules=[("/t", Target)], settings=settings)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {}),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://ok.example"}),
        ("POST", {"Sec-Fetch-Site": "same-origin"}),
        ("POST", {"Origin": "http://differential.test:8080"}),
        ("POST", {"Origin": "http://elsewhere.test"}),
        ("GET", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}),
    ],
)
async def test_cross_origin_protection_matches(method: str, headers: dict[str, str]) -> None:
    async with differential(cross_origin_rules) as pair:
        await pair.same("/t", method, headers=headers)
