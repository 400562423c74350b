"""tornadoish.request (HTTPServerRequest) and how _asgi builds one from a scope."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.apps import http_scope
from tornadoish import _asgi
from tornadoish.errors import HTTPError
from tornadoish.forms import FormError
from tornadoish.httputil import HTTPFile, HTTPHeaders
from tornadoish.request import HTTPServerRequest
from tornadoish.types import Message


def make_request(
    uri: str = "/",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    **kwargs: Any,
) -> HTTPServerRequest:
    header_map = HTTPHeaders()
    for name, value in headers.items() if isinstance(headers, dict) else headers or []:
        header_map.add(name, value)
    return HTTPServerRequest("GET", uri, headers=header_map, body=body, **kwargs)


# -- fields -------------------------------------------------------------------------------


def test_request_defaults() -> None:
    request = HTTPServerRequest("GET", "/")
    assert request.version == "HTTP/1.1"
    assert dict(request.headers) == {}
    assert request.body == b""
    assert request.remote_ip is None
    assert request.protocol == "http"
    assert request.host == "127.0.0.1"
    assert request.root_path == ""


def test_uri_splits_into_path_and_query() -> None:
    request = make_request("/a%20b/c?x=1&y=%202")
    assert request.uri == "/a%20b/c?x=1&y=%202"
    assert request.path == "/a%20b/c"
    assert request.query == "x=1&y=%202"
    bare = make_request("/p?")
    assert (bare.path, bare.query) == ("/p", "")


@pytest.mark.parametrize(
    ("host", "host_name"),
    [
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        ("example.com:", "example.com:"),  # no port digits: kept as is
        ("example.com:http", "example.com:http"),
    ],
)
def test_host_name_is_lowercased_without_the_port(host: str, host_name: str) -> None:
    request = make_request(headers={"Host": host})
    assert request.host == host
    assert request.host_name == host_name


def test_explicit_host_wins_over_the_host_header() -> None:
    request = make_request(headers={"Host": "header.test"}, host="explicit.test:81")
    assert request.host == "explicit.test:81"
    assert request.host_name == "explicit.test"


@pytest.mark.parametrize(
    ("kwargs", "url"),
    [
        ({"headers": {"Host": "h.test"}}, "http://h.test/p?q=1"),
        ({"headers": {"Host": "h.test:8443"}, "protocol": "https"}, "https://h.test:8443/p?q=1"),
        ({}, "http://127.0.0.1/p?q=1"),
    ],
)
def test_full_url(kwargs: dict[str, Any], url: str) -> None:
    assert make_request("/p?q=1", **kwargs).full_url() == url


def test_request_time_runs_until_finished_then_stops() -> None:
    request = make_request()
    first = request.request_time()
    assert first >= 0
    assert request.request_time() >= first
    request._finish_time = request._start_time + 1.5
    assert request.request_time() == 1.5


def test_request_time_of_an_unfinished_request_follows_the_clock() -> None:
    request = make_request()
    request._start_time = time.time() - 10
    assert 10 <= request.request_time() < 60


def test_repr_names_the_main_fields() -> None:
    request = make_request("/p", headers={"Host": "h.test"}, remote_ip="10.0.0.1")
    assert repr(request) == (
        "HTTPServerRequest(protocol='http', host='h.test', method='GET', uri='/p', "
        "version='HTTP/1.1', remote_ip='10.0.0.1')"
    )


def test_connection_offers_only_per_request_body_limits() -> None:
    connection = make_request().connection
    connection.set_max_body_size(10)
    connection.set_body_timeout(2.5)
    assert (connection.max_body_size, connection.body_timeout) == (10, 2.5)
    with pytest.raises(ValueError, match="must not be negative"):
        connection.set_max_body_size(-1)
    with pytest.raises(TypeError, match="must be an int"):
        connection.set_max_body_size("10")  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(ValueError, match="positive number"):
        connection.set_body_timeout(0)
    with pytest.raises(AttributeError):
        _ = connection.detach  # type: ignore[attr-defined]  # the ASGI server owns it


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_field"):
        _ = make_request().no_such_field  # type: ignore[attr-defined]  # the mistake tested


# -- arguments ----------------------------------------------------------------------------


def test_query_arguments_are_parsed_lazily_once() -> None:
    request = make_request("/?a=1&a=2&b=%C3%A9&c=")
    assert request._query_arguments is None
    arguments = request.query_arguments
    assert arguments == {"a": [b"1", b"2"], "b": [b"\xc3\xa9"], "c": [b""]}
    assert request.query_arguments is arguments


def test_query_arguments_can_be_replaced() -> None:
    request = make_request("/?a=1")
    request.query_arguments = {"z": [b"9"]}
    assert request.query_arguments == {"z": [b"9"]}


def test_no_query_means_no_arguments() -> None:
    assert make_request("/").query_arguments == {}


def test_body_arguments_from_an_urlencoded_body() -> None:
    request = make_request(
        headers={"Content-Type": "application/x-www-form-urlencoded"}, body=b"a=1&b=x+y"
    )
    assert request._body_arguments is None
    assert request.body_arguments == {"a": [b"1"], "b": [b"x y"]}
    assert request.files == {}


def test_body_without_content_type_has_no_arguments() -> None:
    request = make_request(body=b"a=1")
    assert request.body_arguments == {}
    assert request.files == {}


def test_files_from_a_multipart_body() -> None:
    body = (
        b"--B\r\n"
        b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"hello\r\n"
        b"--B\r\n"
        b'Content-Disposition: form-data; name="field"\r\n\r\n'
        b"value\r\n"
        b"--B--\r\n"
    )
    request = make_request(headers={"Content-Type": "multipart/form-data; boundary=B"}, body=body)
    assert request.files == {"f": [HTTPFile("a.txt", b"hello", "text/plain")]}
    assert request.body_arguments == {"field": [b"value"]}


def test_malformed_form_body_raises_form_error_on_access() -> None:
    request = make_request(headers={"Content-Type": "multipart/form-data"}, body=b"x")
    with pytest.raises(FormError):
        _ = request.body_arguments


def test_arguments_merge_query_first_into_their_own_dict() -> None:
    request = make_request(
        "/?a=q&b=q",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"a=body&c=body",
    )
    merged = request.arguments
    assert merged == {"a": [b"q", b"body"], "b": [b"q"], "c": [b"body"]}
    merged["a"].append(b"added")
    assert request.arguments is merged  # changes stick, as in Tornado
    assert request.query_arguments["a"] == [b"q"]
    assert request.body_arguments["a"] == [b"body"]


def test_arguments_can_be_replaced() -> None:
    request = make_request("/?a=1")
    request.arguments = {"z": [b"9"]}
    assert request.arguments == {"z": [b"9"]}
    assert request.query_arguments == {"a": [b"1"]}


def test_body_arguments_and_files_can_be_replaced() -> None:
    request = make_request()
    request.body_arguments = {"x": [b"1"]}
    request.files = {"f": [HTTPFile("n", b"", "x/y")]}
    assert request.arguments == {"x": [b"1"]}  # built after the replacement
    assert list(request.files) == ["f"]


# -- cookies ------------------------------------------------------------------------------


def test_cookies_from_every_cookie_header() -> None:
    request = make_request(headers=[("Cookie", "a=1; b=2"), ("Cookie", 'c="x y"')])
    cookies = request.cookies
    assert {name: morsel.value for name, morsel in cookies.items()} == {
        "a": "1",
        "b": "2",
        "c": "x y",
    }
    assert request.cookies is cookies


def test_cookies_with_names_the_stdlib_refuses_are_skipped() -> None:
    request = make_request(headers={"Cookie": "good=1; bad name=2; =3; x=4"})
    assert sorted(request.cookies) == ["good", "x"]


def test_no_cookie_header_means_no_cookies() -> None:
    assert len(make_request().cookies) == 0


# -- built from an ASGI scope -------------------------------------------------------------


def test_request_from_scope_takes_every_field() -> None:
    scope = http_scope(
        "/caf\u00e9",
        method="POST",
        raw_path=b"/caf%C3%A9",
        query_string=b"q=%20",
        headers=[(b"host", b"h.test:8000"), (b"x-a", b"1"), (b"x-a", b"2")],
    )
    scope["scheme"] = "https"
    scope["http_version"] = "2"
    request = _asgi.request_from_scope(scope)
    assert request.method == "POST"
    assert request.uri == "/caf%C3%A9?q=%20"
    assert request.path == "/caf%C3%A9"
    assert request.version == "HTTP/2"
    assert request.protocol == "https"
    assert request.host == "h.test:8000"
    assert request.host_name == "h.test"
    assert request.remote_ip == "127.0.0.1"
    assert request.headers.get_list("X-A") == ["1", "2"]


@pytest.mark.parametrize(
    ("scheme", "protocol"),
    [("http", "http"), ("https", "https"), ("ws", "http"), ("wss", "https"), ("odd", "http")],
)
def test_request_protocol_from_scheme(scheme: str, protocol: str) -> None:
    scope = http_scope()
    scope["scheme"] = scheme
    assert _asgi.request_from_scope(scope).protocol == protocol


def test_request_from_scope_without_raw_path_quotes_the_path() -> None:
    scope = http_scope("/a b/é")
    del scope["raw_path"]
    assert _asgi.request_from_scope(scope).path == "/a%20b/%C3%A9"


@pytest.mark.parametrize(
    ("server", "host"),
    [
        (("10.1.1.1", 8080), "10.1.1.1:8080"),
        (("::1", 8080), "[::1]:8080"),
        (("/tmp/unix.sock", None), "127.0.0.1"),
        (None, "127.0.0.1"),
    ],
)
def test_host_without_a_host_header_comes_from_the_server(
    server: tuple[str, int | None] | None, host: str
) -> None:
    scope = http_scope(headers=[])
    scope["server"] = server
    request = _asgi.request_from_scope(scope)
    assert request.host == host
    assert request.full_url() == f"http://{host}/"


def test_request_without_client_has_no_remote_ip() -> None:
    scope = http_scope()
    scope["client"] = None
    assert _asgi.request_from_scope(scope).remote_ip is None


@pytest.mark.parametrize(
    ("path", "raw_path", "uri"),
    [
        ("/t/x", b"/t/x", "/t/x"),  # root_path included in path (current ASGI reading)
        ("/x", b"/x", "/t/x"),  # root_path left out of path (older servers)
    ],
)
def test_uri_shows_the_mount_prefix_either_way(path: str, raw_path: bytes, uri: str) -> None:
    scope = http_scope(path, raw_path=raw_path, root_path="/t")
    request = _asgi.request_from_scope(scope)
    assert request.uri == uri
    assert request.root_path == "/t"


@pytest.mark.parametrize(
    ("root_path", "path", "raw_path", "routed"),
    [
        ("", "/x", b"/x", "/x"),
        ("/t", "/t/x", b"/t/x", "/x"),
        ("/t", "/t", b"/t", "/"),
        ("/t", "/tx", b"/tx", "/tx"),  # not a path-segment prefix
        ("/a b", "/a b/x", b"/a%20b/x", "/x"),  # prefix given decoded, raw path encoded
        ("/t", "/t/a b", b"/t/a%20b", "/a%20b"),
        ("/t", "/t/a b", None, "/a%20b"),
    ],
)
def test_routing_path_is_the_raw_path_below_root_path(
    root_path: str, path: str, raw_path: bytes | None, routed: str
) -> None:
    scope = http_scope(path, raw_path=raw_path, root_path=root_path)
    if raw_path is None:
        del scope["raw_path"]
    assert _asgi.routing_path(scope) == routed


# -- reading the body ---------------------------------------------------------------------


def _receiver(*messages: Message) -> Any:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


@pytest.mark.anyio
async def test_read_body_joins_chunks() -> None:
    receive = _receiver(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"c"},
    )
    assert await _asgi.read_body(receive, HTTPHeaders(), None) == b"abc"


@pytest.mark.anyio
async def test_read_body_refuses_a_declared_oversized_body_before_reading() -> None:
    receive = _receiver()  # reading anything would fail: nothing is queued
    with pytest.raises(HTTPError) as info:
        await _asgi.read_body(receive, HTTPHeaders({"Content-Length": "11"}), 10)
    assert info.value.status_code == 413


@pytest.mark.anyio
async def test_read_body_refuses_a_body_that_grows_past_the_limit() -> None:
    receive = _receiver(
        {"type": "http.request", "body": b"x" * 6, "more_body": True},
        {"type": "http.request", "body": b"x" * 6, "more_body": False},
    )
    with pytest.raises(HTTPError) as info:
        await _asgi.read_body(receive, HTTPHeaders(), 10)
    assert info.value.status_code == 413


@pytest.mark.anyio
async def test_read_body_at_the_limit_is_accepted() -> None:
    receive = _receiver({"type": "http.request", "body": b"x" * 10})
    assert await _asgi.read_body(receive, HTTPHeaders({"Content-Length": "10"}), 10) == b"x" * 10


@pytest.mark.anyio
async def test_read_body_raises_client_gone_on_disconnect() -> None:
    receive = _receiver(
        {"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(_asgi.ClientGone):
        await _asgi.read_body(receive, HTTPHeaders(), None)


@pytest.mark.anyio
async def test_responder_turns_os_error_into_client_gone() -> None:
    async def send(message: Message) -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(_asgi.ClientGone):
        await _asgi.Responder(send).start(200, [])
