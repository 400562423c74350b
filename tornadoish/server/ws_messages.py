"""WebSocket data messages: peer fragments reassembled, the app's sends checked (layer: server).

The session (``websocket.py``) moves frames; this module decides what a message is. In:
wsproto hands text or bytes fragments, :class:`MessageAssembler` joins them into one
``websocket.receive`` message, counting its bytes against ``ws_max_message_size``. Out:
the app's ``websocket.send``, ``websocket.close`` and ``tornadoish.websocket.ping``
messages are checked, and their payload, code and reason returned, before anything is
written. No asyncio, no sockets, no wsproto: values in, values or
:class:`~tornadoish.server.parsing.InvalidResponse` out.
"""

from __future__ import annotations

from typing import Final

from tornadoish.server.parsing import InvalidResponse
from tornadoish.server.ws_handshake import MAX_CONTROL_PAYLOAD, PING_EVENT
from tornadoish.types import Message

__all__ = [
    "MessageAssembler",
    "MessageTooBig",
    "close_code_and_reason",
    "outgoing_payload",
    "ping_payload",
]

# RFC 6455 §7.4: codes an app may send (1004-1006 and 1015 are reserved for reports;
# 1012-1014 are registered with IANA; 3000-4999 belong to libraries and apps).
_SENDABLE_CLOSE_CODES: Final = frozenset(
    [*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)]
)


class MessageTooBig(Exception):
    """The message being reassembled passed the size limit; its fragments are dropped."""


class MessageAssembler:
    """The peer's message being reassembled from fragments, at most ``max_size`` bytes."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        # One list is used, by the message's type.
        self._text_parts: list[str] = []
        self._bytes_parts: list[bytes | bytearray] = []
        self._size = 0

    def add(self, data: str | bytes | bytearray, finished: bool) -> tuple[Message, int] | None:
        """The ``websocket.receive`` message and its size in bytes once ``finished``; None
        while fragments are missing. Raises :class:`MessageTooBig` past ``max_size``."""
        if isinstance(data, str):
            size = len(data) if data.isascii() else len(data.encode("utf-8"))
        else:
            size = len(data)
        self._size += size
        if self._size > self.max_size:
            self._text_parts.clear()
            self._bytes_parts.clear()
            raise MessageTooBig(f"websocket message over {self.max_size} bytes")
        message: Message
        if isinstance(data, str):
            if not finished:
                self._text_parts.append(data)
                return None
            if self._text_parts:
                self._text_parts.append(data)
                data = "".join(self._text_parts)
                self._text_parts.clear()
            message = {"type": "websocket.receive", "text": data}
        else:
            if not finished:
                self._bytes_parts.append(data)
                return None
            if self._bytes_parts:
                self._bytes_parts.append(data)
                data = b"".join(self._bytes_parts)
                self._bytes_parts.clear()
            message = {"type": "websocket.receive", "bytes": bytes(data)}
        size, self._size = self._size, 0
        return message, size


def outgoing_payload(message: Message) -> str | bytes | bytearray | memoryview:
    """The text (a str) or the bytes of a ``websocket.send``: exactly one is allowed."""
    text = message.get("text")
    data = message.get("bytes")
    if (text is None) == (data is None):
        raise InvalidResponse("websocket.send needs exactly one of 'bytes' and 'text'")
    if text is not None and not isinstance(text, str):
        raise InvalidResponse(f"websocket.send text must be a str, got {type(text)}")
    if data is not None and not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidResponse(f"websocket.send bytes must be bytes, got {type(data)}")
    if text is not None:
        return text
    assert data is not None
    return data


def ping_payload(message: Message) -> bytes:
    """The payload of the app's ``tornadoish.websocket.ping``: bytes a ping frame can carry."""
    data = message.get("data", b"")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidResponse(f"{PING_EVENT} data must be bytes, got {type(data)}")
    payload = bytes(data)
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise InvalidResponse(
            f"{PING_EVENT} data is {len(payload)} bytes; RFC 6455 §5.5 allows "
            f"{MAX_CONTROL_PAYLOAD} in a ping"
        )
    return payload


def close_code_and_reason(message: Message) -> tuple[int, str]:
    """The code (1000 if none) and reason of the app's ``websocket.close``, checked."""
    code = message.get("code")
    code = 1000 if code is None else code
    if not isinstance(code, int) or isinstance(code, bool) or code not in _SENDABLE_CLOSE_CODES:
        raise InvalidResponse(f"invalid websocket close code {code!r}")
    reason = message.get("reason") or ""
    if not isinstance(reason, str):
        raise InvalidResponse(f"websocket close reason must be a str, got {type(reason)}")
    return code, reason
