"""The opening handshake as pure decisions (``ws_handshake.py``): no sockets."""

from __future__ import annotations

from typing import Any

import pytest

from tornadoish.server.parsing import InvalidResponse
from tornadoish.server.ws_handshake import (
    Handshake,
    HandshakeRejected,
    accept_handshake,
    is_websocket_request,
    rejection_response,
    validate_handshake,
    websocket_scope,
)
from tornadoish.types import HTTPScope

# RFC 6455 §1.3's example key, and the accept token it must give.
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
VALID = [
    (b"host", b"h"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", KEY),
    (b"sec-websocket-version", b"13"),
]


def replace(name: bytes, *values: bytes) -> list[tuple[bytes, bytes]]:
    """VALID with every ``name`` header replaced by ``values`` (none: removed)."""
    return [(n, v) for n, v in VALID if n != name] + [(name, v) for v in values]


@pytest.mark.parametrize(
    ("http_version", "headers", "expected"),
    [
        ("1.1", [(b"upgrade", b"websocket")], True),
        ("1.1", [(b"upgrade", b"WebSocket")], True),
        ("1.1", [(b"upgrade", b"h2c, websocket")], True),
        ("1.1", [(b"upgrade", b"h2c")], False),
        ("1.1", [], False),
        # RFC 9110 §7.8: a server MUST ignore Upgrade in an HTTP/1.0 request.
        ("1.0", [(b"upgrade", b"websocket")], False),
    ],
)
def test_only_http11_upgrades_to_websocket_are_handshakes(
    http_version: str, headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    assert is_websocket_request(http_version, headers) is expected


def test_a_valid_handshake_gives_key_subprotocols_and_extension_offers() -> None:
    headers = [
        *replace(b"connection", b"keep-alive, Upgrade"),
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-protocol", b"v3"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits, x-foo"),
    ]
    handshake = validate_handshake(b"GET", headers)
    assert handshake == Handshake(
        KEY, ("chat", "superchat", "v3"), ("permessage-deflate; client_max_window_bits", "x-foo")
    )


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        pytest.param(b"POST", VALID, 400, id="not-get"),
        pytest.param(b"GET", replace(b"connection"), 400, id="no-connection"),
        pytest.param(
            b"GET", replace(b"connection", b"keep-alive"), 400, id="connection-no-upgrade"
        ),
        pytest.param(b"GET", replace(b"sec-websocket-key"), 400, id="no-key"),
        pytest.param(b"GET", replace(b"sec-websocket-key", b"not base64!!"), 400, id="key-junk"),
        pytest.param(
            b"GET", replace(b"sec-websocket-key", b"AAAAAAAAAAAAAAAAAAAA"), 400, id="key-15-bytes"
        ),
        pytest.param(
            b"GET", replace(b"sec-websocket-key", b"AAAAAAAAAAAAAAAAAAAAAA"), 400, id="key-unpadded"
        ),
        pytest.param(b"GET", replace(b"sec-websocket-key", KEY, KEY), 400, id="two-keys"),
        pytest.param(b"GET", [*VALID, (b"content-length", b"5")], 400, id="body-length"),
        pytest.param(b"GET", [*VALID, (b"transfer-encoding", b"chunked")], 400, id="body-chunked"),
        pytest.param(
            b"GET", [*VALID, (b"sec-websocket-protocol", b"a b")], 400, id="subprotocol-not-token"
        ),
        pytest.param(b"GET", replace(b"sec-websocket-version"), 426, id="no-version"),
        pytest.param(b"GET", replace(b"sec-websocket-version", b"8"), 426, id="version-8"),
        pytest.param(
            b"GET", replace(b"sec-websocket-version", b"13", b"13"), 426, id="two-versions"
        ),
    ],
)
def test_invalid_handshakes_are_refused_with_the_right_status(
    method: bytes, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    with pytest.raises(HandshakeRejected) as caught:
        validate_handshake(method, headers)
    assert caught.value.status == status


def test_an_empty_body_is_no_body() -> None:
    validate_handshake(b"GET", [*VALID, (b"content-length", b"0")])


def test_426_names_the_version_and_protocol_the_server_speaks() -> None:
    with pytest.raises(HandshakeRejected) as caught:
        validate_handshake(b"GET", replace(b"sec-websocket-version", b"8"))
    response = rejection_response(caught.value, date=b"D", server=False)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
    assert b"sec-websocket-version: 13" in lines
    assert b"upgrade: websocket" in lines
    assert b"connection: close" in lines
    assert body == b"426 Upgrade Required\n"


def handshake(*, subprotocols: tuple[str, ...] = (), offers: tuple[str, ...] = ()) -> Handshake:
    return Handshake(KEY, subprotocols, offers)


def test_accept_computes_the_accept_token_and_names_the_subprotocol() -> None:
    accepted = accept_handshake(
        handshake(subprotocols=("a", "b")),
        {"type": "websocket.accept", "subprotocol": "b"},
        deflate=True,
    )
    assert accepted.headers == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", ACCEPT),
        (b"sec-websocket-protocol", b"b"),
    ]
    assert accepted.deflate is None
    assert (accepted.has_date, accepted.has_server) == (False, False)


def test_accept_keeps_app_headers_but_drops_the_ones_the_server_owns() -> None:
    message = {
        "type": "websocket.accept",
        "headers": [
            (b"X-Custom", b"1"),
            (b"sec-websocket-protocol", b"sneaky"),
            (b"connection", b"close"),
            (b"server", b"mine"),
        ],
    }
    accepted = accept_handshake(handshake(), message, deflate=False)
    assert accepted.headers[3:] == [(b"x-custom", b"1"), (b"server", b"mine")]
    assert accepted.has_server


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.accept", "subprotocol": "c"},
        {"type": "websocket.accept", "subprotocol": b"a"},
        {"type": "websocket.accept", "headers": [(b"x", b"a\r\nb")]},
        {"type": "websocket.accept", "headers": [("x", "y")]},
        {"type": "websocket.accept", "tornadoish.control": 1},
    ],
)
def test_an_invalid_accept_is_the_apps_error(message: dict[str, Any]) -> None:
    with pytest.raises(InvalidResponse):
        accept_handshake(handshake(subprotocols=("a",)), message, deflate=False)


@pytest.mark.parametrize(
    ("offers", "allowed", "answer"),
    [
        (("permessage-deflate; client_max_window_bits",), True, b"client_max_window_bits=15"),
        (("permessage-deflate",), True, b""),
        (("permessage-deflate",), False, None),
        (("x-webkit-deflate-frame",), True, None),
        # A malformed offer is declined; the next one is taken.
        (
            ("permessage-deflate; server_max_window_bits=x", "permessage-deflate"),
            True,
            b"",
        ),
        (("permessage-deflate; server_max_window_bits=99",), True, None),
    ],
)
def test_permessage_deflate_is_accepted_when_offered_and_allowed(
    offers: tuple[str, ...], allowed: bool, answer: bytes | None
) -> None:
    accepted = accept_handshake(
        handshake(offers=offers), {"type": "websocket.accept"}, deflate=allowed
    )
    values = [v for n, v in accepted.headers if n == b"sec-websocket-extensions"]
    if answer is None:
        assert values == []
        assert accepted.deflate is None
    else:
        assert values == [(b"permessage-deflate; " + answer).rstrip(b"; ")]
        assert accepted.deflate is not None


def http_scope(scheme: str = "http") -> HTTPScope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": "/chat room",
        "raw_path": b"/chat%20room",
        "query_string": b"a=1",
        "root_path": "/mount",
        "headers": VALID,
        "client": ("10.0.0.1", 5000),
        "server": ("10.0.0.2", 80),
        "state": {"db": 1},
        "extensions": {"http.response.pathsend": {}},
    }


@pytest.mark.parametrize(("scheme", "ws_scheme"), [("http", "ws"), ("https", "wss")])
def test_websocket_scope_follows_the_http_scope(scheme: str, ws_scheme: str) -> None:
    scope = websocket_scope(http_scope(scheme), handshake(subprotocols=("a", "b")))
    assert scope == {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.5"},
        "http_version": "1.1",
        "scheme": ws_scheme,
        "path": "/chat room",
        "raw_path": b"/chat%20room",
        "query_string": b"a=1",
        "root_path": "/mount",
        "headers": VALID,
        "client": ("10.0.0.1", 5000),
        "server": ("10.0.0.2", 80),
        "subprotocols": ["a", "b"],
        "state": {"db": 1},
        "extensions": {"websocket.http.response": {}, "tornadoish.websocket.control": {}},
    }


@pytest.mark.parametrize(
    ("message", "control"),
    [
        ({"type": "websocket.accept"}, False),
        ({"type": "websocket.accept", "tornadoish.control": False}, False),
        ({"type": "websocket.accept", "tornadoish.control": True}, True),
    ],
)
def test_ping_pong_events_are_only_for_apps_that_opt_in_at_accept(
    message: dict[str, Any], control: bool
) -> None:
    assert accept_handshake(handshake(), message, deflate=False).control is control
