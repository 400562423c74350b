"""tornadoish.application: settings, the routing table, logging, lifespan, mounting."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.apps import client, http_scope
from tornadoish import Application, RedirectHandler, RequestHandler, url
from tornadoish.settings import _CHECKS
from tornadoish.types import Message

NOT_FOUND_PAGE = "<html><title>404: Not Found</title><body>404: Not Found</body></html>"


class NameHandler(RequestHandler):
    def initialize(self, name: str = "") -> None:
        self.name = name

    def get(self, *args: str) -> None:
        self.write(self.name)


# -- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"debug": "yes"}, TypeError, "setting 'debug' must be a bool, got 'yes'"),
        ({"debug": 1}, TypeError, "setting 'debug' must be a bool"),
        ({"compress_response": None}, TypeError, "'compress_response' must be a bool"),
        ({"cookie_secret": ""}, TypeError, "'cookie_secret' must be a non-empty str/bytes"),
        ({"cookie_secret": 42}, TypeError, "'cookie_secret' must be"),
        ({"cookie_secret": {}}, TypeError, "'cookie_secret' must be"),
        ({"cookie_secret": {"v1": "s"}}, TypeError, "'cookie_secret' must be"),
        ({"cookie_secret": {1: ""}}, TypeError, "'cookie_secret' must be"),
        (
            {"key_version": "1", "cookie_secret": {1: "s"}},
            TypeError,
            "'key_version' must be an int",
        ),
        ({"key_version": 2, "cookie_secret": {1: "s"}}, ValueError, "must name a key"),
        ({"key_version": 1, "cookie_secret": "s"}, ValueError, "must name a key"),
        ({"login_url": b"/login"}, TypeError, "'login_url' must be a str"),
        ({"template_path": None}, TypeError, "'template_path' must be a str or os.PathLike"),
        ({"static_path": b"/srv"}, TypeError, "'static_path' must be a str or os.PathLike"),
        ({"static_url_prefix": 1}, TypeError, "'static_url_prefix' must be a str"),
        ({"default_handler_class": "x.Handler"}, TypeError, "'default_handler_class' must be"),
        ({"default_handler_class": int}, TypeError, "'default_handler_class' must be a Request"),
        ({"static_handler_class": dict}, TypeError, "'static_handler_class' must be a RequestH"),
        ({"default_handler_args": [("a", 1)]}, TypeError, "'default_handler_args' must be a dict"),
        ({"static_handler_args": None}, TypeError, "'static_handler_args' must be a dict"),
        ({"log_function": "print"}, TypeError, "'log_function' must be a callable"),
        ({"json_encoder": json.dumps}, TypeError, "'json_encoder' must be a json.JSONEncoder"),
        ({"json_encoder": dict}, TypeError, "'json_encoder' must be a json.JSONEncoder"),
        ({"max_body_size": 0}, TypeError, "'max_body_size' must be a positive int or None"),
        ({"max_body_size": -1}, TypeError, "'max_body_size' must be a positive int"),
        ({"max_body_size": 1.5}, TypeError, "'max_body_size' must be a positive int"),
        ({"max_body_size": True}, TypeError, "'max_body_size' must be a positive int"),
        ({"xsrf_cookie_kwargs": "httponly"}, TypeError, "'xsrf_cookie_kwargs' must be a dict"),
        ({"websocket_ping_interval": -1}, TypeError, "'websocket_ping_interval' must be a num"),
        ({"websocket_ping_timeout": "5"}, TypeError, "'websocket_ping_timeout' must be a num"),
        ({"websocket_max_message_size": 0}, TypeError, "'websocket_max_message_size' must be"),
        ({"trusted_proxies": "10.0.0.1"}, TypeError, "'trusted_proxies' must be a list"),
        ({"trusted_proxies": [10]}, TypeError, "'trusted_proxies' must be a list"),
        ({"trusted_proxies": ["not-an-ip"]}, ValueError, "'not-an-ip' is not an IP address"),
    ],
)
def test_known_settings_with_bad_values_fail_at_construction(
    settings: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        Application(**settings)


@pytest.mark.parametrize("key", sorted(_CHECKS))
def test_every_known_setting_refuses_a_value_of_no_sensible_type(key: str) -> None:
    settings: dict[str, Any] = {key: object()}
    with pytest.raises(TypeError, match=f"setting '{key}' must be"):
        Application(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"debug": False, "compress_response": True, "xsrf_cookies": True},
        {"cookie_secret": b"bytes secret"},
        {"cookie_secret": {1: "old", 2: b"new"}, "key_version": 2},
        {"max_body_size": None},
        {"max_body_size": 1},
        {"json_encoder": None},
        {"json_encoder": json.JSONEncoder},
        {"log_function": print},
        {"websocket_ping_interval": 0.5, "websocket_ping_timeout": 2},
        {"websocket_ping_interval": 0, "websocket_ping_timeout": None},  # Tornado's "off"
        {"trusted_proxies": ["10.0.0.0/8", "::1"]},
        {"trusted_proxies": ()},
        {"default_handler_class": NameHandler, "default_handler_args": {"name": "x"}},
    ],
)
def test_known_settings_with_good_values_are_accepted(settings: dict[str, Any]) -> None:
    assert Application(**settings).settings == settings


@pytest.mark.parametrize("key", ["static_path", "template_path"])
def test_path_settings_accept_pathlib_paths_and_store_str(key: str, tmp_path: Path) -> None:
    settings: dict[str, Any] = {key: tmp_path}
    assert Application(**settings).settings[key] == str(tmp_path)


def test_user_settings_are_kept_as_given() -> None:
    marker = object()
    app = Application(my_database=marker, title="Site")
    assert app.settings["my_database"] is marker
    assert app.settings["title"] == "Site"


@pytest.mark.parametrize(
    ("settings", "serve_traceback"),
    [
        ({"debug": True}, True),
        ({"debug": True, "serve_traceback": False}, False),
        ({"debug": False}, None),
        ({}, None),
    ],
)
def test_debug_implies_serve_traceback_unless_set(
    settings: dict[str, Any], serve_traceback: bool | None
) -> None:
    assert Application(**settings).settings.get("serve_traceback") is serve_traceback


def test_output_transforms_are_refused() -> None:
    with pytest.raises(TypeError, match="output transforms are not supported"):
        Application(transforms=[object()])  # type: ignore[arg-type]  # the point: unsupported


# -- routing table ------------------------------------------------------------------------


def _route(app: Application, path: str, host: str = "testserver") -> Any:
    handler_class, kwargs, _, _ = app.find_handler(host, path, False)
    return kwargs.get("name", handler_class.__name__)


def test_add_handlers_go_ahead_of_the_constructor_rules_in_order_added() -> None:
    app = Application([("/a", NameHandler, {"name": "ctor"}), ("/b", NameHandler, {"name": "b"})])
    app.add_handlers(".*", [("/a", NameHandler, {"name": "first"})])
    app.add_handlers(
        ".*", [("/a", NameHandler, {"name": "second"}), ("/c", NameHandler, {"name": "c"})]
    )
    assert _route(app, "/a") == "first"
    assert _route(app, "/b") == "b"
    assert _route(app, "/c") == "c"


def test_host_specific_rules_added_later_still_go_first() -> None:
    app = Application([("/", NameHandler, {"name": "any"})])
    app.add_handlers(r"admin\.test", [("/", NameHandler, {"name": "admin"})])
    assert _route(app, "/", host="admin.test") == "admin"
    assert _route(app, "/", host="www.test") == "any"


def test_reverse_url_finds_named_rules() -> None:
    app = Application(
        [
            url(r"/user/(\d+)", NameHandler, name="user"),
            (r"/post/([^/]+)/(\d+)", NameHandler, {}, "post"),
        ]
    )
    app.add_handlers(r"admin\.test", [url("/admin", NameHandler, name="admin")])
    assert app.reverse_url("user", 42) == "/user/42"
    assert app.reverse_url("post", "a b", 3) == "/post/a%20b/3"
    assert app.reverse_url("admin") == "/admin"


def test_reverse_url_of_an_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope not found in named urls"):
        Application().reverse_url("nope")


def test_duplicate_names_warn_and_the_last_wins(caplog: pytest.LogCaptureFixture) -> None:
    app = Application([url("/one", NameHandler, name="x"), url("/two", NameHandler, name="x")])
    assert app.reverse_url("x") == "/two"
    [record] = [r for r in caplog.records if r.name == "tornadoish.application"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Multiple handlers named x; replacing previous value"


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unmatched_paths_get_the_404_page(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(Application([("/", NameHandler)])) as http:
        response = await http.request(method, "/missing")
    assert response.status_code == 404
    assert response.text == NOT_FOUND_PAGE
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"


class FallbackHandler(RequestHandler):
    def initialize(self, label: str) -> None:
        self.label = label

    def prepare(self) -> None:
        self.set_status(404)
        self.finish(f"custom {self.label} for {self.request.path}")


@pytest.mark.anyio
async def test_default_handler_class_answers_unmatched_paths_with_its_args() -> None:
    app = Application(
        [("/", NameHandler, {"name": "root"})],
        default_handler_class=FallbackHandler,
        default_handler_args={"label": "page"},
    )
    async with client(app) as http:
        missing = await http.get("/nowhere")
        root = await http.get("/")
    assert (missing.status_code, missing.text) == (404, "custom page for /nowhere")
    assert root.text == "root"


# -- logging ------------------------------------------------------------------------------


class StatusHandler(RequestHandler):
    def get(self, status: str) -> None:
        self.set_status(int(status))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "level"),
    [(200, logging.INFO), (302, logging.INFO), (404, logging.WARNING), (503, logging.ERROR)],
)
async def test_access_log_line_and_level(
    status: int, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with client(Application([(r"/s/(\d+)", StatusHandler)])) as http:
        await http.get(f"/s/{status}?q=1")
    [record] = [r for r in caplog.records if r.name == "tornadoish.access"]
    caplog.clear()
    assert record.levelno == level
    assert re.fullmatch(
        rf"{status} GET /s/{status}\?q=1 \(127\.0\.0\.1\) \d+\.\d\dms", record.getMessage()
    )


@pytest.mark.anyio
async def test_log_function_setting_replaces_the_access_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[int, str]] = []

    def log_function(handler: RequestHandler) -> None:
        seen.append((handler.get_status(), handler.request.uri))

    app = Application([(r"/s/(\d+)", StatusHandler)], log_function=log_function)
    async with client(app) as http:
        await http.get("/s/201")
    assert seen == [(201, "/s/201")]
    assert [r for r in caplog.records if r.name == "tornadoish.access"] == []


@pytest.mark.anyio
async def test_log_request_can_be_overridden_in_a_subclass() -> None:
    seen: list[int] = []

    class QuietApplication(Application):
        def log_request(self, handler: RequestHandler) -> None:
            seen.append(handler.get_status())

    async with client(QuietApplication([(r"/s/(\d+)", StatusHandler)])) as http:
        await http.get("/s/500")
    assert seen == [500]


# -- the ASGI entry point -----------------------------------------------------------------


class LifespanDriver:
    """Plays the server's side of the ASGI lifespan protocol."""

    def __init__(self, *incoming: str) -> None:
        self.incoming: list[Message] = [{"type": f"lifespan.{kind}"} for kind in incoming]
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, app: Application) -> list[Message]:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        with anyio.fail_after(5):
            await app(scope, self.receive, self.send)
        return self.sent


@pytest.mark.anyio
async def test_lifespan_runs_sync_and_async_hooks_in_order() -> None:
    events: list[str] = []
    app = Application()

    @app.on_startup
    def sync_start() -> None:
        events.append("sync start")

    @app.on_startup
    async def async_start() -> None:
        await anyio.lowlevel.checkpoint()
        events.append("async start")

    @app.on_shutdown
    async def async_stop() -> None:
        await anyio.lowlevel.checkpoint()
        events.append("async stop")

    app.on_shutdown(lambda: events.append("sync stop"))
    sent = await LifespanDriver("startup", "shutdown").run(app)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert events == ["sync start", "async start", "async stop", "sync stop"]


def test_lifespan_hook_decorators_return_the_hook() -> None:
    app = Application()

    def hook() -> None:
        pass

    assert app.on_startup(hook) is hook
    assert app.on_shutdown(hook) is hook


@pytest.mark.anyio
@pytest.mark.parametrize("is_async", [False, True])
async def test_failing_startup_hook_fails_the_startup(
    is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []
    app = Application()

    def failing() -> None:
        raise RuntimeError("no database")

    async def async_failing() -> None:
        raise RuntimeError("no database")

    app.on_startup(async_failing if is_async else failing)
    app.on_startup(lambda: events.append("later hook"))
    sent = await LifespanDriver("startup").run(app)
    assert sent == [{"type": "lifespan.startup.failed", "message": "RuntimeError: no database"}]
    assert events == []
    [record] = [r for r in caplog.records if r.name == "tornadoish.application"]
    caplog.clear()
    assert record.getMessage().startswith("Lifespan hook")
    assert record.exc_info is not None


@pytest.mark.anyio
async def test_failing_shutdown_hook_fails_the_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    app = Application()

    @app.on_shutdown
    def failing() -> None:
        raise ValueError("flush failed")

    sent = await LifespanDriver("startup", "shutdown").run(app)
    assert sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.failed", "message": "ValueError: flush failed"},
    ]
    caplog.clear()


@pytest.mark.anyio
async def test_lifespan_without_hooks_completes() -> None:
    sent = await LifespanDriver("startup", "shutdown").run(Application())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.anyio
async def test_unsupported_scope_type_raises() -> None:
    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="cannot handle 'telepathy' scopes"):
        await Application()({"type": "telepathy"}, receive, send)


# -- mounted under a prefix (ASGI root_path) ----------------------------------------------


class MountedHandler(RequestHandler):
    def get(self, *args: str) -> None:
        self.write(
            {
                "args": list(args),
                "path": self.request.path,
                "root_path": self.request.root_path,
                "full_url": self.request.full_url(),
                "reverse": self.reverse_url("user", "a b"),
                "app_reverse": self.application.reverse_url("user", "a b"),
            }
        )


def _mounted() -> Starlette:
    inner = Application(
        [
            url(r"/user/([^/]+)", MountedHandler, name="user"),
            (r"/a%20b", MountedHandler),
            (r"/old", RedirectHandler, {"url": "/user/new"}),
            (r"/away", RedirectHandler, {"url": "https://example.com/x"}),
        ]
    )
    return Starlette(routes=[Mount("/t", app=inner)])


@pytest.mark.anyio
async def test_mounted_app_routes_below_the_prefix() -> None:
    async with client(_mounted()) as http:
        response = await http.get("/t/user/bob?x=1")
    assert response.json() == {
        "args": ["bob"],
        "path": "/t/user/bob",
        "root_path": "/t",
        "full_url": "http://testserver/t/user/bob?x=1",
        "reverse": "/t/user/a%20b",
        "app_reverse": "/user/a%20b",
    }


@pytest.mark.anyio
async def test_mounted_app_matches_the_raw_path_below_the_prefix() -> None:
    async with client(_mounted()) as http:
        encoded = await http.get("/t/a%20b")
        group = await http.get("/t/user/x%2Fy")
    assert encoded.status_code == 200
    assert encoded.json()["path"] == "/t/a%20b"
    assert group.json()["args"] == ["x/y"]


@pytest.mark.anyio
async def test_mounted_app_does_not_answer_outside_its_prefix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client(_mounted()) as http:
        response = await http.get("/user/bob")
    assert response.status_code == 404  # Starlette's answer: the app was not reached
    assert [r for r in caplog.records if r.name == "tornadoish.access"] == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "location"),
    [("/t/old", "/t/user/new"), ("/t/away", "https://example.com/x")],
)
async def test_mounted_redirect_handler_keeps_app_relative_targets_inside_the_mount(
    path: str, location: str
) -> None:
    async with client(_mounted()) as http:
        response = await http.get(path)
    assert response.status_code == 301
    assert response.headers["Location"] == location


@pytest.mark.anyio
async def test_root_path_left_out_of_path_by_older_servers_still_routes() -> None:
    app = Application([url(r"/user/([^/]+)", MountedHandler, name="user")])
    scope = http_scope("/user/bob", root_path="/t")
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    body = json.loads(sent[1]["body"])
    assert (body["path"], body["reverse"]) == ("/t/user/bob", "/t/user/a%20b")


@pytest.mark.anyio
async def test_access_log_below_the_logger_level_is_not_emitted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="tornadoish.access")
    async with client(Application([(r"/s/(\d+)", StatusHandler)])) as http:
        await http.get("/s/404")
    assert [r for r in caplog.records if r.name == "tornadoish.access"] == []


@pytest.mark.anyio
async def test_lifespan_ignores_messages_it_does_not_know() -> None:
    driver = LifespanDriver("startup", "something-new", "shutdown")
    sent = await driver.run(Application())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.anyio
async def test_static_path_given_as_a_pathlib_path_serves_files(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hi")
    async with client(Application(static_path=tmp_path)) as http:
        response = await http.get("/static/hello.txt")
    assert (response.status_code, response.content) == (200, b"hi")
