"""examples/blog_login.py: login with a signed cookie, XSRF-protected forms, templates,
static assets."""

from __future__ import annotations

import re

import httpx
import pytest

from examples import blog_login
from tornadoish.testing import app_client

pytestmark = pytest.mark.anyio


def _xsrf(page: httpx.Response) -> str:
    match = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


async def _log_in(client: httpx.AsyncClient, name: str = "ada") -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"_xsrf": _xsrf(form), "name": name, "password": blog_login.PASSWORD, "next": "/"},
    )


async def test_home_page_renders_with_a_versioned_stylesheet() -> None:
    async with app_client(blog_login.make_app()) as client:
        home = await client.get("/")
        stylesheet = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', home.text)
        assert stylesheet is not None
        css = await client.get(stylesheet.group(1))
    assert "No posts yet." in home.text
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css"
    assert "max-age=315360000" in css.headers["cache-control"]


async def test_login_sets_a_signed_session_and_shows_the_user() -> None:
    async with app_client(blog_login.make_app()) as client:
        response = await _log_in(client)
        assert response.status_code == 302
        assert "user" in client.cookies
        home = await client.get("/")
    assert '<span class="user">ada</span>' in home.text


async def test_wrong_password_is_refused_with_403() -> None:
    async with app_client(blog_login.make_app()) as client:
        form = await client.get("/login")
        response = await client.post(
            "/login", data={"_xsrf": _xsrf(form), "name": "ada", "password": "nope"}
        )
    assert response.status_code == 403
    assert "Wrong name or password" in response.text


async def test_form_without_xsrf_token_is_forbidden() -> None:
    async with app_client(blog_login.make_app()) as client:
        await client.get("/login")
        response = await client.post("/login", data={"name": "ada", "password": "letmein"})
    assert response.status_code == 403


async def test_compose_requires_login_then_publishes_escaped_posts() -> None:
    async with app_client(blog_login.make_app()) as client:
        anonymous = await client.get("/compose")
        assert anonymous.status_code == 302
        assert anonymous.headers["location"] == "/login?next=%2Fcompose"

        await _log_in(client)
        form = await client.get("/compose")
        published = await client.post(
            "/compose",
            data={"_xsrf": _xsrf(form), "title": "<script>x</script>", "body": "first!"},
        )
        assert published.status_code == 302
        home = await client.get("/")
    assert "&lt;script&gt;x&lt;/script&gt;" in home.text
    assert "by ada" in home.text


async def test_login_never_redirects_off_site() -> None:
    async with app_client(blog_login.make_app()) as client:
        form = await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "_xsrf": _xsrf(form),
                "name": "ada",
                "password": blog_login.PASSWORD,
                "next": "//evil.example/",
            },
        )
    assert response.headers["location"] == "/"


async def test_logout_clears_the_session() -> None:
    async with app_client(blog_login.make_app()) as client:
        await _log_in(client)
        home = await client.get("/")
        response = await client.post("/logout", data={"_xsrf": _xsrf(home)})
        assert response.status_code == 302
        assert "user" not in client.cookies
        home = await client.get("/")
    assert "Log in" in home.text
