"""tornadoish.websocket: WebSocketHandler over the ASGI websocket scope, in-process
through ``tornadoish.testing.websocket_connect`` (asyncio and trio)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.apps import client
from tornadoish import Application, HTTPError, RequestHandler, authenticated
from tornadoish.testing import WebSocketSessionClosed, websocket_connect
from tornadoish.types import Message
from tornadoish.websocket import WebSocketClosedError, WebSocketHandler

pytestmark = pytest.mark.anyio

UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}


class Record:
    """What a handler saw, for the test to inspect; ``closed`` is set by on_close."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = anyio.Event()
        self.close_calls = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.errors: list[BaseException] = []


class RecordingHandler(WebSocketHandler):
    def initialize(self, record: Record) -> None:
        self.record = record

    def on_close(self) -> None:
        self.record.close_calls += 1
        self.record.close_code = self.close_code
        self.record.close_reason = self.close_reason
        try:
            self.write_message("too late")
        except WebSocketClosedError as exc:
            self.record.errors.append(exc)
        self.record.closed.set()


class EchoHandler(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        if message == "json":
            await self.write_message({"echo": message, "items": [1, 2]})
        elif message == "close":
            self.close(4000, "asked to")
        else:
            await self.write_message(message, binary=isinstance(message, bytes))


def make_app(
    handler: type[WebSocketHandler] = EchoHandler, **settings: Any
) -> tuple[Application, Record]:
    record = Record()
    return Application([(r"/ws", handler, {"record": record})], **settings), record


# -- messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("hello", "hello"),
        ("héllo ✓", "héllo ✓"),
        (b"\x00\xffbinary", b"\x00\xffbinary"),
        ("json", {"echo": "json", "items": [1, 2]}),
    ],
)
async def test_echo_returns_text_as_text_binary_as_bytes_and_dicts_as_json(
    sent: str | bytes, expected: Any
) -> None:
    app, record = make_app()
    async with websocket_connect(app, "/ws") as ws:
        assert ws.accepted
        if isinstance(sent, bytes):
            await ws.send_bytes(sent)
            assert await ws.receive_bytes() == expected
        elif isinstance(expected, dict):
            await ws.send_text(sent)
            assert await ws.receive_json() == expected
        else:
            await ws.send_text(sent)
            assert await ws.receive_text() == expected
    assert record.close_calls == 1


class GateHandler(RecordingHandler):
    def initialize(self, record: Record, gate: anyio.Event) -> None:  # type: ignore[override]  # adds a kwarg
        super().initialize(record)
        self.gate = gate

    async def open(self) -> None:
        await self.gate.wait()
        self.record.events.append("opened")
        self.write_message("welcome")  # not awaited: still goes out, first

    def on_message(self, message: str | bytes) -> None:
        self.record.events.append(message)
        self.write_message(f"got {message!r}")


async def test_no_message_is_delivered_before_an_async_open_returns() -> None:
    record, gate = Record(), anyio.Event()
    app = Application([(r"/ws", GateHandler, {"record": record, "gate": gate})])
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("early")
        assert record.events == []
        gate.set()
        assert await ws.receive_text() == "welcome"
        assert await ws.receive_text() == "got 'early'"
    assert record.events == ["opened", "early"]


class SlowFirstHandler(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        # The first message takes the longest: a concurrent design would answer out
        # of order.
        for _ in range(30 - 10 * int(message)):
            await anyio.lowlevel.checkpoint()
        self.record.events.append(message)
        await self.write_message(message)


async def test_async_on_message_handles_messages_one_at_a_time_in_order() -> None:
    app, record = make_app(SlowFirstHandler)
    async with websocket_connect(app, "/ws") as ws:
        for number in ("0", "1", "2"):
            await ws.send_text(number)
        assert [await ws.receive_text() for _ in range(3)] == ["0", "1", "2"]
    assert record.events == ["0", "1", "2"]


class Room:
    def __init__(self) -> None:
        self.members: list[WebSocketHandler] = []
        self.joined = anyio.Event()


class ChatHandler(WebSocketHandler):
    def initialize(self, room: Room) -> None:
        self.room = room

    def open(self) -> None:
        self.room.members.append(self)
        if len(self.room.members) == 2:
            self.room.joined.set()

    def on_message(self, message: str | bytes) -> None:
        for member in self.room.members:
            member.write_message(message)  # Tornado's chat idiom: not awaited

    def on_close(self) -> None:
        self.room.members.remove(self)


async def test_a_message_written_to_an_idle_connection_is_sent_without_waiting_for_input() -> None:
    room = Room()
    app = Application([(r"/chat", ChatHandler, {"room": room})])
    async with websocket_connect(app, "/chat") as alice, websocket_connect(app, "/chat") as bob:
        with anyio.fail_after(5):
            await room.joined.wait()
        await alice.send_text("hi all")
        assert await bob.receive_text() == "hi all"
        assert await alice.receive_text() == "hi all"
    assert room.members == []


class FloodHandler(RecordingHandler):
    async def open(self) -> None:
        for index in range(100):
            if index % 2:
                await self.write_message(f"m{index}")
            else:
                self.write_message(f"m{index}")
        self.close(1000, "done")


async def test_awaited_and_unawaited_writes_go_out_in_order_before_the_close() -> None:
    app, record = make_app(FloodHandler)
    async with websocket_connect(app, "/ws") as ws:
        assert [await ws.receive_text() for _ in range(100)] == [f"m{i}" for i in range(100)]
        assert await ws.wait_closed() == (1000, "done")
        with pytest.raises(WebSocketSessionClosed):
            await ws.receive()
    assert record.close_code == 1000


# -- handshake --------------------------------------------------------------------------


class ProtocolHandler(RecordingHandler):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        self.record.events.append(list(subprotocols))
        return "chat.v2" if "chat.v2" in subprotocols else None

    def open(self) -> None:
        self.write_message(repr(self.selected_subprotocol))


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        ((), None),
        (("chat.v1",), None),
        (("chat.v1", "chat.v2"), "chat.v2"),
    ],
)
async def test_select_subprotocol_sees_the_offer_once_and_its_choice_is_accepted(
    offered: tuple[str, ...], selected: str | None
) -> None:
    app, record = make_app(ProtocolHandler)
    async with websocket_connect(app, "/ws", subprotocols=offered) as ws:
        assert ws.subprotocol == selected
        assert await ws.receive_text() == repr(selected)
    assert record.events == [list(offered)]


class BadProtocolHandler(RecordingHandler):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "not-offered"


async def test_selecting_a_subprotocol_not_offered_is_a_500_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, record = make_app(BadProtocolHandler)
    async with websocket_connect(app, "/ws", subprotocols=["a"]) as ws:
        assert ws.rejection is not None
        assert ws.rejection.status == 500
    assert "not-offered" in caplog.text
    caplog.clear()
    assert record.close_calls == 0


class TrustingHandler(RecordingHandler):
    def check_origin(self, origin: str) -> bool:
        self.record.events.append(origin)
        return origin.endswith(".friendly.example")


@pytest.mark.parametrize(
    ("handler", "headers", "settings", "accepted"),
    [
        (EchoHandler, {}, {}, True),  # no Origin: not a browser
        (EchoHandler, {"Origin": "http://testserver"}, {}, True),
        (EchoHandler, {"Origin": "https://TestServer"}, {}, True),  # scheme not compared
        (EchoHandler, {"Origin": "http://testserver:8080"}, {}, False),
        (EchoHandler, {"Origin": "http://evil.example"}, {}, False),
        (
            EchoHandler,
            {"Origin": "http://a.example"},
            {"trusted_origins": ["http://a.example"]},
            True,
        ),
        (EchoHandler, {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"}, {}, True),
        (EchoHandler, {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"}, {}, False),
        (EchoHandler, {"Sec-Fetch-Site": "same-site"}, {}, False),
        (TrustingHandler, {"Origin": "http://chat.friendly.example"}, {}, True),
        (TrustingHandler, {"Origin": "http://evil.example"}, {}, False),
    ],
)
async def test_cross_origin_handshakes_are_refused_with_403_unless_check_origin_allows(
    handler: type[WebSocketHandler],
    headers: dict[str, str],
    settings: dict[str, Any],
    accepted: bool,
) -> None:
    app, _ = make_app(handler, **settings)
    async with websocket_connect(app, "/ws", headers=headers) as ws:
        assert ws.accepted is accepted
        if not accepted:
            assert ws.rejection is not None
            assert (ws.rejection.status, ws.rejection.body) == (
                403,
                b"Cross origin websockets not allowed",
            )


async def test_check_origin_is_not_asked_about_same_origin_requests() -> None:
    app, record = make_app(TrustingHandler)
    async with websocket_connect(app, "/ws", headers={"Origin": "http://testserver"}) as ws:
        assert ws.accepted
    assert record.events == []


async def test_an_unsupported_websocket_version_gets_426_naming_version_13() -> None:
    app, _ = make_app()
    async with websocket_connect(app, "/ws", headers={"Sec-WebSocket-Version": "8"}) as ws:
        assert ws.rejection is not None
        assert ws.rejection.status == 426
        assert ws.rejection.headers["Sec-WebSocket-Version"] == "13"


async def test_a_refusal_without_the_http_response_extension_closes_before_accepting() -> None:
    app, record = make_app()
    headers = {"Origin": "http://evil.example"}
    async with websocket_connect(app, "/ws", headers=headers, http_response_extension=False) as ws:
        assert not ws.accepted
        assert ws.rejection is not None
        assert (ws.rejection.status, ws.rejection.body) == (403, b"")  # what servers answer
    assert record.close_calls == 0


class PageHandler(RequestHandler):
    def get(self) -> None:
        self.write("just a page")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/page", 200, b"just a page"),
        ("/nowhere", 404, b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"),
    ],
)
async def test_a_websocket_request_to_a_plain_route_gets_that_routes_http_answer(
    path: str, status: int, body: bytes
) -> None:
    app = Application([(r"/page", PageHandler)])
    async with websocket_connect(app, path) as ws:
        assert ws.rejection is not None
        assert (ws.rejection.status, ws.rejection.body) == (status, body)


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({}, 400, b'Can "Upgrade" only to "WebSocket".'),
        ({"Upgrade": "websocket"}, 400, b'"Connection" must be "Upgrade".'),
        (
            {**UPGRADE_HEADERS, "Origin": "http://evil.example"},
            403,
            b"Cross origin websockets not allowed",
        ),
        ({**UPGRADE_HEADERS, "Sec-WebSocket-Version": "8"}, 426, b""),
    ],
)
async def test_a_plain_http_get_gets_tornados_refusals(
    headers: dict[str, str], status: int, body: bytes
) -> None:
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/ws", headers=headers)
    assert (response.status_code, response.content) == (status, body)


async def test_a_valid_upgrade_arriving_as_plain_http_gets_400_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/ws", headers=UPGRADE_HEADERS)
    assert response.status_code == 400
    assert "arrived as plain HTTP" in caplog.text


class AuthHandler(RecordingHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Default", "yes")

    def get_current_user(self) -> str | None:
        value = self.get_signed_cookie("user")
        return value.decode() if value else None

    async def prepare(self) -> None:
        if self.get_argument("deny", None):
            raise HTTPError(401)
        self.set_header("X-Prepared", self.get_argument("room", "lobby"))
        self.set_cookie("visited", "1")
        self.xsrf_token  # noqa: B018  # sets the _xsrf cookie on first use

    def open(self) -> None:
        self.write_message({"user": self.current_user, "room": self.get_argument("room")})


async def test_prepare_cookies_arguments_and_current_user_work_during_the_handshake() -> None:
    app, _ = make_app(AuthHandler, cookie_secret="s3cret")
    headers = {"Cookie": f"user={_signed_cookie(app, 'user', 'ada')}"}
    async with websocket_connect(app, "/ws?room=blue", headers=headers) as ws:
        assert ws.accepted
        assert ws.headers["X-Default"] == "yes"
        assert ws.headers["X-Prepared"] == "blue"
        cookies = ws.headers.get_list("Set-Cookie")
        assert any(c.startswith("visited=1") for c in cookies)
        assert any(c.startswith("_xsrf=") for c in cookies)
        assert await ws.receive_json() == {"user": "ada", "room": "blue"}


def _signed_cookie(app: Application, name: str, value: str) -> str:
    from tornadoish.security import create_signed_value

    return create_signed_value(app.settings["cookie_secret"], name, value).decode()


async def test_an_http_error_in_prepare_refuses_the_handshake_with_that_status() -> None:
    app, record = make_app(AuthHandler, cookie_secret="s3cret")
    async with websocket_connect(app, "/ws?deny=1") as ws:
        assert ws.rejection is not None
        assert ws.rejection.status == 401
    assert record.close_calls == 0


# -- errors and closing -----------------------------------------------------------------


class FailingOpenHandler(RecordingHandler):
    def open(self) -> None:
        raise RuntimeError("open broke")

    def on_message(self, message: str | bytes) -> None:
        self.record.events.append(message)


class FailingMessageHandler(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("on_message broke")


@pytest.mark.parametrize(
    ("handler", "text"),
    [(FailingOpenHandler, "open broke"), (FailingMessageHandler, "on_message broke")],
)
async def test_an_exception_in_open_or_on_message_is_logged_and_closes_with_1011(
    handler: type[WebSocketHandler], text: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, record = make_app(handler)
    async with websocket_connect(app, "/ws") as ws:
        if handler is FailingMessageHandler:
            await ws.send_text("boom")
        assert await ws.wait_closed() == (1011, "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in errors] == ["tornadoish.application"]
    assert text in caplog.text
    caplog.clear()
    assert record.events == []
    assert (record.close_calls, record.close_code) == (1, 1011)


async def test_a_server_initiated_close_sends_code_and_reason_then_calls_on_close_once() -> None:
    app, record = make_app()
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("close")
        assert await ws.wait_closed() == (4000, "asked to")
        with pytest.raises(RuntimeError, match="not open"):
            await ws.send_text("after")
    assert (record.close_calls, record.close_code, record.close_reason) == (1, 4000, "asked to")
    assert len(record.errors) == 1


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "going away"), (4321, "custom ✓")])
async def test_the_clients_close_code_and_reason_reach_on_close(code: int, reason: str) -> None:
    app, record = make_app()
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("ping")
        assert await ws.receive_text() == "ping"
        await ws.close(code, reason)
    assert (record.close_calls, record.close_code, record.close_reason) == (1, code, reason)
    assert isinstance(record.errors[0], WebSocketClosedError)


class CloseThenWriteHandler(RecordingHandler):
    def on_message(self, message: str | bytes) -> None:
        self.close()
        attempts: list[Callable[[], object]] = [lambda: self.write_message("x"), self.ping]
        for attempt in attempts:
            try:
                attempt()
            except WebSocketClosedError as exc:
                self.record.errors.append(exc)
        self.close()  # a second close does nothing


async def test_writing_or_pinging_after_close_raises_websocket_closed_error() -> None:
    app, record = make_app(CloseThenWriteHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("go")
        assert await ws.wait_closed() == (1000, "")
    assert len(record.errors) == 3  # write, ping, and the write in on_close


class PendingWriteHandler(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        pending = self.write_message("reply")
        self.record.events.append("queued")
        await pending
        self.record.events.append("sent")


async def test_awaiting_write_message_returns_once_the_message_went_out() -> None:
    app, record = make_app(PendingWriteHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("go")
        assert await ws.receive_text() == "reply"
    assert record.events == ["queued", "sent"]


@pytest.mark.parametrize(
    "message",
    [b"x" * 11, "y" * 11, "é" * 6],  # 12 bytes of UTF-8
)
async def test_a_message_over_websocket_max_message_size_closes_with_1009(
    message: str | bytes,
) -> None:
    app, record = make_app(websocket_max_message_size=10)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("x" * 10)
        assert await ws.receive_text() == "x" * 10
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(message)
        assert await ws.wait_closed() == (1009, "message too big")
    assert record.close_code == 1009


class PingHandler(RecordingHandler):
    def on_message(self, message: str | bytes) -> None:
        try:
            self.ping(b"are you there")
        except NotImplementedError as exc:
            self.write_message(str(exc))


async def test_ping_raises_a_clear_error_under_asgi() -> None:
    app, _ = make_app(PingHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("go")
        assert "not available under ASGI" in await ws.receive_text()


async def test_ping_settings_get_one_warning_that_they_have_no_effect(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tornadoish.websocket._ping_settings_warned", False)
    app, _ = make_app(websocket_ping_interval=10)
    for _ in range(2):
        async with websocket_connect(app, "/ws") as ws:
            assert ws.accepted
    warnings = [r for r in caplog.records if "no effect under ASGI" in r.getMessage()]
    assert len(warnings) == 1


class OutputAfterAcceptHandler(RecordingHandler):
    def open(self) -> None:
        attempts: list[Callable[[], object]] = [
            lambda: self.write("x"),
            lambda: self.set_header("X-A", "b"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except RuntimeError as exc:
                self.record.events.append(str(exc))


async def test_http_output_methods_raise_once_the_websocket_is_open() -> None:
    app, record = make_app(OutputAfterAcceptHandler)
    async with websocket_connect(app, "/ws") as ws:
        assert ws.accepted
    assert record.events == ["Method not supported for Web Sockets"] * 2


class ValidatingHandler(RecordingHandler):
    def on_message(self, message: str | bytes) -> None:
        attempts: list[Callable[[], object]] = [
            lambda: self.close(1005),
            lambda: self.close(999),
            lambda: self.close(1000, "r" * 124),
            lambda: self.write_message(42),  # type: ignore[arg-type]  # a deliberate mistake
            lambda: self.write_message(b"\xff"),
        ]
        for attempt in attempts:
            try:
                attempt()
            except (ValueError, TypeError) as exc:
                self.record.events.append(type(exc).__name__)
        self.write_message(b"bytes as text")
        self.write_message("text as binary", binary=True)


async def test_invalid_close_codes_reasons_and_message_types_raise_precise_errors() -> None:
    app, record = make_app(ValidatingHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("go")
        assert await ws.receive_text() == "bytes as text"
        assert await ws.receive_bytes() == b"text as binary"
    assert record.events == [
        "ValueError",
        "ValueError",
        "ValueError",
        "TypeError",
        "UnicodeDecodeError",
    ]


async def test_path_groups_reach_open_and_a_post_gets_405() -> None:
    class RoomHandler(WebSocketHandler):
        def open(self, room: str, user: str | None = None) -> None:
            self.write_message(f"{room}/{user}")

    app = Application([(r"/room/(?P<room>\w+)", RoomHandler)])
    async with websocket_connect(app, "/room/blue") as ws:
        assert await ws.receive_text() == "blue/None"
    async with client(app) as http:
        response = await http.post("/room/blue")
    assert response.status_code == 405
    assert isinstance(response, httpx.Response)


# -- what a well-behaved server never does, driven by hand -------------------------------


def ws_scope(path: str = "/ws") -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"sec-websocket-version", b"13")],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }


async def drive(
    app: Application, incoming: list[Message], fail_sends: type[Exception] | None = None
) -> list[Message]:
    """Run one connection: ``incoming`` is delivered in order, then receive() blocks
    (a client that never answers); returns what the app sent."""
    sent: list[Message] = []
    pending = list(incoming)
    never = anyio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await never.wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if fail_sends is not None and message["type"] == "websocket.send":
            raise fail_sends("connection lost")  # ASGI 2.4: OSError once the client left
        sent.append(message)

    with anyio.fail_after(5):
        await app(ws_scope(), receive, send)
    return sent


async def test_close_gives_up_on_a_client_that_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tornadoish.websocket.CLOSE_HANDSHAKE_TIMEOUT", 0.05)
    app, record = make_app()
    connect: Message = {"type": "websocket.connect"}
    incoming: list[Message] = [
        connect,
        {"type": "websocket.receive", "text": "close"},
        {"type": "websocket.receive", "text": "dropped: the handler is closing"},
    ]
    sent = await drive(app, incoming)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert (record.close_calls, record.close_code) == (1, None)


class AwaitingWriter(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        try:
            await self.write_message("reply")
        except WebSocketClosedError as exc:
            self.record.errors.append(exc)


async def test_awaiting_a_write_the_server_could_not_deliver_raises_websocket_closed_error() -> (
    None
):
    app, record = make_app(AwaitingWriter)
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
        {"type": "websocket.disconnect", "code": 1006},
    ]
    sent = await drive(app, incoming, fail_sends=OSError)
    assert [m["type"] for m in sent] == ["websocket.accept"]
    assert len(record.errors) == 2  # the awaited write, and the write in on_close
    assert (record.close_calls, record.close_code) == (1, 1006)


async def test_a_client_gone_before_the_handshake_is_never_opened_nor_closed() -> None:
    app, record = make_app()
    sent = await drive(app, [{"type": "websocket.disconnect", "code": 1006}])
    assert sent == []
    assert record.close_calls == 0


class FailingCloseHandler(EchoHandler):
    def on_close(self) -> None:
        raise RuntimeError("on_close broke")


async def test_an_exception_in_on_close_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = make_app(FailingCloseHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_json({"a": 1})
        with pytest.raises(TypeError, match="expected a binary message"):
            await ws.receive_bytes()
    assert "Uncaught exception in on_close" in caplog.text
    caplog.clear()


async def test_a_server_refusing_a_send_is_logged_and_ends_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, record = make_app()
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hello"},
    ]
    sent = await drive(app, incoming, fail_sends=RuntimeError)
    assert [m["type"] for m in sent] == ["websocket.accept"]
    assert "websocket send failed" in caplog.text
    caplog.clear()
    assert record.close_calls == 1


class LifecycleHandler(RecordingHandler):
    def on_finish(self) -> None:
        self.record.events.append("on_finish")

    def on_message(self, message: str | bytes) -> None:
        self.record.events.append(message)
        self.write_message(message)

    def on_close(self) -> None:
        self.record.events.append("on_close")


async def test_on_finish_runs_once_right_after_the_handshake_as_in_tornado() -> None:
    app, record = make_app(LifecycleHandler)
    async with websocket_connect(app, "/ws") as ws:
        await ws.send_text("m")
        assert await ws.receive_text() == "m"
    assert record.events == ["on_finish", "m", "on_close"]


class LoginRequiredHandler(WebSocketHandler):
    def get_current_user(self) -> str | None:
        return self.get_cookie("user")

    @authenticated
    async def get(self, *args: str | None, **kwargs: str | None) -> None:
        await super().get(*args, **kwargs)

    def open(self) -> None:
        self.write_message(f"hello {self.current_user}")


@pytest.mark.parametrize(
    ("cookie", "status", "greeting"),
    [(None, 302, None), ("user=ada", None, "hello ada")],
)
async def test_an_authenticated_get_redirects_anonymous_handshakes_to_the_login_page(
    cookie: str | None, status: int | None, greeting: str | None
) -> None:
    app = Application([(r"/ws", LoginRequiredHandler)], login_url="/login")
    headers = {"Cookie": cookie} if cookie else {}
    async with websocket_connect(app, "/ws", headers=headers) as ws:
        if status is not None:
            assert ws.rejection is not None
            assert ws.rejection.status == status
            assert ws.rejection.headers["Location"] == "/login?next=%2Fws"
        else:
            assert await ws.receive_text() == greeting


# -- pings: our server's private extension (websocket_connect(control=True) plays it) ----


def logging_sends(app: Application, log: list[Message]) -> Any:
    """``app`` with every message it sends appended to ``log``."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def logged(message: Message) -> None:
            log.append(message)
            await send(message)

        await app(scope, receive, logged)

    return wrapped


class PingPongHandler(RecordingHandler):
    """Pings on request ("ping DATA"); reports every ping and pong it sees."""

    def on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        self.write_message("before")
        self.ping(message.removeprefix("ping "))
        self.write_message("after")

    def on_ping(self, data: bytes) -> None:
        self.write_message(f"on_ping {data!r}")

    def on_pong(self, data: bytes) -> None:
        self.write_message(f"on_pong {data!r}")


async def test_ping_goes_out_in_order_with_the_messages_and_its_pong_reaches_on_pong() -> None:
    app, _ = make_app(PingPongHandler)
    log: list[Message] = []
    async with websocket_connect(logging_sends(app, log), "/ws", control=True) as ws:
        assert log[0]["tornadoish.control"] is True  # the handler opted in at accept
        await ws.send_text("ping héllo")
        assert await ws.receive_text() == "before"
        assert await ws.receive_text() == "after"
        assert await ws.receive_text() == "on_pong b'h\\xc3\\xa9llo'"
    assert ws.pings_sent == ["héllo".encode()]
    sends = [(m["type"], m.get("text", m.get("data"))) for m in log[1:4]]
    assert sends == [
        ("websocket.send", "before"),
        ("tornadoish.websocket.ping", "héllo".encode()),
        ("websocket.send", "after"),
    ]


async def test_a_client_ping_and_an_unsolicited_pong_reach_on_ping_and_on_pong() -> None:
    app, _ = make_app(PingPongHandler)
    async with websocket_connect(app, "/ws", control=True) as ws:
        await ws.ping(b"are you there")
        assert await ws.receive_text() == "on_ping b'are you there'"
        await ws.pong(b"unasked")
        assert await ws.receive_text() == "on_pong b'unasked'"


class FailingPingHandler(RecordingHandler):
    def on_ping(self, data: bytes) -> None:
        raise RuntimeError("on_ping broke")


async def test_an_exception_in_on_ping_is_logged_and_closes_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, record = make_app(FailingPingHandler)
    async with websocket_connect(app, "/ws", control=True) as ws:
        await ws.ping()
        assert await ws.wait_closed() == (1011, "")
    assert "on_ping broke" in caplog.text
    caplog.clear()
    assert record.close_code == 1011


class PingArgumentsHandler(RecordingHandler):
    def on_message(self, message: str | bytes) -> None:
        value: Any
        for value in ("é" * 63, b"x" * 126, 5):  # 126 bytes of UTF-8, 126 bytes, an int
            try:
                self.ping(value)
            except (TypeError, ValueError) as exc:
                self.record.events.append(type(exc).__name__)
        self.ping("é" * 62)  # 124 bytes: fine
        self.write_message("done")


async def test_ping_data_over_125_bytes_is_a_value_error() -> None:
    app, record = make_app(PingArgumentsHandler)
    async with websocket_connect(app, "/ws", control=True) as ws:
        await ws.send_text("go")
        assert await ws.receive_text() == "done"
    assert record.events == ["ValueError", "ValueError", "TypeError"]
    assert ws.pings_sent == [("é" * 62).encode()]


async def test_pinging_after_close_raises_websocket_closed_error_with_the_extension() -> None:
    app, record = make_app(CloseThenWriteHandler)
    async with websocket_connect(app, "/ws", control=True) as ws:
        await ws.send_text("go")
        assert await ws.wait_closed() == (1000, "")
    assert len(record.errors) == 3  # write, ping, and the write in on_close
    assert ws.pings_sent == []


async def test_ping_without_the_extension_still_raises_not_implemented_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, record = make_app(PingPongHandler)
    log: list[Message] = []
    async with websocket_connect(logging_sends(app, log), "/ws") as ws:
        await ws.send_text("ping x")
        assert await ws.receive_text() == "before"
        assert await ws.wait_closed() == (1011, "")  # on_message raised
    assert "NotImplementedError: WebSocketHandler.ping() is not available" in caplog.text
    caplog.clear()
    assert "tornadoish.control" not in log[0]
    assert [m["type"] for m in log] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert record.close_code == 1011


class KeepaliveHandler(RecordingHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message)

    def on_pong(self, data: bytes) -> None:
        self.write_message(f"pong {data!r}")


async def test_ping_interval_pings_and_a_live_client_stays_connected() -> None:
    app, record = make_app(KeepaliveHandler, websocket_ping_interval=0.02)
    async with websocket_connect(app, "/ws", control=True) as ws:
        for _ in range(3):
            assert await ws.receive_text() == "pong b''"
        await ws.send_text("still here")
        while (text := await ws.receive_text()) != "still here":
            assert text == "pong b''"
    assert ws.pings_sent[:3] == [b""] * 3
    assert record.close_code == 1000  # the client's own close


@pytest.mark.parametrize("ping_timeout", [None, 0.05])
async def test_no_pong_within_the_ping_timeout_closes_as_tornado_does(
    ping_timeout: float | None,
) -> None:
    settings: dict[str, Any] = {"websocket_ping_interval": 0.05}
    if ping_timeout is not None:
        settings["websocket_ping_timeout"] = ping_timeout
    app, record = make_app(KeepaliveHandler, **settings)
    async with websocket_connect(app, "/ws", control=True, auto_pong=False) as ws:
        assert await ws.wait_closed() == (1000, "ping timed out")
    assert ws.pings_sent == [b""]
    assert record.close_code == 1000


async def test_a_ping_timeout_longer_than_the_interval_is_capped_with_one_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tornadoish.websocket._ping_timeout_clamp_warned", False)
    app, _ = make_app(KeepaliveHandler, websocket_ping_interval=0.05, websocket_ping_timeout=0.2)
    for _ in range(2):
        async with websocket_connect(app, "/ws", control=True, auto_pong=False) as ws:
            started = anyio.current_time()
            assert await ws.wait_closed() == (1000, "ping timed out")
            assert anyio.current_time() - started < 0.2 + 0.05  # the capped timeout
    warnings = [r for r in caplog.records if "cannot be longer" in r.getMessage()]
    assert len(warnings) == 1


class SlowHandler(RecordingHandler):
    async def on_message(self, message: str | bytes) -> None:
        await anyio.sleep(0.3)  # long past the ping timeout; the pong waits behind
        self.write_message("done")


async def test_a_pong_queued_behind_a_slow_on_message_is_not_a_timeout() -> None:
    app, record = make_app(SlowHandler, websocket_ping_interval=0.05)
    log: list[Message] = []
    async with websocket_connect(logging_sends(app, log), "/ws", control=True) as ws:
        await ws.send_text("slow")
        assert await ws.receive_text() == "done"
        assert ws.pings_sent  # pinged (and answered) while on_message was busy
        await ws.send_text("slow")
        assert await ws.receive_text() == "done"
    assert record.close_code == 1000  # the client's own close, not a ping timeout


async def test_a_ping_timeout_of_0_pings_but_never_closes() -> None:
    app, _ = make_app(KeepaliveHandler, websocket_ping_interval=0.02, websocket_ping_timeout=0)
    pinged = anyio.Event()
    log: list[Message] = []

    async def watch(scope: Any, receive: Any, send: Any) -> None:
        async def watched(message: Message) -> None:
            if message["type"] == "tornadoish.websocket.ping":
                log.append(message)
                if len(log) == 3:
                    pinged.set()
            await send(message)

        await app(scope, receive, watched)

    async with websocket_connect(watch, "/ws", control=True, auto_pong=False) as ws:
        with anyio.fail_after(5):
            await pinged.wait()
        await ws.send_text("open")
        assert await ws.receive_text() == "open"


async def test_apps_that_do_not_opt_in_never_get_ping_or_pong_events() -> None:
    received: list[Message] = []

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        assert "tornadoish.websocket.control" in scope["extensions"]
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "tornadoish.websocket.ping", "data": b"mine"})  # allowed
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text")})

    async with websocket_connect(plain, "/", control=True) as ws:
        await ws.ping(b"x")
        await ws.pong(b"y")
        await ws.send_text("hello")
        assert await ws.receive_text() == "hello"
    assert ws.pings_sent == [b"mine"]  # sent, but its pong is not delivered
    assert [m["type"] for m in received] == ["websocket.receive", "websocket.disconnect"]
