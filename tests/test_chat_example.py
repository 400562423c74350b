"""examples/chat: the page, and the room over in-process websockets."""

from __future__ import annotations

import json
import re

import pytest

from examples.chat import app as chat
from tornadoish.testing import WebSocketSessionClosed, app_client, websocket_connect

pytestmark = pytest.mark.anyio


def _say(nickname: str, text: str) -> str:
    return json.dumps({"nickname": nickname, "text": text})


async def test_page_renders_with_the_websocket_url_and_versioned_static_urls() -> None:
    async with app_client(chat.make_app()) as client:
        page = await client.get("/", headers={"Host": "chat.example:8000"})
        script = re.search(r'src="(/static/chat\.js\?v=[0-9a-f]+)"', page.text)
        stylesheet = re.search(r'href="(/static/chat\.css\?v=[0-9a-f]+)"', page.text)
        assert script is not None
        assert stylesheet is not None
        js = await client.get(script.group(1))
        css = await client.get(stylesheet.group(1))
    assert page.status_code == 200
    assert 'data-ws-url="ws://chat.example:8000/chatsocket"' in page.text
    assert js.status_code == 200
    assert "new WebSocket(" in js.text
    assert "innerHTML" not in js.text
    assert css.status_code == 200


async def test_page_behind_https_uses_a_secure_websocket() -> None:
    async with app_client(chat.make_app(), base_url="https://chat.example") as client:
        page = await client.get("/")
    assert 'data-ws-url="wss://chat.example/chatsocket"' in page.text


async def test_a_message_reaches_every_member_the_sender_included() -> None:
    app = chat.make_app()
    async with (
        websocket_connect(app, "/chatsocket") as ada,
        websocket_connect(app, "/chatsocket") as bob,
    ):
        await ada.send_text(_say("ada", "hello <b>bob</b>"))
        expected = {"from": "ada", "text": "hello <b>bob</b>"}
        assert await bob.receive_json() == expected
        assert await ada.receive_json() == expected


async def test_a_newcomer_gets_the_last_messages_oldest_first() -> None:
    app = chat.make_app()
    async with websocket_connect(app, "/chatsocket") as ada:
        for number in range(chat.HISTORY_SIZE + 2):
            await ada.send_text(_say("ada", f"message {number}"))
        for number in range(chat.HISTORY_SIZE + 2):
            assert (await ada.receive_json())["text"] == f"message {number}"
        async with websocket_connect(app, "/chatsocket") as bob:
            history = [await bob.receive_json() for _ in range(chat.HISTORY_SIZE)]
            await bob.send_text(_say("bob", "hi all"))
            after_history = await bob.receive_json()
    assert [message["text"] for message in history] == [
        f"message {number}" for number in range(2, chat.HISTORY_SIZE + 2)
    ]
    assert after_history == {"from": "bob", "text": "hi all"}


async def test_apps_do_not_share_a_room() -> None:
    async with websocket_connect(chat.make_app(), "/chatsocket") as ada:
        await ada.send_text(_say("ada", "only here"))
        assert (await ada.receive_json())["text"] == "only here"
    async with websocket_connect(chat.make_app(), "/chatsocket") as bob:
        await bob.send_text(_say("bob", "first"))
        assert (await bob.receive_json())["text"] == "first"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", "messages must be JSON"),
        ('["a list"]', "messages must be JSON objects"),
        ('{"nickname": "ada"}', "text must be a non-empty string"),
        ('{"nickname": "ada", "text": 42}', "text must be a non-empty string"),
        ('{"nickname": "ada", "text": ""}', "text must be a non-empty string"),
        ('{"nickname": "ada", "text": " \\n "}', "text must be a non-empty string"),
        (_say("ada", "x" * (chat.MAX_TEXT_LENGTH + 1)), "text must be at most 1000 characters"),
        ('{"nickname": ["ada"], "text": "hi"}', "nickname must be a string"),
        (_say("a" * (chat.MAX_NICKNAME_LENGTH + 1), "hi"), "nickname must be at most 32"),
    ],
)
async def test_refused_messages_get_an_error_to_their_sender_only(message: str, error: str) -> None:
    app = chat.make_app()
    async with (
        websocket_connect(app, "/chatsocket") as ada,
        websocket_connect(app, "/chatsocket") as bob,
    ):
        await ada.send_text(message)
        reply = await ada.receive_json()
        assert set(reply) == {"error"}
        assert reply["error"].startswith(error)
        # Bob saw nothing of it: the next thing he receives is the next valid message.
        await ada.send_text(_say("ada", "valid"))
        assert await bob.receive_json() == {"from": "ada", "text": "valid"}


async def test_binary_messages_are_refused() -> None:
    async with websocket_connect(chat.make_app(), "/chatsocket") as ada:
        await ada.send_bytes(b'{"text": "hi"}')
        assert await ada.receive_json() == {"error": "messages must be JSON text, not binary"}


@pytest.mark.parametrize("character", ["e", "é", "\N{GRINNING FACE}"])
async def test_longest_valid_message_is_accepted_and_nickname_defaults(character: str) -> None:
    # json.dumps escapes non-ASCII: 12 bytes a character outside the BMP, the most.
    text = character * chat.MAX_TEXT_LENGTH
    async with websocket_connect(chat.make_app(), "/chatsocket") as ada:
        await ada.send_text(json.dumps({"nickname": "  ", "text": text}))
        assert await ada.receive_json() == {"from": chat.ANONYMOUS, "text": text}
        await ada.send_text(json.dumps({"text": "no nickname"}))
        assert await ada.receive_json() == {"from": chat.ANONYMOUS, "text": "no nickname"}


async def test_a_frame_over_the_size_limit_closes_the_connection() -> None:
    async with websocket_connect(chat.make_app(), "/chatsocket") as ada:
        await ada.send_text(" " * (chat.MAX_FRAME_BYTES + 1))
        assert await ada.wait_closed() == (1009, "message too big")


async def test_a_socket_that_leaves_is_removed_from_the_room() -> None:
    room = chat.ChatRoom()
    app = chat.make_app(room)
    async with websocket_connect(app, "/chatsocket") as ada:
        async with websocket_connect(app, "/chatsocket") as bob:
            await bob.send_text(_say("bob", "hi"))
            assert (await bob.receive_json())["text"] == "hi"
            assert len(room.members) == 2
        assert len(room.members) == 1
        await ada.send_text(_say("ada", "still here"))
        assert (await ada.receive_json())["text"] == "hi"
        assert (await ada.receive_json())["text"] == "still here"
    assert room.members == set()


async def test_a_member_closing_when_a_message_comes_is_dropped() -> None:
    room = chat.ChatRoom()
    app = chat.make_app(room)
    async with websocket_connect(app, "/chatsocket") as ada:
        await ada.send_text(_say("ada", "hi"))
        assert (await ada.receive_json())["text"] == "hi"
        (member,) = room.members
        member.close()  # closing: it can no longer be written to
        room.broadcast({"from": "bob", "text": "anyone?"})
        assert room.members == set()
        with pytest.raises(WebSocketSessionClosed):
            await ada.receive_json()
    assert [message["text"] for message in room.history] == ["hi", "anyone?"]
