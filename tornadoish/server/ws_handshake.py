"""The WebSocket opening handshake: validation, scope, 101 headers (layer: server, pure).

RFC 6455 §4.2: what makes a request a valid opening handshake, and what the server
answers. No asyncio, no sockets: a parsed request head and an ASGI message in, values
out. The connection (``protocol.py``) decides *when*; ``websocket.py`` runs the session.

Which requests are handshakes: an HTTP/1.1 request whose ``Upgrade`` header lists the
``websocket`` token. Anything else with an ``Upgrade`` header (``h2c``, or any upgrade
in HTTP/1.0, which RFC 9110 §7.8 says a server MUST ignore) is served as plain HTTP.
A handshake that breaks a rule is answered by the server (400, or 426 for a version
we do not speak) and never reaches the app.

The scope offers a private extension, ``tornadoish.websocket.control`` (ASGI has no
ping message): after accept the app may send ``{"type": "tornadoish.websocket.ping",
"data": b"..."}`` to send a ping frame, and an app whose ``websocket.accept`` carries
``"tornadoish.control": True`` receives the peer's pings and pongs as
``tornadoish.websocket.ping``/``tornadoish.websocket.pong`` events. Apps that do not
opt in (any generic ASGI app) never see a message type they do not know.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from tornadoish.server.parsing import (
    TOKEN_RE,
    InvalidResponse,
    RequestRejected,
    error_response,
    validate_response_start,
)
from tornadoish.types import HTTPScope, Message, WebSocketScope

if TYPE_CHECKING:
    # wsproto is imported on the first upgrade, not at startup: a server that never
    # sees a websocket does not pay its memory (about 1 MiB of RSS).
    from wsproto.extensions import PerMessageDeflate

__all__ = [
    "CONTROL_EXTENSION",
    "CONTROL_OPT_IN",
    "MAX_CONTROL_PAYLOAD",
    "PING_EVENT",
    "PONG_EVENT",
    "WEBSOCKET_VERSION",
    "AcceptedHandshake",
    "Handshake",
    "HandshakeRejected",
    "accept_handshake",
    "is_websocket_request",
    "rejection_response",
    "validate_handshake",
    "websocket_scope",
]

# RFC 6455 §4.1: the only protocol version this server speaks.
WEBSOCKET_VERSION: Final = b"13"
#: The scope extension that offers ping frames to the app (see the module docstring).
CONTROL_EXTENSION: Final = "tornadoish.websocket.control"
#: The ``websocket.accept`` key by which an app asks for ping/pong receive events.
CONTROL_OPT_IN: Final = "tornadoish.control"
#: The app's message that sends a ping frame, and the receive event for a peer's ping.
PING_EVENT: Final = "tornadoish.websocket.ping"
#: The receive event for a pong from the peer (to the app's pings or the keepalive's).
PONG_EVENT: Final = "tornadoish.websocket.pong"
#: RFC 6455 §5.5: a control frame's payload is at most 125 bytes.
MAX_CONTROL_PAYLOAD: Final = 125
# RFC 6455 §4.1: the key is a base64-encoded 16-byte nonce, so always 24 characters.
_KEY_BYTES: Final = 16
_KEY_CHARS: Final = 24
# Response headers the server writes itself in a 101: the app's copies are dropped.
_SERVER_OWNED: Final = frozenset(
    {
        b"connection",
        b"content-length",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)


class HandshakeRejected(RequestRejected):
    """An opening handshake the server refuses itself; ``headers`` go in the answer."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str = "",
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(status, reason, detail)
        self.headers = headers


@dataclasses.dataclass(frozen=True, slots=True)
class Handshake:
    """A valid opening handshake: what the 101 and the scope need from the request."""

    key: bytes
    subprotocols: tuple[str, ...]
    # Sec-WebSocket-Extensions offers, one string per offer ("permessage-deflate; ...").
    extensions: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class AcceptedHandshake:
    """A validated ``websocket.accept``: the 101's headers and the extensions in use."""

    headers: list[tuple[bytes, bytes]]
    subprotocol: str | None
    deflate: PerMessageDeflate | None
    # Whether the app's headers include these (else the server adds its own).
    has_date: bool
    has_server: bool
    # The app opted in to ping/pong receive events (CONTROL_OPT_IN).
    control: bool = False


def _tokens(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """The lower-cased comma-separated elements of every ``name`` header."""
    found: list[bytes] = []
    for key, value in headers:
        if key == name:
            found.extend(t.strip(b" \t").lower() for t in value.split(b","))
    return [t for t in found if t]


def is_websocket_request(http_version: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True for an HTTP/1.1 request asking to upgrade to ``websocket`` (to be validated)."""
    return http_version == "1.1" and b"websocket" in _tokens(headers, b"upgrade")


def validate_handshake(method: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Handshake:
    """Check an HTTP/1.1 websocket upgrade request (RFC 6455 §4.2.1).

    ``headers`` are the parser's (lower-case names). Raises :class:`HandshakeRejected`: 400
    for a malformed handshake, 426 (with the version we speak) for another version.
    """
    headers = list(headers)
    if method != b"GET":
        raise HandshakeRejected(400, "Bad Request", "websocket handshake must be a GET")
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeRejected(
            400, "Bad Request", "websocket handshake without 'upgrade' in Connection"
        )
    lengths = [v for n, v in headers if n == b"content-length"]
    if any(n == b"transfer-encoding" for n, _ in headers) or any(v != b"0" for v in lengths):
        raise HandshakeRejected(400, "Bad Request", "websocket handshake with a body")
    versions = [v for n, v in headers if n == b"sec-websocket-version"]
    if versions != [WEBSOCKET_VERSION]:
        # RFC 6455 §4.2.2 and RFC 9110 §15.5.22: 426 names the version and the
        # protocol this server does speak.
        raise HandshakeRejected(
            426,
            "Upgrade Required",
            f"unsupported Sec-WebSocket-Version {versions!r}",
            ((b"upgrade", b"websocket"), (b"sec-websocket-version", WEBSOCKET_VERSION)),
        )
    keys = [v for n, v in headers if n == b"sec-websocket-key"]
    if len(keys) != 1 or not _valid_key(keys[0]):
        raise HandshakeRejected(400, "Bad Request", f"invalid Sec-WebSocket-Key {keys!r}")
    subprotocols: list[str] = []
    for token in _raw_elements(headers, b"sec-websocket-protocol"):
        name = token.decode("latin-1")
        # RFC 6455 §4.1: subprotocol names are tokens.
        if not TOKEN_RE.fullmatch(token):
            raise HandshakeRejected(400, "Bad Request", f"invalid subprotocol {name!r}")
        subprotocols.append(name)
    extensions = [e.decode("latin-1") for e in _raw_elements(headers, b"sec-websocket-extensions")]
    return Handshake(keys[0], tuple(subprotocols), tuple(extensions))


def _raw_elements(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """The comma-separated elements of every ``name`` header, case kept."""
    found: list[bytes] = []
    for key, value in headers:
        if key == name:
            found.extend(t.strip(b" \t") for t in value.split(b","))
    return [t for t in found if t]


def _valid_key(key: bytes) -> bool:
    if len(key) != _KEY_CHARS:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == _KEY_BYTES
    except binascii.Error:
        return False


def websocket_scope(http: HTTPScope, handshake: Handshake) -> WebSocketScope:
    """The ASGI ``websocket`` scope for a request whose ``http`` scope was built already."""
    return {
        "type": "websocket",
        # 2.5: websocket.disconnect carries the close reason (we send it).
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": "wss" if http["scheme"] == "https" else "ws",
        "path": http["path"],
        "raw_path": http["raw_path"],
        "query_string": http["query_string"],
        "root_path": http["root_path"],
        "headers": http["headers"],
        "client": http["client"],
        "server": http["server"],
        "subprotocols": list(handshake.subprotocols),
        "state": http.get("state", {}),
        "extensions": {"websocket.http.response": {}, CONTROL_EXTENSION: {}},
    }


def accept_handshake(handshake: Handshake, message: Message, *, deflate: bool) -> AcceptedHandshake:
    """Check a ``websocket.accept`` message and build the 101 headers.

    ``deflate`` allows permessage-deflate (RFC 7692) when the client offers it.
    The accept token and the extension parameters come from wsproto, which also frames
    every message after the switch: one implementation of the protocol. Raises
    :class:`InvalidResponse` for a subprotocol the client did not offer, bad headers
    or a ``CONTROL_OPT_IN`` value that is not a bool.
    """
    control = message.get(CONTROL_OPT_IN, False)
    if not isinstance(control, bool):
        raise InvalidResponse(f"websocket.accept {CONTROL_OPT_IN!r} must be a bool: {control!r}")
    subprotocol = message.get("subprotocol")
    if subprotocol is not None:
        if not isinstance(subprotocol, str):
            raise InvalidResponse(f"websocket.accept subprotocol must be a str: {subprotocol!r}")
        if subprotocol not in handshake.subprotocols:
            # RFC 6455 §4.2.2: the server picks one of the client's subprotocols or none.
            raise InvalidResponse(
                f"websocket.accept subprotocol {subprotocol!r} was not offered: "
                f"{list(handshake.subprotocols)!r}"
            )
    from wsproto.utilities import generate_accept_token

    # The app's headers get the checks of any response head (bytes, tokens, no CR/LF).
    checked = validate_response_start({"status": 200, "headers": message.get("headers", ())})
    headers: list[tuple[bytes, bytes]] = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", generate_accept_token(handshake.key)),
    ]
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
    extension: PerMessageDeflate | None = None
    if deflate:
        extension, value = _negotiate_deflate(handshake.extensions)
        if value is not None:
            headers.append((b"sec-websocket-extensions", value))
    headers.extend((n, v) for n, v in checked.headers if n not in _SERVER_OWNED)
    return AcceptedHandshake(
        headers,
        subprotocol,
        extension,
        has_date=checked.has_date,
        has_server=checked.has_server,
        control=control,
    )


def _negotiate_deflate(offers: tuple[str, ...]) -> tuple[PerMessageDeflate | None, bytes | None]:
    """The first permessage-deflate offer we can accept (RFC 7692 §5), and our answer."""
    from wsproto.extensions import PerMessageDeflate
    from wsproto.handshake import server_extensions_handshake

    for offer in offers:
        if offer.split(";", 1)[0].strip().lower() != PerMessageDeflate.name:
            continue
        extension = PerMessageDeflate()
        try:
            value = server_extensions_handshake([offer], [extension])
        except ValueError:
            continue  # a malformed window size: decline this offer, try the next
        if value is not None:
            return extension, value
    return None, None


def rejection_response(
    error: HandshakeRejected, *, date: bytes | None, server: bool, head_only: bool = False
) -> bytes:
    """The complete error response for a refused handshake, with its extra headers."""
    return error_response(
        error.status, date=date, server=server, head_only=head_only, extra_headers=error.headers
    )
