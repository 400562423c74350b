"""HTTP values: headers, files, status phrases, dates, cookies, query strings (layer: pure).

Plain values in, plain values out; no I/O, no asyncio, no ASGI dicts.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import email.utils
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any, TypeVar, overload

__all__ = [
    "HTTPFile",
    "HTTPHeaders",
    "as_browser_reads",
    "format_timestamp",
    "parse_cookie",
    "parse_qs_bytes",
    "reason_phrase",
    "url_concat",
]


_T = TypeVar("_T")


def _normalize_name(name: str) -> str:
    """``content-type`` -> ``Content-Type``: the spelling Tornado shows for header names."""
    try:
        return _NORMALIZED_NAMES[name]
    except KeyError:
        pass
    normalized = "-".join(part.capitalize() for part in name.split("-"))
    if len(_NORMALIZED_NAMES) < _NORMALIZED_CACHE_SIZE:
        _NORMALIZED_NAMES[name] = normalized
    return normalized


# Header names repeat across requests; a bounded cache avoids re-normalizing them.
_NORMALIZED_CACHE_SIZE = 1000
_NORMALIZED_NAMES: dict[str, str] = {}
# The same for the raw names of ASGI request headers, keyed by their bytes so that a
# known name costs one dict lookup and no decoding.
_ASGI_NAMES: dict[bytes, str] = {}


def _normalize_asgi_name(raw_name: bytes | bytearray) -> str:
    name = _normalize_name(raw_name.decode("latin-1"))
    if type(raw_name) is bytes and len(_ASGI_NAMES) < _NORMALIZED_CACHE_SIZE:
        _ASGI_NAMES[raw_name] = name
    return name


class HTTPHeaders(MutableMapping[str, str]):
    """A case-insensitive multidict of header fields, as Tornado's ``HTTPHeaders``.

    ``headers["X"]`` joins repeated values with ``,``; ``get_list`` returns each value;
    ``add`` appends a value; ``headers["X"] = v`` replaces all values.
    """

    def __init__(self, *args: Any, **kwargs: str) -> None:
        self._values: dict[str, list[str]] = {}
        if not args and not kwargs:
            return  # every request makes empty ones: the rest is skipped
        if len(args) == 1 and not kwargs and isinstance(args[0], HTTPHeaders):
            for name, value in args[0].get_all():
                self.add(name, value)
        else:
            self.update(*args, **kwargs)

    @classmethod
    def from_asgi(cls, raw: Iterable[tuple[bytes, bytes]]) -> HTTPHeaders:
        """Build from ASGI ``headers`` (latin-1 bytes pairs, RFC 9110 §5.5)."""
        headers = cls.__new__(cls)  # what __init__ would do for no arguments, minus the call
        values: dict[str, list[str]] = {}
        headers._values = values
        for raw_name, raw_value in raw:
            try:
                name = _ASGI_NAMES[raw_name]
            except (KeyError, TypeError):  # a new name, or a bytearray (unhashable)
                name = _normalize_asgi_name(raw_name)
            value = raw_value.decode("latin-1")
            existing = values.get(name)
            if existing is None:
                values[name] = [value]
            else:
                existing.append(value)
        return headers

    # Below, `_NORMALIZED_NAMES.get(name) or _normalize_name(name)` is the cache lookup
    # done inline: these run several times per request, and a call costs more than it.

    def add(self, name: str, value: str) -> None:
        """Add ``value`` for ``name`` beside any existing values."""
        key = _NORMALIZED_NAMES.get(name) or _normalize_name(name)
        self._values.setdefault(key, []).append(value)

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name`` in arrival order (empty when absent)."""
        return list(self._values.get(_normalize_name(name), ()))

    def get_all(self) -> Iterator[tuple[str, str]]:
        """Every ``(name, value)`` pair, repeated names once per value."""
        for name, values in self._values.items():
            for value in values:
                yield name, value

    def __getitem__(self, name: str) -> str:
        return ",".join(self._values[_NORMALIZED_NAMES.get(name) or _normalize_name(name)])

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    @overload
    def get(self, key: str, default: _T) -> str | _T: ...

    def get(self, key: str, default: object = None) -> object:
        # Mapping.get goes through __getitem__ and a caught KeyError; the framework
        # asks for a few headers on every request.
        values = self._values.get(_NORMALIZED_NAMES.get(key) or _normalize_name(key))
        return default if values is None else ",".join(values)

    def __setitem__(self, name: str, value: str) -> None:
        self._values[_NORMALIZED_NAMES.get(name) or _normalize_name(name)] = [value]

    def __delitem__(self, name: str) -> None:
        del self._values[_normalize_name(name)]

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and (_NORMALIZED_NAMES.get(name) or _normalize_name(name)) in self._values
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def copy(self) -> HTTPHeaders:
        """An independent copy of these headers."""
        return HTTPHeaders(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.get_all())!r})"


@dataclasses.dataclass(frozen=True, slots=True)
class HTTPFile:
    """One uploaded file from a multipart form; also readable as ``file["body"]``."""

    filename: str
    body: bytes
    content_type: str

    def __getitem__(self, key: str) -> Any:
        # Tornado's HTTPFile is a dict subclass; handlers often index it.
        if key in _HTTP_FILE_KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        # Without this, ``"body" in file`` would fall back to indexing with 0, 1, ...
        return key in _HTTP_FILE_KEYS

    def get(self, key: str, default: Any = None) -> Any:
        """``file.get("content_type")``, as on Tornado's dict-based HTTPFile."""
        return getattr(self, key) if key in _HTTP_FILE_KEYS else default


_HTTP_FILE_KEYS = ("filename", "body", "content_type")


def reason_phrase(status_code: int) -> str:
    """The standard reason phrase, or ``"Unknown"`` for a code without one."""
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Unknown"


def format_timestamp(
    ts: float | int | datetime.datetime | tuple[int, ...] | time.struct_time,
) -> str:
    """An HTTP date (RFC 9110 §5.6.7) from a POSIX time, an aware or UTC-naive datetime,
    or a UTC time tuple."""
    value: object = ts  # checked at run time: untyped callers pass anything
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            seconds: float = calendar.timegm(value.utctimetuple())
        else:
            seconds = value.timestamp()
    elif isinstance(value, tuple | time.struct_time):
        seconds = calendar.timegm(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    return email.utils.formatdate(seconds, usegmt=True)


def parse_cookie(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header leniently, as browsers send it (Tornado's rules).

    Pairs without ``=`` are taken as a value with an empty name; double quotes around
    a value are removed with backslash escapes undone; the last of repeated names wins.
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        if "=" in chunk:
            name, value = chunk.split("=", 1)
        else:
            name, value = "", chunk
        name, value = name.strip(), value.strip()
        if name or value:
            cookies[name] = _unquote_cookie_value(value)
    return cookies


def _unquote_cookie_value(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    inner = value[1:-1]
    out: list[str] = []
    i = 0
    while i < len(inner):
        char = inner[i]
        if char == "\\" and i + 1 < len(inner):
            octal = inner[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(chr(int(octal, 8)))
                i += 4
                continue
            out.append(inner[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_qs_bytes(query: str | bytes, keep_blank_values: bool = True) -> dict[str, list[bytes]]:
    """Parse a query string into ``name -> [raw bytes values]``, names decoded as UTF-8.

    Values stay bytes (as Tornado's ``request.arguments``), so a handler decides how
    to decode them; percent escapes and ``+`` are undone.
    """
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    parsed = urllib.parse.parse_qs(
        query, keep_blank_values=keep_blank_values, strict_parsing=False, encoding="latin-1"
    )
    result: dict[str, list[bytes]] = {}
    for name, values in parsed.items():
        key = name.encode("latin-1").decode("utf-8", errors="replace")
        result[key] = [value.encode("latin-1") for value in values]
    return result


def url_concat(
    url: str,
    args: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]] | None,
) -> str:
    """Append query arguments to ``url``, keeping any it already has."""
    if not args:
        return url
    parts = urllib.parse.urlparse(url)
    pairs: list[tuple[str, str | bytes]] = list(
        urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    pairs.extend(args.items() if isinstance(args, Mapping) else args)
    return urllib.parse.urlunparse(parts._replace(query=urllib.parse.urlencode(pairs)))


def as_browser_reads(url: str) -> str:
    """``url`` as a browser parses it (WHATWG URL): outer spaces and controls stripped,
    tabs and newlines removed, backslashes read as slashes."""
    url = url.strip("".join(chr(code) for code in range(0x21)))
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    return url.replace("\\", "/")
