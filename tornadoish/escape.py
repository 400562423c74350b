"""Escaping and encoding helpers with Tornado's names and results (layer: pure)."""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from typing import Any

__all__ = [
    "json_decode",
    "json_encode",
    "squeeze",
    "to_unicode",
    "url_escape",
    "url_unescape",
    "utf8",
    "xhtml_escape",
    "xhtml_unescape",
]

_XHTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_XHTML_ESCAPE_RE = re.compile("[&<>\"']")
_SQUEEZE_RE = re.compile(r"[\x00-\x20]+")


def utf8(value: str | bytes | None) -> bytes | None:
    """Encode ``str`` as UTF-8; ``bytes`` and None pass through; anything else is an error."""
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected str, bytes or None; got {type(value).__name__}")
    return value.encode("utf-8")


def to_unicode(value: str | bytes | None) -> str | None:
    """Decode ``bytes`` as UTF-8; ``str`` and None pass through; anything else is an error."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError(f"expected str, bytes or None; got {type(value).__name__}")
    return value.decode("utf-8")


def xhtml_escape(value: str | bytes) -> str:
    """Escape ``& < > " '`` for use in HTML text and attribute values."""
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    return _XHTML_ESCAPE_RE.sub(lambda m: _XHTML_ESCAPES[m.group(0)], text)


def xhtml_unescape(value: str | bytes) -> str:
    """Undo :func:`xhtml_escape` (and any other HTML character reference)."""
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    return html.unescape(text)


def url_escape(value: str | bytes, plus: bool = True) -> str:
    """Percent-encode for a URL; with ``plus`` spaces become ``+`` (query style)."""
    if plus:
        return urllib.parse.quote_plus(value)
    return urllib.parse.quote(value, safe="/")


def url_unescape(value: str | bytes, encoding: str | None = "utf-8", plus: bool = True) -> Any:
    """Decode a percent-encoded value; ``encoding=None`` returns bytes."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if plus:
        value = value.replace(b"+", b" ")
    raw = urllib.parse.unquote_to_bytes(value)
    # Like Tornado (urllib's unquote): bytes invalid in ``encoding`` become U+FFFD.
    return raw if encoding is None else raw.decode(encoding, errors="replace")


def json_encode(value: Any) -> str:
    """JSON-encode ``value`` so the result is safe inside an HTML ``<script>`` element."""
    # "</" could close a surrounding <script> element; "<\/" means the same to JSON.
    return _dumps(value).replace("</", "<\\/")


# json.dumps(value) with its default arguments, minus its Python layers (dumps(),
# encode(), iterencode()), which cost more than encoding a small document: the C
# encoder json.dumps itself ends up in, made with the arguments it passes. A fresh
# `markers` dict each time keeps the circular-reference check. Without the C
# accelerator (other Pythons), json.dumps itself.
_json_default = json.JSONEncoder().default
try:
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
    from json.encoder import encode_basestring_ascii as _encode_ascii
except ImportError:  # pragma: no cover - CPython has the accelerator
    _c_make_encoder = None


def _dumps(value: Any) -> str:
    if _c_make_encoder is None:  # pragma: no cover - CPython has the accelerator
        return json.dumps(value)
    encode = _c_make_encoder({}, _json_default, _encode_ascii, None, ": ", ", ", False, False, True)
    return "".join(encode(value, 0))


def json_decode(value: str | bytes) -> Any:
    """Parse JSON text given as ``str`` or UTF-8 ``bytes``."""
    return json.loads(value)


def squeeze(value: str) -> str:
    """Collapse runs of whitespace and control characters to one space and strip."""
    return _SQUEEZE_RE.sub(" ", value).strip()
