"""tornadoish.testing: in-process client with lifespan, live server, Tornado's TestCase API."""

from __future__ import annotations

import httpx
import pytest

from tornadoish.testing import (
    AsyncHTTPTestCase,
    HTTPClientError,
    LifespanError,
    app_client,
    gen_test,
    lifespan,
    live_server,
)
from tornadoish.types import ASGIApp, ASGIReceive, ASGISend, Scope
from tornadoish.web import Application, RequestHandler


class HelloHandler(RequestHandler):
    def get(self) -> None:
        self.write("hello " + self.get_argument("name", "world"))

    def post(self) -> None:
        self.write(self.request.body)


class GoneHandler(RequestHandler):
    def get(self) -> None:
        self.redirect("/")


def make_app() -> Application:
    return Application([("/", HelloHandler), ("/gone", GoneHandler)])


@pytest.mark.anyio
async def test_app_client_runs_startup_and_shutdown_hooks() -> None:
    events: list[str] = []
    app = make_app()
    app.on_startup(lambda: events.append("up"))

    @app.on_shutdown
    async def down() -> None:
        events.append("down")

    async with app_client(app) as client:
        assert events == ["up"]
        assert (await client.get("/")).text == "hello world"
    assert events == ["up", "down"]


@pytest.mark.anyio
async def test_failing_startup_hook_raises_lifespan_error(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("no database")

    with pytest.raises(LifespanError, match="no database"):
        async with app_client(app):
            pass
    assert "Lifespan hook" in caplog.text
    caplog.clear()


@pytest.mark.anyio
async def test_app_without_lifespan_support_is_served_anyway() -> None:
    async def bare_app(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            raise ValueError("http only")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with app_client(bare_app) as client:
        assert (await client.get("/")).status_code == 204


@pytest.mark.anyio
async def test_lifespan_yields_the_state_the_app_filled() -> None:
    async def stateful(scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        await receive()
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async with lifespan(stateful) as state:
        assert state == {"db": "connected"}


@pytest.fixture
def anyio_backend() -> str:
    # live_server uses our asyncio server; the in-process tests above are
    # backend-neutral but this module keeps one backend for simplicity.
    return "asyncio"


@pytest.mark.anyio
async def test_live_server_serves_over_real_sockets() -> None:
    async with live_server(make_app()) as server, httpx.AsyncClient() as client:
        response = await client.get(server.url + "/?name=socket")
    assert response.text == "hello socket"
    assert server.ws_url("/x") == f"ws://127.0.0.1:{server.port}/x"


class HelloTestCase(AsyncHTTPTestCase):
    def get_app(self) -> ASGIApp:
        return make_app()

    def test_fetch_returns_tornado_shaped_response(self) -> None:
        response = self.fetch("/?name=case")
        assert response.code == 200
        assert response.body == b"hello case"
        assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert response.error is None

    def test_fetch_follows_redirects_and_reports_effective_url(self) -> None:
        response = self.fetch("/gone")
        assert response.code == 200
        assert response.effective_url.endswith("/")

    def test_fetch_error_is_returned_not_raised_by_default(self) -> None:
        response = self.fetch("/missing")
        assert response.code == 404
        assert isinstance(response.error, HTTPClientError)
        with pytest.raises(HTTPClientError):
            self.fetch("/missing", raise_error=True)

    def test_post_body_and_headers(self) -> None:
        response = self.fetch("/", method="POST", body=b"payload", headers={"X-A": "1"})
        assert response.body == b"payload"

    def test_unsupported_fetch_option_is_refused(self) -> None:
        with pytest.raises(TypeError, match="proxy_host"):
            self.fetch("/", proxy_host="proxy.example")

    def test_get_url_starts_a_real_server(self) -> None:
        url = self.get_url("/?name=port")
        assert url.startswith(f"http://127.0.0.1:{self.get_http_port()}/")
        assert self.fetch(url).body == b"hello port"

    @gen_test
    async def test_gen_test_runs_coroutines_with_http_client(self) -> None:
        response = await self.http_client.fetch("http://127.0.0.1/")
        assert response.body == b"hello world"

    @gen_test(timeout=2)
    async def test_gen_test_accepts_a_timeout(self) -> None:
        with pytest.raises(HTTPClientError) as info:
            await self.http_client.fetch("http://127.0.0.1/missing")
        assert info.value.code == 404


class FormTestCase(AsyncHTTPTestCase):
    def get_app(self) -> ASGIApp:
        class Form(RequestHandler):
            def post(self) -> None:
                self.write(self.get_argument("name") + " " + self.request.headers["Content-Type"])

        return Application([("/form", Form), ("/", HelloHandler)])

    def test_post_body_without_content_type_is_a_form_as_in_tornado(self) -> None:
        response = self.fetch("/form", method="POST", body="name=ada")
        assert response.body == b"ada application/x-www-form-urlencoded"

    def test_explicit_content_type_is_kept(self) -> None:
        response = self.fetch(
            "/form",
            method="POST",
            body="name=bo",
            headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
        )
        assert response.body == b"bo application/x-www-form-urlencoded; charset=UTF-8"

    @gen_test
    async def test_get_url_works_inside_gen_test(self) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.get(self.get_url("/?name=inside"))
        assert response.text == "hello inside"
