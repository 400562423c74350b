"""Signed cookies, XSRF, current_user and the auth decorators, in-process."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tornadoish.testing import app_client
from tornadoish.web import Application, RequestHandler, addslash, authenticated, removeslash

pytestmark = pytest.mark.anyio

SECRET = "It's a secret to everybody"


class LoginHandler(RequestHandler):
    def get(self) -> None:
        self.write(self.xsrf_form_html())

    def post(self) -> None:
        self.set_signed_cookie("user", self.get_argument("name"))
        self.write("ok")


class CookieUserHandler(RequestHandler):
    def get_current_user(self) -> Any:
        value = self.get_signed_cookie("user")
        return value.decode() if value else None

    @authenticated
    def get(self) -> None:
        self.write(f"hello {self.current_user}")

    @authenticated
    def post(self) -> None:
        self.write("posted")


class AsyncUserHandler(RequestHandler):
    calls = 0

    async def get_current_user(self) -> Any:
        AsyncUserHandler.calls += 1
        return self.get_query_argument("user", None)

    @authenticated
    async def get(self) -> None:
        assert self.current_user == self.current_user
        self.write(f"async {self.current_user}")


class SlashHandler(RequestHandler):
    @removeslash
    def get(self) -> None:
        self.write("no slash")


class AddSlashHandler(RequestHandler):
    @addslash
    def get(self) -> None:
        self.write("slash")


def make_app(**settings: Any) -> Application:
    return Application(
        [
            (r"/login", LoginHandler),
            (r"/me", CookieUserHandler),
            (r"/async", AsyncUserHandler),
            (r"/rs/?", SlashHandler),
            (r"/as/?", AddSlashHandler),
            (r"(/.*)/", SlashHandler),
        ],
        **{"cookie_secret": SECRET, "login_url": "/login", "xsrf_cookies": True, **settings},
    )


async def _login(client: httpx.AsyncClient, name: str) -> None:
    form = await client.get("/login")
    token = re.search(r'value="([^"]+)"', form.text)
    assert token is not None
    response = await client.post("/login", data={"name": name, "_xsrf": token.group(1)})
    assert response.status_code == 200


async def test_signed_cookie_login_makes_the_user_current() -> None:
    async with app_client(make_app()) as client:
        await _login(client, "ada")
        response = await client.get("/me")
    assert response.text == "hello ada"


async def test_tampered_signed_cookie_is_anonymous() -> None:
    async with app_client(make_app()) as client:
        await _login(client, "ada")
        forged = client.cookies["user"].replace("YWRh", "Ym9i")
        client.cookies.set("user", forged)
        response = await client.get("/me")
    assert response.status_code == 302
    assert response.headers["location"] == "/login?next=%2Fme"


async def test_anonymous_post_to_authenticated_method_is_forbidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with app_client(make_app(xsrf_cookies=False)) as client:
        response = await client.post("/me")
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Xsrftoken": "not-a-token"}, {"X-Csrftoken": "2|00000000|abcd|1"}],
)
async def test_post_without_a_matching_xsrf_token_is_forbidden(headers: dict[str, str]) -> None:
    async with app_client(make_app()) as client:
        await client.get("/login")
        response = await client.post("/login", data={"name": "x"}, headers=headers)
    assert response.status_code == 403


async def test_xsrf_token_in_a_header_is_accepted() -> None:
    async with app_client(make_app()) as client:
        form = await client.get("/login")
        token = re.search(r'value="([^"]+)"', form.text)
        assert token is not None
        response = await client.post(
            "/login", data={"name": "x"}, headers={"X-Xsrftoken": token.group(1)}
        )
    assert response.status_code == 200


async def test_async_get_current_user_is_awaited_once() -> None:
    AsyncUserHandler.calls = 0
    async with app_client(make_app()) as client:
        response = await client.get("/async?user=bo")
    assert response.text == "async bo"
    assert AsyncUserHandler.calls == 1


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/rs/", 301, "/rs"),
        ("/rs", 200, None),
        ("/as", 301, "/as/"),
        ("/as/", 200, None),
    ],
)
async def test_slash_decorators_redirect(path: str, status: int, location: str | None) -> None:
    async with app_client(make_app()) as client:
        response = await client.get(path)
    assert response.status_code == status
    assert response.headers.get("location") == location


async def test_removeslash_refuses_protocol_relative_redirects() -> None:
    async with app_client(make_app()) as client:
        response = await client.get("http://testserver//evil.example//")
    assert response.status_code == 403


class FormTarget(RequestHandler):
    def post(self) -> None:
        self.write("accepted")


class TrustingFormTarget(FormTarget):
    def check_trusted_origin(self, origin: str) -> bool:
        return origin.endswith(".friendly.example")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/form", {}, 200),  # not a browser: no Origin, no Sec-Fetch-Site
        ("/form", {"Sec-Fetch-Site": "same-origin"}, 200),
        ("/form", {"Sec-Fetch-Site": "none"}, 200),
        ("/form", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
        ("/form", {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver"}, 403),
        ("/form", {"Origin": "http://testserver"}, 200),  # old browser, same host
        ("/form", {"Origin": "https://evil.example"}, 403),
        ("/form", {"Origin": "https://trusted.example"}, 200),  # trusted_origins setting
        (
            "/trusting",
            {"Sec-Fetch-Site": "cross-site", "Origin": "https://a.friendly.example"},
            200,
        ),
        ("/trusting", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
    ],
)
async def test_cross_origin_protection_refuses_foreign_unsafe_requests(
    path: str, headers: dict[str, str], status: int
) -> None:
    app = Application(
        [("/form", FormTarget), ("/trusting", TrustingFormTarget)],
        cross_origin_protection=True,
        trusted_origins=["https://trusted.example"],
    )
    async with app_client(app) as client:
        response = await client.post(path, headers=headers)
    assert response.status_code == status


async def test_cross_origin_protection_is_off_by_default() -> None:
    async with app_client(Application([("/form", FormTarget)])) as client:
        response = await client.post(
            "/form", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
        )
    assert response.status_code == 200
