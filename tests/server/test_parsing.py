"""Pure server decisions: request scopes, response validation, Date cache, error responses."""

from __future__ import annotations

from typing import Any

import pytest

from tornadoish.server.parsing import (
    DateHeader,
    InvalidResponse,
    RequestHead,
    RequestRejected,
    build_scope,
    describe_client,
    describe_request,
    error_response,
    forwarded_peer,
    reason_phrase,
    response_head,
    validate_response_start,
)
from tornadoish.types import Message


def request(target: bytes, *headers: tuple[bytes, bytes], method: bytes = b"GET") -> RequestHead:
    return RequestHead(method, target, b"1.1", [(b"host", b"h"), *headers])


def scope_of(event: RequestHead, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "client": ("10.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "root_path": "",
        "state": {},
    }
    options.update(kwargs)
    return build_scope(event, **options)


def test_scope_splits_target_and_decodes_the_path() -> None:
    scope = scope_of(request(b"/caf%C3%A9/a%2Fb?x=%20&y"))
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"x=%20&y"
    assert scope["method"] == "GET"
    assert scope["http_version"] == "1.1"
    assert scope["headers"] == [(b"host", b"h")]


def test_scope_puts_the_root_path_back_into_path_and_raw_path() -> None:
    scope = scope_of(request(b"/caf%C3%A9?x=1"), root_path="/mount point")
    assert scope["path"] == "/mount point/café"
    assert scope["raw_path"] == b"/mount%20point/caf%C3%A9"
    assert scope["root_path"] == "/mount point"


@pytest.mark.parametrize(
    ("target", "method", "path", "host"),
    [
        (b"http://example.com/p?q", b"GET", "/p", b"example.com"),
        (b"https://example.com:8443", b"GET", "/", b"example.com:8443"),
        (b"http://example.com?q", b"GET", "/", b"example.com"),
        (b"example.com:443", b"CONNECT", "example.com:443", b"example.com:443"),
        (b"*", b"OPTIONS", "*", b"h"),
    ],
)
def test_scope_handles_non_origin_form_targets(
    target: bytes, method: bytes, path: str, host: bytes
) -> None:
    scope = scope_of(request(target, method=method))
    assert scope["path"] == path
    assert [v for n, v in scope["headers"] if n == b"host"] == [host]


@pytest.mark.parametrize(
    "event",
    [
        request(b"ftp://example.com/"),
        request(b"http:///nohost"),
        request(b"http://user@example.com/"),
        request(b"*"),
        RequestHead(http_version=b"1.1", method=b"GET", target=b"/", headers=[(b"host", b"a b")]),
        RequestHead(http_version=b"1.1", method=b"GET", target=b"/", headers=[(b"host", b"[::1")]),
    ],
)
def test_scope_rejects_bad_targets_and_hosts_with_400(event: RequestHead) -> None:
    with pytest.raises(RequestRejected) as caught:
        scope_of(event)
    assert caught.value.status == 400


def test_scope_applies_proxy_headers_only_when_trusted() -> None:
    event = request(b"/", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"))
    assert scope_of(event)["client"] == ("10.0.0.1", 1234)
    trusted = scope_of(event, proxy_trusted=True)
    assert trusted["client"] == ("1.2.3.4", 0)
    assert trusted["scheme"] == "https"


@pytest.mark.parametrize(
    ("forwarded_for", "forwarded_proto", "client", "scheme"),
    [
        (b"1.1.1.1, 2.2.2.2", b"https", ("2.2.2.2", 0), "https"),
        (b"", b"", ("9.9.9.9", 1), "http"),
        (None, b"javascript", ("9.9.9.9", 1), "http"),
        (b" 3.3.3.3 ", b"HTTPS", ("3.3.3.3", 0), "https"),
    ],
)
def test_forwarded_peer_trusts_the_rightmost_hop(
    forwarded_for: bytes | None,
    forwarded_proto: bytes | None,
    client: tuple[str, int],
    scheme: str,
) -> None:
    assert forwarded_peer(("9.9.9.9", 1), "http", forwarded_for, forwarded_proto) == (
        client,
        scheme,
    )


def test_response_start_is_cleaned_for_the_wire() -> None:
    head = validate_response_start(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"X-A", b"  padded\t"),
                (b"Transfer-Encoding", b"chunked"),
                (b"Content-Length", b"3"),
                (b"Server", b"s"),
                (b"Connection", b"Close"),
            ],
        }
    )
    assert head.status == 201
    assert head.headers == [
        (b"x-a", b"padded"),
        (b"content-length", b"3"),
        (b"server", b"s"),
        (b"connection", b"Close"),
    ]
    assert head.content_length == 3
    assert head.has_server
    assert not head.has_date
    assert head.close


@pytest.mark.parametrize(
    "message",
    [
        {"status": 199},
        {"status": 600},
        {"status": 200.0},
        {"status": None},
        {"status": 200, "headers": [(b"a:b", b"1")]},
        {"status": 200, "headers": [(b"a", b"1\r")]},
        {"status": 200, "headers": [(b"a", 1)]},
        {"status": 200, "headers": [[b"a", b"1", b"2"]]},
        {"status": 200, "headers": 5},
        {"status": 200, "headers": [(b"content-length", b"+1")]},
    ],
)
def test_invalid_response_starts_are_refused(message: Message) -> None:
    with pytest.raises(InvalidResponse):
        validate_response_start({"type": "http.response.start", **message})


def test_date_header_is_computed_once_per_second() -> None:
    date = DateHeader()
    first = date.value(784111777.2)
    assert first == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert date.value(784111777.9) is first
    assert date.value(784111778.0) == b"Sun, 06 Nov 1994 08:49:38 GMT"


def test_error_response_is_small_plain_text_that_closes() -> None:
    raw = error_response(431, date=b"D", server=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 431 Request Header Fields Too Large",
        b"content-type: text/plain; charset=utf-8",
        b"content-length: %d" % len(body),
        b"connection: close",
        b"date: D",
        b"server: tornadoish",
    ]
    assert body == b"431 Request Header Fields Too Large\n"


def test_error_response_to_head_has_no_body() -> None:
    raw = error_response(500, date=None, server=False, head_only=True)
    assert raw.endswith(b"connection: close\r\n\r\n")


def test_reason_phrase_is_empty_for_unregistered_codes() -> None:
    assert reason_phrase(404) == b"Not Found"
    assert reason_phrase(599) == b""


def test_response_head_is_a_status_line_and_the_given_headers() -> None:
    headers = [(b"content-type", b"text/plain"), (b"x", b"")]
    assert response_head(404, headers) == (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nx: \r\n\r\n"
    )
    assert response_head(599, []) == b"HTTP/1.1 599 \r\n\r\n"
    assert response_head(101, [], b"Switching Protocols") == (
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
    )


def test_describe_request_and_client_for_logs() -> None:
    scope = scope_of(request(b"/p%20q?x=1", method=b"POST"))
    assert describe_request(scope) == "POST /p%20q?x=1 HTTP/1.1"
    assert describe_client(scope) == "10.0.0.1:1234"
    assert describe_client({**scope, "client": None}) == "-"
    websocket_scope = {k: v for k, v in scope.items() if k != "method"}
    assert describe_request(websocket_scope) == "GET /p%20q?x=1 HTTP/1.1"
