"""tornadoish.escape: encoding and escaping helpers."""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any

import pytest

from tornadoish.escape import (
    json_decode,
    json_encode,
    squeeze,
    to_unicode,
    url_escape,
    url_unescape,
    utf8,
    xhtml_escape,
    xhtml_unescape,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("é", b"\xc3\xa9"), (b"\xff", b"\xff"), (None, None), ("", b"")],
)
def test_utf8_encodes_str_and_passes_bytes_and_none(
    value: str | bytes | None, expected: bytes | None
) -> None:
    assert utf8(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"\xc3\xa9", "é"), ("x", "x"), (None, None), (b"", "")],
)
def test_to_unicode_decodes_bytes_and_passes_str_and_none(
    value: str | bytes | None, expected: str | None
) -> None:
    assert to_unicode(value) == expected


@pytest.mark.parametrize("function", [utf8, to_unicode])
@pytest.mark.parametrize("value", [1, 1.5, ["a"], bytearray(b"a")])
def test_utf8_and_to_unicode_refuse_other_types(function: Any, value: object) -> None:
    with pytest.raises(TypeError, match="expected str, bytes or None"):
        function(value)


def test_to_unicode_raises_on_invalid_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        to_unicode(b"\xff")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a href=\"x\">'&'</a>", "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"),
        (b"<b>", "&lt;b&gt;"),
        ("plain é", "plain é"),
        ("", ""),
    ],
)
def test_xhtml_escape_escapes_the_five_html_specials(value: str | bytes, expected: str) -> None:
    assert xhtml_escape(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("&lt;a&gt; &amp; &quot;&#x27;", "<a> & \"'"),
        ("&#39;&#x41;&eacute;", "'Aé"),
        (b"&amp;amp;", "&amp;"),
        ("no entities", "no entities"),
    ],
)
def test_xhtml_unescape_undoes_character_references(value: str | bytes, expected: str) -> None:
    assert xhtml_unescape(value) == expected


def test_xhtml_escape_round_trips() -> None:
    text = "<script>alert('x' & \"y\")</script>"
    assert xhtml_unescape(xhtml_escape(text)) == text


@pytest.mark.parametrize(
    ("value", "plus", "expected"),
    [
        ("a b/c?d=é", True, "a+b%2Fc%3Fd%3D%C3%A9"),
        ("a b/c?d=é", False, "a%20b/c%3Fd%3D%C3%A9"),
        (b"\xff+", True, "%FF%2B"),
        (b"\xff+", False, "%FF%2B"),
    ],
)
def test_url_escape_query_and_path_styles(value: str | bytes, plus: bool, expected: str) -> None:
    assert url_escape(value, plus=plus) == expected


@pytest.mark.parametrize(
    ("value", "encoding", "plus", "expected"),
    [
        ("a+b%20c", "utf-8", True, "a b c"),
        ("a+b%20c", "utf-8", False, "a+b c"),
        (b"%C3%A9", "utf-8", True, "é"),
        ("%FF+", None, True, b"\xff "),
        ("%FF+", None, False, b"\xff+"),
        ("%E9", "latin-1", True, "é"),
    ],
)
def test_url_unescape_with_and_without_plus_and_encoding(
    value: str | bytes, encoding: str | None, plus: bool, expected: str | bytes
) -> None:
    assert url_unescape(value, encoding=encoding, plus=plus) == expected


@pytest.mark.parametrize("plus", [True, False])
def test_url_unescape_replaces_invalid_utf8(plus: bool) -> None:
    assert url_unescape("%FFa%C3", plus=plus) == "\ufffda\ufffd"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("</script>", '"<\\/script>"'),
        ({"a": [1, None, True]}, '{"a": [1, null, true]}'),
        ("é", '"\\u00e9"'),
    ],
)
def test_json_encode_is_safe_inside_a_script_element(value: Any, expected: str) -> None:
    assert json_encode(value) == expected


class _Level(enum.IntEnum):
    HIGH = 3


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, False], "b": {"c": []}},
        [math.nan, math.inf, -math.inf, -0.0, 10**30],
        {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
        [_Level.HIGH, {"level": _Level.HIGH}],
        ("a tuple", "é\u2028"),
        "a bare string",
    ],
)
def test_json_encode_is_json_dumps_with_defaults(value: Any) -> None:
    # json_encode skips json.dumps' Python layers: the output must not change.
    assert json_encode(value) == json.dumps(value).replace("</", "<\\/")


@pytest.mark.parametrize("value", [{"a": object()}, {(1, 2): 1}, _circular()])
def test_json_encode_fails_as_json_dumps_does(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        json.dumps(value)
    with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
        json_encode(value)


def test_json_encode_output_decodes_to_the_same_value() -> None:
    value = {"html": "</script><script>", "n": 1.5}
    assert json_decode(json_encode(value)) == value


@pytest.mark.parametrize("text", ['{"a": "é"}', b'{"a": "\xc3\xa9"}'])
def test_json_decode_accepts_str_and_utf8_bytes(text: str | bytes) -> None:
    assert json_decode(text) == {"a": "é"}


def test_json_decode_raises_value_error_on_bad_json() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        json_decode("{")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  a \t\n  b  ", "a b"),
        ("a\x00\x01b", "a b"),
        ("single", "single"),
        ("   ", ""),
    ],
)
def test_squeeze_collapses_whitespace_and_controls(value: str, expected: str) -> None:
    assert squeeze(value) == expected
