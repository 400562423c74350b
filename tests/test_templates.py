"""render()/render_string() with Jinja2 and with a Tornado-style template loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tornado.template

from tornadoish.testing import app_client
from tornadoish.web import Application, RequestHandler

pytestmark = pytest.mark.anyio

TEMPLATES = str(Path(__file__).parent / "templates")


class PageHandler(RequestHandler):
    def get(self) -> None:
        self.render("page.html", title="<b>Fish & Chips</b>")


class TornadoPageHandler(RequestHandler):
    def get(self) -> None:
        self.render("tornado_page.html", title="<i>x</i>", items=["a<", "b"])


class StringHandler(RequestHandler):
    def get(self) -> None:
        body = self.render_string("page.html", title="plain")
        self.set_header("Content-Type", "text/plain")
        self.write(body.upper())


def make_app(**settings: Any) -> Application:
    rules = [(r"/page", PageHandler), (r"/tornado", TornadoPageHandler), (r"/str", StringHandler)]
    return Application(rules, **{"template_path": TEMPLATES, **settings})


async def test_render_escapes_values_and_sees_the_namespace() -> None:
    async with app_client(make_app()) as client:
        response = await client.get("/page")
    assert response.status_code == 200
    assert "<h1>&lt;b&gt;Fish &amp; Chips&lt;/b&gt;</h1>" in response.text
    assert "<p>/page</p>" in response.text
    assert 'name="_xsrf"' in response.text
    assert response.headers["content-type"] == "text/html; charset=UTF-8"


async def test_render_string_returns_bytes_for_further_use() -> None:
    async with app_client(make_app()) as client:
        response = await client.get("/str")
    assert response.text.startswith("<H1>PLAIN</H1>")


async def test_tornado_template_loader_works_unchanged() -> None:
    loader = tornado.template.Loader(TEMPLATES)
    async with app_client(make_app(template_loader=loader)) as client:
        response = await client.get("/tornado")
    assert response.text == "<h1>&lt;i&gt;x&lt;/i&gt;</h1><li>a&lt;</li><li>b</li>\n"


async def test_missing_template_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    async with app_client(make_app(template_path=str(Path(TEMPLATES) / "nowhere"))) as client:
        response = await client.get("/page")
    assert response.status_code == 500
    assert any("Uncaught exception" in r.getMessage() for r in caplog.records)
    caplog.clear()
