"""Form request bodies: urlencoded and multipart/form-data, with limits (layer: pure).

Results match Tornado's ``parse_body_arguments`` for well-formed bodies. A malformed
body raises :class:`FormError`, whose message is short and safe to show the client
(the framework answers 400 with it).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import TYPE_CHECKING

from tornadoish.httputil import HTTPFile, parse_qs_bytes

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = [
    "DEFAULT_MAX_FORM_FIELDS",
    "DEFAULT_MAX_FORM_PARTS",
    "DEFAULT_MAX_PART_HEADER_BYTES",
    "FormError",
    "parse_body_arguments",
]

# Fields of one urlencoded body. Tornado's default (``max_arguments``): far more than
# any hand-filled form, yet it stops a body of a million "&a" from building a
# million-entry dict (and the handler's per-argument work) out of one request.
#: Most fields parsed from one urlencoded body (400 beyond).
DEFAULT_MAX_FORM_FIELDS = 1000
# Parts of one multipart body. Tornado's default: each <input> is one part, so real
# forms stay well below; every part costs a header parse and several objects, and a
# body of tiny parts is the cheapest way to make a server do a lot of that.
#: Most parts parsed from one multipart body (400 beyond).
DEFAULT_MAX_FORM_PARTS = 100
# Header bytes of one part (its header lines with their CRLFs). Tornado's default: a
# part's headers are a Content-Disposition (name, filename) and a Content-Type, a few
# hundred bytes even with a long non-ASCII filename; 10 KiB leaves room for odd
# clients, not for abuse.
#: Largest header block of one multipart part, in bytes (400 beyond).
DEFAULT_MAX_PART_HEADER_BYTES = 10 * 1024
# Not limited here: the size of a part or field. The whole body is already in memory
# (bounded by the server's body limit) and parts are slices of it, so a per-field cap
# would add no protection, only break uploads that Tornado accepts.

_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
# Overhead python-multipart does not hand to the callbacks: ": " and CRLF per header.
_HEADER_LINE_OVERHEAD = 4
# RFC 2231 §3-4: ``name*`` (charset'language'percent-encoded) and ``name*0``,
# ``name*1*``... continuations, as Tornado decodes them for ``filename*``.
_EXTENDED_PARAM_RE = re.compile(r"([^*]+)\*(?:([0-9]+)(\*)?)?\Z")
# python-multipart logs a WARNING for every malformed body it meets. That body is the
# client's fault and the framework already reports the 400, so the parser gets a muted
# logger of its own (outside the logging registry: no global state is touched).
_SILENT_LOGGER = logging.Logger("tornadoish.forms.multipart")
_SILENT_LOGGER.disabled = True


class FormError(ValueError):
    """A malformed form body; ``str(exc)`` is a short reason safe to show the client."""


def parse_body_arguments(
    content_type: str,
    body: bytes,
    *,
    max_fields: int = DEFAULT_MAX_FORM_FIELDS,
    max_parts: int = DEFAULT_MAX_FORM_PARTS,
    max_part_header_bytes: int = DEFAULT_MAX_PART_HEADER_BYTES,
) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    """Parse a form body into ``(arguments, files)``, as Tornado's function of that name.

    ``application/x-www-form-urlencoded`` gives arguments only (blank values kept);
    ``multipart/form-data`` gives arguments for plain parts and
    :class:`~tornadoish.httputil.HTTPFile` objects for parts with a filename. Any other
    content type gives two empty dicts.

    Unlike Tornado, the media type is compared case-insensitively and exactly
    (RFC 9110 §8.3.1), where Tornado tests a case-sensitive prefix.
    """
    for name, limit in (
        ("max_fields", max_fields),
        ("max_parts", max_parts),
        ("max_part_header_bytes", max_part_header_bytes),
    ):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"{name} must be a positive int, got {limit!r}")
    media_type, params = _parse_header_value(content_type)
    if media_type == _URLENCODED:
        return _parse_urlencoded(body, max_fields), {}
    if media_type == _MULTIPART:
        boundary = params.get("boundary")
        if not boundary:
            raise FormError("multipart boundary not found")
        return _parse_multipart(boundary, body, max_parts, max_part_header_bytes)
    return {}, {}


def _parse_urlencoded(body: bytes, max_fields: int) -> dict[str, list[bytes]]:
    # Counted as Tornado does: one more field than there are separators.
    if body and body.count(b"&") + 1 > max_fields:
        raise FormError("too many form fields")
    return parse_qs_bytes(body, keep_blank_values=True)


class _MultipartCollector:
    """Assembles python-multipart's callbacks into arguments and files."""

    def __init__(self, max_parts: int, max_part_header_bytes: int) -> None:
        self.max_parts = max_parts
        self.max_part_header_bytes = max_part_header_bytes
        self.arguments: dict[str, list[bytes]] = {}
        self.files: dict[str, list[HTTPFile]] = {}
        self.parts = 0
        self.ended = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.field = b""
        self.value = b""
        self.data: list[bytes] = []

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise FormError("too many multipart parts")
        self.headers = []
        self.header_bytes = 0
        self.field = self.value = b""
        self.data = []

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.header_bytes += len(self.field) + len(self.value) + _HEADER_LINE_OVERHEAD
        if self.header_bytes > self.max_part_header_bytes:
            raise FormError("multipart part headers too large")
        self.headers.append((self.field, self.value))
        self.field = self.value = b""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.data.append(data[start:end])

    def on_part_end(self) -> None:
        headers = _decode_part_headers(self.headers)
        dispositions = headers.get("content-disposition", [])
        if len(dispositions) != 1:
            raise FormError("multipart part needs one Content-Disposition")
        disposition, params = _parse_header_value(dispositions[0])
        # Tornado compares "form-data" case-sensitively; RFC 6266 §4.1 says any case.
        if disposition != "form-data":
            raise FormError("invalid multipart Content-Disposition")
        name = params.get("name")
        if not name:
            raise FormError("multipart part has no name")
        body = b"".join(self.data)
        filename = params.get("filename")
        # An empty filename (a file input left empty) is a plain field, as in Tornado.
        if filename:
            content_type = ",".join(headers.get("content-type", ["application/unknown"]))
            self.files.setdefault(name, []).append(HTTPFile(filename, body, content_type))
        else:
            self.arguments.setdefault(name, []).append(body)

    def on_end(self) -> None:
        self.ended = True


def _decode_part_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for field, value in raw:
        # Browsers send non-ASCII filenames as raw UTF-8; Tornado decodes part headers
        # as UTF-8 and refuses anything else. Names are tokens (python-multipart checks).
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError("multipart part headers are not UTF-8") from None
        headers.setdefault(field.decode("ascii").lower(), []).append(text.strip(" \t"))
    return headers


def _parse_multipart(
    boundary: str, body: bytes, max_parts: int, max_part_header_bytes: int
) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    # Imported here: only requests that send multipart bodies pay for python-multipart.
    from python_multipart.multipart import MultipartParser

    try:
        raw_boundary = boundary.encode("latin-1")
    except UnicodeEncodeError:
        raise FormError("invalid multipart boundary") from None
    collector = _MultipartCollector(max_parts, max_part_header_bytes)
    try:
        parser = MultipartParser(
            raw_boundary,
            collector.callbacks(),
            # Our byte budget per part is the binding limit; these only make sure
            # python-multipart never stops a part that the budget allows.
            max_header_count=max_part_header_bytes,
            max_header_size=max_part_header_bytes,
        )
        parser.logger = _SILENT_LOGGER
        parser.write(body)
    except FormError:
        raise
    except ValueError as exc:  # python-multipart's errors are ValueErrors
        # Tornado 6.6 refuses most malformed bodies too (older releases logged a
        # warning and kept what they had parsed). Where it is still lenient, we refuse:
        # two Content-Disposition headers, a delimiter straight after a delimiter, a
        # boundary over python-multipart's 256 bytes (RFC 2046 §5.1.1 allows 70). We
        # are lenient where it is not: a CRLF before the first delimiter (RFC 2046
        # preamble), any case of "form-data". python-multipart names its errors only
        # by message; should the wording change, the reason falls back to "malformed".
        message = str(exc)
        if "header size" in message or "header count" in message:
            raise FormError("multipart part headers too large") from exc
        if "Boundary length" in message:
            raise FormError("invalid multipart boundary") from exc
        raise FormError("malformed multipart body") from exc
    if not collector.ended:
        raise FormError("multipart body has no final boundary")
    return collector.arguments, collector.files


def _split_params(text: str) -> list[str]:
    """Split at ``;`` outside quoted strings (RFC 9110 §5.6.4 quoted-pairs honoured)."""
    pieces: list[str] = []
    start = 0
    in_quotes = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == ";":
            pieces.append(text[start:i])
            start = i + 1
        i += 1
    pieces.append(text[start:])
    return pieces


def _unquote(value: str) -> str:
    """Strip a quoted string's quotes; ``\\"`` and ``\\\\`` are unescaped, any other
    backslash is kept (browsers do not escape the ones in Windows paths)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    inner = value[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and inner[i + 1 : i + 2] in ('"', "\\"):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def _parse_header_value(text: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"'`` -> ``("form-data", {"name": "a"})``.

    The first item is lower-cased, as are parameter names; RFC 2231 extended
    parameters (``filename*=UTF-8''%C3%A9.txt``, continuations) are decoded and take
    precedence over the plain parameter of the same name, as in Tornado.
    """
    first, *rest = _split_params(text)
    params: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for piece in rest:
        name, equals, value = piece.partition("=")
        if not equals:
            continue
        name = name.strip().lower()
        value = _unquote(value.strip())
        match = _EXTENDED_PARAM_RE.match(name)
        if match is None:
            params[name] = value
        else:
            base, number, star = match.groups()
            encoded = number is None or star is not None
            extended.setdefault(base, []).append((int(number or 0), encoded, value))
    for base, segments in extended.items():
        params[base] = _decode_extended(segments)
    return first.strip().lower(), params


def _decode_extended(segments: list[tuple[int, bool, str]]) -> str:
    segments.sort(key=lambda segment: segment[0])
    is_encoded = any(encoded for _, encoded, _ in segments)
    # Percent-decoded as latin-1, so each character stands for one byte until the
    # charset named in the value decodes them.
    text = "".join(
        urllib.parse.unquote(value, encoding="latin-1") if encoded else value
        for _, encoded, value in segments
    )
    if not is_encoded:
        return text
    parts = text.split("'", 2)
    if len(parts) != 3:
        return text
    charset, _language, value = parts
    raw = value.encode("latin-1", errors="replace")
    try:
        return raw.decode(charset or "us-ascii", errors="replace")
    except LookupError:
        return raw.decode("latin-1")
