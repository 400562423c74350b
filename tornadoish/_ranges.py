"""Byte ranges for static files: the ``Range`` request header and ``Content-Range``
(layer: pure).

Only a single range is supported, as in Tornado: a request for several ranges gets
the whole representation (RFC 9110 §14.2 lets a server ignore ``Range``). Positions
are returned as slice indexes, ``start`` inclusive and ``end`` exclusive.

Where we are stricter than Tornado (only for malformed headers, which RFC 9110 §14.2
says to ignore, so the answer is the whole file): positions must be ASCII digits
(Tornado takes anything ``int()`` takes, such as ``+5`` or ``1_0``), and a range
needs its ``-`` (Tornado reads ``bytes=5`` as ``bytes=5-``). The unit is matched
case-insensitively (RFC 9110 §14.1), Tornado matches ``bytes`` only.
"""

from __future__ import annotations

__all__ = ["content_range", "parse_range", "resolve_range", "unsatisfied_content_range"]

# RFC 9110 §5.6.3: optional whitespace around the parts is tolerated.
_OWS = " \t"


def _position(text: str) -> int | None:
    """A byte position, or None when absent; ValueError when not 1*DIGIT."""
    text = text.strip(_OWS)
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


def parse_range(header: str) -> tuple[int | None, int | None] | None:
    """Parse a ``Range`` header into ``(start, end)``; None when it must be ignored.

    ``bytes=2-5`` -> ``(2, 6)``; ``bytes=2-`` -> ``(2, None)``; the suffix range
    ``bytes=-5`` (the last five bytes) -> ``(-5, None)``; ``bytes=-0`` -> ``(None, 0)``
    (satisfiable by no representation); ``bytes=`` or ``bytes=-`` -> ``(None, None)``
    (the whole representation). Other units, several ranges and bad syntax -> None.
    """
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip(_OWS).lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.partition("-")
    if not dash and spec.strip(_OWS):
        return None
    try:
        start = _position(first)
        end = _position(last)
    except ValueError:
        return None
    if end is None:
        return start, None
    if start is None:
        return (-end, None) if end else (None, 0)
    return start, end + 1


def resolve_range(requested: tuple[int | None, int | None], size: int) -> tuple[int, int] | None:
    """The ``(start, end)`` slice of a ``size``-byte representation that a parsed range
    selects, or None when it is not satisfiable (416).

    A suffix longer than the representation selects all of it; an end past the last
    byte is capped. Not satisfiable (Tornado's rule, RFC 9110 §14.1.1): a first
    position at or past the end, a last position before the first, or ``bytes=-0``.
    """
    start, end = requested
    if start is not None and start < 0:
        start = max(start + size, 0)
    if end == 0 or (start is not None and (start >= size or (end is not None and start >= end))):
        return None
    first = start or 0
    last = size if end is None else min(end, size)
    return first, last


def content_range(start: int, end: int, size: int) -> str:
    """The ``Content-Range`` of a 206 answer for the slice ``start:end``."""
    return f"bytes {start}-{end - 1}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """The ``Content-Range`` of a 416 answer (RFC 9110 §14.4)."""
    return f"bytes */{size}"
