"""tornadoish.httputil: headers, files, reason phrases, dates, cookies, query strings."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from tornadoish.httputil import (
    HTTPFile,
    HTTPHeaders,
    format_timestamp,
    parse_cookie,
    parse_qs_bytes,
    reason_phrase,
    url_concat,
)

# -- HTTPHeaders --------------------------------------------------------------------------


def test_headers_are_case_insensitive() -> None:
    headers = HTTPHeaders({"content-type": "text/plain"})
    assert headers["Content-Type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert headers.get("content-TYPE") == "text/plain"
    assert "Content-type" in headers
    assert list(headers) == ["Content-Type"]


def test_headers_add_keeps_every_value_and_getitem_joins_them() -> None:
    headers = HTTPHeaders()
    headers.add("Set-Cookie", "a=1")
    headers.add("set-cookie", "b=2")
    assert headers["Set-Cookie"] == "a=1,b=2"
    assert headers.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert len(headers) == 1
    assert list(headers.get_all()) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]


def test_headers_setitem_replaces_all_values() -> None:
    headers = HTTPHeaders()
    headers.add("X-A", "1")
    headers.add("X-A", "2")
    headers["x-a"] = "3"
    assert headers.get_list("X-A") == ["3"]


def test_headers_delitem_removes_all_values_and_missing_raises_key_error() -> None:
    headers = HTTPHeaders()
    headers.add("X-A", "1")
    headers.add("X-A", "2")
    del headers["x-a"]
    assert "X-A" not in headers
    assert headers.get_list("X-A") == []
    with pytest.raises(KeyError):
        del headers["X-A"]
    with pytest.raises(KeyError):
        headers["X-A"]


def test_headers_get_list_of_a_missing_name_is_empty_and_a_copy() -> None:
    headers = HTTPHeaders()
    assert headers.get_list("X-Missing") == []
    headers.add("X-A", "1")
    values = headers.get_list("X-A")
    values.append("mutated")
    assert headers.get_list("X-A") == ["1"]


@pytest.mark.parametrize("key", [1, None, b"X-A"])
def test_headers_contains_is_false_for_non_str_keys(key: object) -> None:
    assert key not in HTTPHeaders({"X-A": "1"})


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("content-length", "Content-Length"),
        ("X-FORWARDED-FOR", "X-Forwarded-For"),
        ("etag", "Etag"),
        ("www-authenticate", "Www-Authenticate"),
    ],
)
def test_header_names_are_shown_in_tornado_spelling(raw: str, normalized: str) -> None:
    headers = HTTPHeaders()
    headers[raw] = "v"
    assert list(headers) == [normalized]


def test_headers_constructor_accepts_mappings_pairs_and_kwargs() -> None:
    assert dict(HTTPHeaders({"A": "1"})) == {"A": "1"}
    assert dict(HTTPHeaders([("a", "1"), ("b", "2")])) == {"A": "1", "B": "2"}
    assert dict(HTTPHeaders(Host="h")) == {"Host": "h"}


def test_headers_copy_keeps_repeated_values_and_is_independent() -> None:
    original = HTTPHeaders()
    original.add("X-A", "1")
    original.add("X-A", "2")
    for copy in (original.copy(), HTTPHeaders(original)):
        assert copy.get_list("X-A") == ["1", "2"]
        copy.add("X-A", "3")
        assert original.get_list("X-A") == ["1", "2"]


def test_headers_from_asgi_decodes_latin1_and_keeps_repeats() -> None:
    headers = HTTPHeaders.from_asgi(
        [(b"host", b"example.com"), (b"x-a", b"1"), (b"X-A", b"caf\xe9")]
    )
    assert headers["Host"] == "example.com"
    assert headers.get_list("X-A") == ["1", "café"]


def test_headers_update_and_mapping_methods() -> None:
    headers = HTTPHeaders({"A": "1"})
    headers.update({"a": "2", "B": "3"})
    assert dict(headers) == {"A": "2", "B": "3"}
    assert headers.pop("b") == "3"
    assert headers.get("B", "default") == "default"
    assert headers.setdefault("c", "4") == "4"
    assert headers == {"A": "2", "C": "4"}


def test_headers_repr_lists_every_pair() -> None:
    headers = HTTPHeaders()
    headers.add("A", "1")
    headers.add("A", "2")
    assert repr(headers) == "HTTPHeaders([('A', '1'), ('A', '2')])"


# -- HTTPFile and reason phrases ----------------------------------------------------------


def test_http_file_fields_are_attributes_and_items() -> None:
    upload = HTTPFile(filename="a.txt", body=b"hi", content_type="text/plain")
    assert (upload.filename, upload.body, upload.content_type) == ("a.txt", b"hi", "text/plain")
    assert upload["filename"] == "a.txt"
    assert upload["body"] == b"hi"
    assert upload["content_type"] == "text/plain"
    with pytest.raises(KeyError):
        upload["size"]


def test_http_file_supports_dict_style_get_and_in() -> None:
    # Tornado's HTTPFile is a dict; handlers use these too.
    upload = HTTPFile(filename="a.txt", body=b"hi", content_type="text/plain")
    assert upload.get("content_type") == "text/plain"
    assert upload.get("size") is None
    assert upload.get("size", 0) == 0
    assert "body" in upload
    assert "size" not in upload
    assert 0 not in upload


def test_http_file_is_immutable() -> None:
    upload = HTTPFile("a", b"", "x/y")
    with pytest.raises(AttributeError):
        upload.body = b"changed"  # type: ignore[misc]  # the point: frozen dataclass


@pytest.mark.parametrize(
    ("code", "phrase"),
    [(200, "OK"), (404, "Not Found"), (429, "Too Many Requests"), (599, "Unknown"), (1, "Unknown")],
)
def test_reason_phrase_is_standard_or_unknown(code: int, phrase: str) -> None:
    assert reason_phrase(code) == phrase


# -- format_timestamp ---------------------------------------------------------------------

EPOCH_PLUS = "Sun, 09 Sep 2001 01:46:40 GMT"


@pytest.mark.parametrize(
    "value",
    [
        1_000_000_000,
        1_000_000_000.4,
        datetime.datetime(2001, 9, 9, 1, 46, 40),  # naive: taken as UTC
        datetime.datetime(2001, 9, 9, 1, 46, 40, tzinfo=datetime.UTC),
        datetime.datetime(
            2001, 9, 9, 3, 46, 40, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        (2001, 9, 9, 1, 46, 40, 0, 0, 0),
        time.gmtime(1_000_000_000),
    ],
)
def test_format_timestamp_accepts_every_time_type(value: Any) -> None:
    assert format_timestamp(value) == EPOCH_PLUS


def test_format_timestamp_of_zero() -> None:
    assert format_timestamp(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize("value", [True, "1000", None, datetime.date(2001, 9, 9)])
def test_format_timestamp_refuses_other_types(value: Any) -> None:
    with pytest.raises(TypeError, match="unknown timestamp type"):
        format_timestamp(value)


# -- parse_cookie -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2;", {"a": "1", "b": "2"}),
        ("keebler=E=mc2", {"keebler": "E=mc2"}),
        ("key:term=value:term", {"key:term": "value:term"}),
        ("  a  =  b  ", {"a": "b"}),
        ("a=1; a=2", {"a": "2"}),  # the last of repeated names wins
        ("foo", {"": "foo"}),  # no '=': a value with an empty name
        ("=bar", {"": "bar"}),
        (";;", {}),
        ("", {}),
        ("a=", {"a": ""}),
        ('a="b"', {"a": "b"}),  # quotes removed
        ('a=""', {"a": ""}),
        ('a="', {"a": '"'}),  # a lone quote is not a quoted string
        ('a="\\"x\\""', {"a": '"x"'}),  # backslash escapes undone
        ('a="\\012"', {"a": "\n"}),  # octal escapes undone
        ('a="x\\"', {"a": "x\\"}),  # a trailing backslash stays
        ('a="b; c"', {"a": '"b', "": 'c"'}),  # ';' splits even inside quotes
        ("a=é", {"a": "é"}),
    ],
)
def test_parse_cookie_follows_browser_leniency(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


# -- parse_qs_bytes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&a=2&b=3", {"a": [b"1", b"2"], "b": [b"3"]}),
        ("a=%E2%82%AC", {"a": [b"\xe2\x82\xac"]}),
        (b"a=%E2%82%AC", {"a": [b"\xe2\x82\xac"]}),
        ("a=%FF", {"a": [b"\xff"]}),  # values stay raw bytes, any encoding
        ("a=x+y%2B", {"a": [b"x y+"]}),
        ("c=&d", {"c": [b""], "d": [b""]}),  # blank values kept by default
        ("%C3%A9=1", {"é": [b"1"]}),  # names decoded as UTF-8
        ("%FF=1", {"\ufffd": [b"1"]}),  # an undecodable name is replaced, not fatal
        ("a=1;b=2", {"a": [b"1;b=2"]}),  # only '&' separates
        ("", {}),
    ],
)
def test_parse_qs_bytes(query: str | bytes, expected: dict[str, list[bytes]]) -> None:
    assert parse_qs_bytes(query) == expected


def test_parse_qs_bytes_can_drop_blank_values() -> None:
    assert parse_qs_bytes("a=&b=1", keep_blank_values=False) == {"b": [b"1"]}


# -- url_concat ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "args", "expected"),
    [
        ("http://x/p", {"a": "1"}, "http://x/p?a=1"),
        ("http://x/p?b=2", {"a": "1"}, "http://x/p?b=2&a=1"),
        ("http://x/p?b=2&b=3", [("a", "1"), ("a", "2")], "http://x/p?b=2&b=3&a=1&a=2"),
        ("/p", {"q": "a b&c"}, "/p?q=a+b%26c"),
        ("/p", {"q": b"\xff"}, "/p?q=%FF"),
        ("/p?e=", {"a": "1"}, "/p?e=&a=1"),  # blank values kept
        ("/p#frag", {"a": "1"}, "/p?a=1#frag"),
        ("/p?b=2", None, "/p?b=2"),
        ("/p?b=2", {}, "/p?b=2"),
        ("/p", [], "/p"),
    ],
)
def test_url_concat_appends_arguments(url: str, args: Any, expected: str) -> None:
    assert url_concat(url, args) == expected
