"""ASGI 3 types shared by the server and the framework (layer: types only, no logic).

The TypedDicts follow the ASGI specification (HTTP 2.4, WebSocket 2.4, lifespan 2.0).
Messages are plain dicts at runtime; these types exist for mypy and for readers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

__all__ = [
    "ASGIApp",
    "ASGIReceive",
    "ASGISend",
    "HTTPScope",
    "LifespanScope",
    "Message",
    "Scope",
    "WebSocketScope",
]

#: An ASGI event or message: a plain dict with a ``type`` key.
Message: TypeAlias = MutableMapping[str, Any]
#: An ASGI connection scope (``http``, ``websocket`` or ``lifespan``).
Scope: TypeAlias = MutableMapping[str, Any]
#: The ``receive()`` callable an ASGI app is given.
ASGIReceive: TypeAlias = Callable[[], Awaitable[Message]]
#: The ``send()`` callable an ASGI app is given.
ASGISend: TypeAlias = Callable[[Message], Awaitable[None]]
#: Any ASGI 3 application: ``async def app(scope, receive, send)``.
ASGIApp: TypeAlias = Callable[[Scope, ASGIReceive, ASGISend], Awaitable[None]]


class ASGIVersions(TypedDict):
    version: str
    spec_version: NotRequired[str]


class HTTPScope(TypedDict):
    """The scope of an ASGI ``http`` connection (HTTP spec 2.4)."""

    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]]]


class WebSocketScope(TypedDict):
    """The scope of an ASGI ``websocket`` connection (WebSocket spec 2.4)."""

    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    subprotocols: Iterable[str]
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]]]


class LifespanScope(TypedDict):
    """The scope of the ASGI ``lifespan`` protocol (spec 2.0)."""

    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: NotRequired[dict[str, Any]]
