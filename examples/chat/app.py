"""A chat room over websockets: each message goes to everyone connected, and a
newcomer first gets the last few messages.

Run it with::

    python -m tornadoish examples.chat.app:app

then open http://127.0.0.1:8888/ in two browser windows, pick a nickname in each and
talk. ``/`` renders ``templates/index.html``, which loads ``static/chat.js``; the
script connects to ``/chatsocket`` with ``new WebSocket``.

The protocol is JSON text messages. The browser sends
``{"nickname": "ada", "text": "hello"}``; everyone (the sender too) receives
``{"from": "ada", "text": "hello"}``. A message the room refuses (not JSON, empty or
too long text, a bad nickname) is answered to its sender alone with
``{"error": "..."}``; a frame larger than ``MAX_FRAME_BYTES`` closes the connection
(1009), before anything is parsed.

The room lives in a ``ChatRoom`` handed to the handler through the rule's kwargs, so
two apps made by ``make_app()`` (two tests, say) never share members or history.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tornadoish.web import Application, RequestHandler
from tornadoish.websocket import WebSocketClosedError, WebSocketHandler

__all__ = [
    "ANONYMOUS",
    "HISTORY_SIZE",
    "MAX_FRAME_BYTES",
    "MAX_NICKNAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "ChatRoom",
    "ChatSocketHandler",
    "MainHandler",
    "app",
    "make_app",
    "parse_message",
]

HERE = os.path.dirname(os.path.abspath(__file__))

# Messages a newcomer is sent on joining: enough to follow the conversation.
HISTORY_SIZE = 50
# Characters in one message's text: a chat line, not a document.
MAX_TEXT_LENGTH = 1000
# Characters in a nickname.
MAX_NICKNAME_LENGTH = 32
# Largest websocket frame the app accepts (the ``websocket_max_message_size``
# setting): room for the longest valid message even if every character arrives
# JSON-escaped (12 bytes for one outside the BMP: 1032 * 12 + the keys < 16 KiB),
# while a flood is cut off before it is parsed.
MAX_FRAME_BYTES = 16 * 1024
# What a message without a nickname is signed with.
ANONYMOUS = "anonymous"


@dataclass
class ChatRoom:
    """The connected sockets and the recent messages of one chat room."""

    members: set[ChatSocketHandler] = field(default_factory=set)
    history: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=HISTORY_SIZE))

    def join(self, member: ChatSocketHandler) -> None:
        """Add ``member`` and send it the history, oldest first."""
        self.members.add(member)
        for message in self.history:
            member.send(message)

    def leave(self, member: ChatSocketHandler) -> None:
        self.members.discard(member)

    def broadcast(self, message: dict[str, str]) -> None:
        """Remember ``message`` and send it to every member, the sender included."""
        self.history.append(message)
        # A copy: a member that cannot be written to is removed along the way.
        for member in list(self.members):
            member.send(message)


def parse_message(raw: str | bytes) -> tuple[str, str]:
    """The ``(nickname, text)`` of a message from a browser; ValueError with the
    reason to show its sender when the room refuses it."""
    if not isinstance(raw, str):
        raise ValueError("messages must be JSON text, not binary")
    try:
        data: Any = json.loads(raw)
    except ValueError:
        raise ValueError("messages must be JSON") from None
    if not isinstance(data, dict):
        raise ValueError('messages must be JSON objects: {"nickname": ..., "text": ...}')
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"text must be at most {MAX_TEXT_LENGTH} characters")
    nickname = data.get("nickname")
    if nickname is None:
        nickname = ""
    if not isinstance(nickname, str):
        raise ValueError("nickname must be a string")
    nickname = nickname.strip() or ANONYMOUS
    if len(nickname) > MAX_NICKNAME_LENGTH:
        raise ValueError(f"nickname must be at most {MAX_NICKNAME_LENGTH} characters")
    return nickname, text


class MainHandler(RequestHandler):
    """The chat page, told where its websocket is."""

    def get(self) -> None:
        # The page may be reached by any host name (localhost, a LAN address, a
        # proxy's): the socket must go to the same one, and be secure when the page is.
        scheme = "wss" if self.request.protocol == "https" else "ws"
        ws_url = f"{scheme}://{self.request.host}{self.reverse_url('chatsocket')}"
        self.render("index.html", ws_url=ws_url)


class ChatSocketHandler(WebSocketHandler):
    """One browser in the room."""

    def initialize(self, room: ChatRoom) -> None:
        self.room = room

    def open(self) -> None:
        self.room.join(self)

    def on_message(self, message: str | bytes) -> None:
        try:
            nickname, text = parse_message(message)
        except ValueError as error:
            self.send({"error": str(error)})
            return
        self.room.broadcast({"from": nickname, "text": text})

    def on_close(self) -> None:
        self.room.leave(self)

    def send(self, message: dict[str, str]) -> None:
        """Queue ``message`` as JSON; a socket already closing leaves the room."""
        try:
            self.write_message(message)
        except WebSocketClosedError:
            self.room.leave(self)


def make_app(room: ChatRoom | None = None, **settings: Any) -> Application:
    """A chat app serving ``room`` (by default a new, empty one); ``settings`` add to
    or override the example's."""
    if room is None:
        room = ChatRoom()
    options: dict[str, Any] = {
        "template_path": os.path.join(HERE, "templates"),
        "static_path": os.path.join(HERE, "static"),
        "websocket_max_message_size": MAX_FRAME_BYTES,
    }
    options.update(settings)
    return Application(
        [
            (r"/", MainHandler, {}, "home"),
            (r"/chatsocket", ChatSocketHandler, {"room": room}, "chatsocket"),
        ],
        **options,
    )


app = make_app()
