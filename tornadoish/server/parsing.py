"""Pure HTTP/1.1 decisions for the server: framing checks, scopes, response heads (layer: server).

Nothing here touches a socket, a transport or asyncio: values in, values out. The
connection protocol (``protocol.py``) feeds raw bytes to :class:`RequestFramer` before
h11 sees them, turns each ``h11.Request`` into a scope with :func:`build_scope`, and
checks every ``http.response.start`` with :func:`validate_response_start`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import unquote

import h11

from tornadoish.types import HTTPScope, Message

__all__ = [
    "MAX_CHUNK_LINE_BYTES",
    "DateHeader",
    "InvalidResponse",
    "RequestFramer",
    "RequestRejected",
    "ResponseHead",
    "build_scope",
    "error_response",
    "forwarded_peer",
    "reason_phrase",
    "validate_response_start",
]

# A chunk-size line is a hex number and optional extensions nobody uses. 4 KiB is far
# more than any real client sends and keeps a stream of junk from growing a buffer.
MAX_CHUNK_LINE_BYTES: Final = 4096
# Method, two spaces, "HTTP/1.1" and CRLF around the request-target: the slack allowed on
# top of the URI limit before an unfinished request line is declared too long.
_REQUEST_LINE_SLACK: Final = 64
# RFC 9110 §5.6.2 token.
_TOKEN_RE: Final = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 9112 §2.3 HTTP-version, with any number of digits so that "HTTP/10.0" gets 505.
_VERSION_RE: Final = re.compile(rb"HTTP/[0-9]+\.[0-9]+")
# RFC 9112 §7.1: chunk-size [ chunk-ext ] with no CR or LF inside the extensions
# (a bare CR there is read as a line end by some proxies: a smuggling vector).
_CHUNK_LINE_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(;[^\r\n]*)?[ \t]*\r\n")
# End of a head, as h11 finds it (LF or CRLF line ends).
_HEAD_END_RE: Final = re.compile(rb"\n\r?\n")
# RFC 9110 §7.2 Host = uri-host [ ":" port ]; reg-name, IPv4 or a bracketed IPv6 literal.
_HOST_RE: Final = re.compile(
    rb"(?:[-A-Za-z0-9._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+\])"
    rb"(?::[0-9]*)?"
)
_CONTENT_LENGTH_MAX_DIGITS: Final = 20

_REASONS: Final = {int(s): s.phrase.encode("ascii") for s in HTTPStatus}
# Statuses whose responses never carry a body (RFC 9110 §6.4.1).
_BODYLESS_STATUSES: Final = frozenset({204, 304})


def reason_phrase(status: int) -> bytes:
    """The standard reason phrase for ``status``, or ``b""`` for an unregistered code."""
    return _REASONS.get(status, b"")


class RequestRejected(Exception):
    """A request the server answers itself with an error status, then closes.

    ``reason`` is the short public text sent to the client; ``detail`` is for the log.
    """

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f": {detail}" if detail else ""))
        self.status = status
        self.reason = reason
        self.detail = detail


class InvalidResponse(RuntimeError):
    """The app sent a response the server refuses to put on the wire (our 500, its bug)."""


# ---------------------------------------------------------------------------
# Raw framing, ahead of h11
# ---------------------------------------------------------------------------

_HEAD: Final = 0
_BODY_LENGTH: Final = 1
_CHUNK_LINE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_CRLF: Final = 4
_TRAILER: Final = 5
_STOPPED: Final = 6


class RequestFramer:
    """Follows request boundaries over the raw byte stream, ahead of h11.

    h11 parses; this class only enforces what h11 leaves to us, and must see every byte
    first: hard limits on head size, header count and URI length, RFC 9112 framing rules
    (Transfer-Encoding + Content-Length, final coding chunked, no CR in chunk extensions),
    505 for non-1.x versions, the body size limit, and the one leading CRLF that RFC 9112
    §2.2 says to ignore (h11 would reject it).

    :meth:`feed` returns the bytes to hand to h11 and, once a request breaks a rule, the
    :class:`RequestRejected` that applies after those bytes. After that the framer stops:
    later bytes are dropped, since the connection will be closed.
    """

    __slots__ = (
        "_head",
        "_head_seen",
        "_held_cr",
        "_line",
        "_remaining",
        "_state",
        "body_bytes",
        "limit_body_bytes",
        "limit_head_bytes",
        "limit_header_count",
        "limit_uri_bytes",
    )

    def __init__(
        self,
        *,
        limit_head_bytes: int,
        limit_header_count: int,
        limit_uri_bytes: int,
        limit_body_bytes: int | None,
    ) -> None:
        self.limit_head_bytes = limit_head_bytes
        self.limit_header_count = limit_header_count
        self.limit_uri_bytes = limit_uri_bytes
        self.limit_body_bytes = limit_body_bytes
        self._state = _HEAD
        self._head = bytearray()
        # Bytes of the current head seen so far, the skipped CRLF included.
        self._head_seen = 0
        self._held_cr = False
        self._line = bytearray()
        self._remaining = 0
        # Decoded body bytes of the current request (for the body limit).
        self.body_bytes = 0

    @property
    def head_in_progress(self) -> bool:
        """True when part, not all, of a request head has arrived."""
        return self._state == _HEAD and self._head_seen > 0

    def feed(self, data: bytes) -> tuple[bytes, RequestRejected | None]:
        """Scan ``data``; return the bytes h11 may see and the error that follows them."""
        state = self._state
        if state == _STOPPED:
            return b"", None
        if self._held_cr:
            self._held_cr = False
            data = data[1:] if data[:1] == b"\n" else b"\r" + data
        pieces: list[bytes] = []
        pos = 0
        end = len(data)
        error: RequestRejected | None = None
        while pos < end:
            if state == _HEAD:
                if self._head_seen == 0:
                    # RFC 9112 §2.2: ignore one empty line before the request line.
                    if data.startswith(b"\r\n", pos):
                        pos += 2
                        self._head_seen = 2
                        continue
                    if end - pos == 1 and data[pos] == 0x0D:
                        self._held_cr = True
                        self._head_seen = 1
                        pos = end
                        break
                taken, error = self._scan_head(data, pos)
                if error is not None:
                    break
                pieces.append(data[pos : pos + taken])
                pos += taken
            elif state in (_BODY_LENGTH, _CHUNK_DATA, _CHUNK_CRLF):
                take = min(self._remaining, end - pos)
                pieces.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _BODY_LENGTH:
                        self._end_message()
                    elif state == _CHUNK_DATA:
                        # The CRLF after chunk data: h11 checks its exact bytes.
                        self._state = _CHUNK_CRLF
                        self._remaining = 2
                    else:
                        self._state = _CHUNK_LINE
            else:  # a chunk-size line or a trailer line
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._line += data[pos:stop]
                if newline < 0:
                    if state == _CHUNK_LINE and len(self._line) > MAX_CHUNK_LINE_BYTES:
                        error = RequestRejected(400, "Bad Request", "chunk line too long")
                        break
                    if state == _TRAILER and self._head_seen + len(self._line) > (
                        self.limit_head_bytes
                    ):
                        error = RequestRejected(431, "Request Header Fields Too Large", "trailers")
                        break
                    pieces.append(data[pos:stop])
                    pos = stop
                else:
                    error = self._line_done()
                    if error is not None:
                        break
                    pieces.append(data[pos:stop])
                    pos = stop
            state = self._state
        if error is not None:
            self._state = _STOPPED
        if not pieces:
            return b"", error
        return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), error

    def _end_message(self) -> None:
        self._state = _HEAD
        self._head_seen = 0
        self.body_bytes = 0

    def _scan_head(self, data: bytes, pos: int) -> tuple[int, RequestRejected | None]:
        """Consume head bytes from ``data[pos:]``; return how many, or the error."""
        head = self._head
        if not head:
            match = _HEAD_END_RE.search(data, pos)
            if match is not None:
                taken = match.end() - pos
                self._head_seen += taken
                return taken, self._head_done(data[pos : match.end()])
            search_from = 0
        else:
            search_from = max(0, len(head) - 2)
        head += data[pos:]
        match = _HEAD_END_RE.search(head, search_from)
        if match is None:
            taken = len(data) - pos
            self._head_seen += taken
            if self._head_seen > self.limit_head_bytes:
                return taken, RequestRejected(431, "Request Header Fields Too Large")
            if len(head) > self.limit_uri_bytes + _REQUEST_LINE_SLACK and b"\n" not in head:
                return taken, RequestRejected(414, "URI Too Long")
            return taken, None
        complete = bytes(head[: match.end()])
        taken = match.end() - (len(head) - (len(data) - pos))
        head.clear()
        self._head_seen += taken
        return taken, self._head_done(complete)

    def _head_done(self, head: bytes) -> RequestRejected | None:
        """Check a complete head and choose the body framing for what follows."""
        if self._head_seen > self.limit_head_bytes:
            return RequestRejected(431, "Request Header Fields Too Large")
        lines = head.split(b"\n")
        del lines[-2:]
        parts = lines[0].rstrip(b"\r").split(b" ")
        http_10 = False
        if len(parts) == 3:
            target, version = parts[1], parts[2]
            if len(target) > self.limit_uri_bytes:
                return RequestRejected(414, "URI Too Long")
            if version != b"HTTP/1.1":
                if _VERSION_RE.fullmatch(version) and not (
                    len(version) == 8 and version.startswith(b"HTTP/1.")
                ):
                    return RequestRejected(505, "HTTP Version Not Supported")
                http_10 = version == b"HTTP/1.0"
        if len(lines) - 1 > self.limit_header_count:
            return RequestRejected(431, "Request Header Fields Too Large", "too many headers")
        codings: list[bytes] | None = None
        lengths: list[bytes] | None = None
        for line in lines[1:]:
            first = line[:1]
            if first in (b" ", b"\t"):
                # RFC 9112 §5.2: obs-fold may be rejected; folded framing headers are a
                # smuggling favourite, so reject all of it.
                return RequestRejected(400, "Bad Request", "obsolete line folding")
            if first in (b"t", b"T"):
                name, _, value = line.partition(b":")
                if name.lower() == b"transfer-encoding":
                    codings = codings or []
                    codings.extend(value.split(b","))
            elif first in (b"c", b"C"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    lengths = lengths or []
                    lengths.extend(value.split(b","))
        if codings is not None:
            return self._chunked_framing(codings, lengths is not None, http_10)
        if lengths is not None:
            return self._length_framing(lengths)
        self._end_message()
        return None

    def _chunked_framing(
        self, raw_codings: list[bytes], has_length: bool, http_10: bool
    ) -> RequestRejected | None:
        if has_length:
            # RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling
            # signature; answer 400, then close.
            return RequestRejected(400, "Bad Request", "Transfer-Encoding with Content-Length")
        if http_10:
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            return RequestRejected(400, "Bad Request", "Transfer-Encoding in HTTP/1.0")
        codings = [c.partition(b";")[0].strip(b" \t\r").lower() for c in raw_codings]
        codings = [c for c in codings if c]
        if not codings or codings[-1] != b"chunked" or b"chunked" in codings[:-1]:
            # RFC 9112 §6.3: unless chunked is the final coding (and applied once), the
            # body length cannot be determined: 400 and close.
            return RequestRejected(400, "Bad Request", "final transfer coding is not chunked")
        if len(codings) > 1:
            # RFC 9112 §6.1: a transfer coding we do not implement.
            return RequestRejected(501, "Not Implemented", "unsupported transfer coding")
        self._state = _CHUNK_LINE
        self._line.clear()
        self.body_bytes = 0
        return None

    def _length_framing(self, raw_lengths: list[bytes]) -> RequestRejected | None:
        values = {v.strip(b" \t\r") for v in raw_lengths}
        if len(values) != 1:
            return RequestRejected(400, "Bad Request", "conflicting Content-Length")
        value = values.pop()
        if not value.isdigit() or not value.isascii():
            return RequestRejected(400, "Bad Request", "invalid Content-Length")
        limit = self.limit_body_bytes
        if len(value) > _CONTENT_LENGTH_MAX_DIGITS:
            if limit is None:
                return RequestRejected(400, "Bad Request", "invalid Content-Length")
            return RequestRejected(413, "Content Too Large")
        length = int(value)
        if limit is not None and length > limit:
            return RequestRejected(413, "Content Too Large")
        if length == 0:
            self._end_message()
        else:
            self._state = _BODY_LENGTH
            self._remaining = length
        return None

    def _line_done(self) -> RequestRejected | None:
        line = bytes(self._line)
        self._line.clear()
        if self._state == _TRAILER:
            self._head_seen += len(line)
            if self._head_seen > self.limit_head_bytes:
                return RequestRejected(431, "Request Header Fields Too Large", "trailers")
            if line in (b"\r\n", b"\n"):
                self._end_message()
            return None
        match = _CHUNK_LINE_RE.fullmatch(line)
        if match is None:
            return RequestRejected(400, "Bad Request", f"invalid chunk line {line[:40]!r}")
        size = int(match[1], 16)
        self.body_bytes += size
        limit = self.limit_body_bytes
        if limit is not None and self.body_bytes > limit:
            return RequestRejected(413, "Content Too Large")
        if size == 0:
            self._state = _TRAILER
            self._head_seen = 0
        else:
            self._state = _CHUNK_DATA
            self._remaining = size
        return None


# ---------------------------------------------------------------------------
# Request -> scope
# ---------------------------------------------------------------------------


def build_scope(
    request: h11.Request,
    *,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
    state: dict[str, Any],
    proxy_trusted: bool = False,
) -> HTTPScope:
    """The ASGI ``http`` scope for one parsed request.

    Raises :class:`RequestRejected` (400) for a missing or invalid Host or an
    unparseable absolute-form target. ``proxy_trusted`` means the peer may set the
    client address and scheme through X-Forwarded-For / X-Forwarded-Proto.
    """
    target = request.target
    headers: list[tuple[bytes, bytes]] = []
    host: bytes | None = None
    forwarded_for: bytes | None = None
    forwarded_proto: bytes | None = None
    for name, value in request.headers:
        if name == b"host":
            host = value
        elif proxy_trusted:
            if name == b"x-forwarded-for":
                forwarded_for = value
            elif name == b"x-forwarded-proto":
                forwarded_proto = value
        headers.append((name, value))
    if target[:1] != b"/":
        target, authority = _split_target(target, request.method)
        if authority is not None:
            # RFC 9112 §3.2.2: with an absolute-form target the Host header is replaced
            # by the target's authority.
            host = authority
            headers = [(n, v) for n, v in headers if n != b"host"]
            headers.append((b"host", authority))
    if host is not None and not _HOST_RE.fullmatch(host):
        raise RequestRejected(400, "Bad Request", f"invalid Host {host[:60]!r}")
    if proxy_trusted:
        client, scheme = forwarded_peer(client, scheme, forwarded_for, forwarded_proto)
    raw_path, _, query = target.partition(b"?")
    path = unquote(raw_path.decode("ascii"))
    if root_path:
        path = root_path + path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1" if request.http_version == b"1.1" else "1.0",
        "method": request.method.decode("ascii"),
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root_path,
        "headers": headers,
        "client": client,
        "server": server,
        "state": state,
        "extensions": {"http.response.pathsend": {}},
    }


def _split_target(target: bytes, method: bytes) -> tuple[bytes, bytes | None]:
    """Origin-form target and authority for an absolute-, authority- or asterisk-form one."""
    if target == b"*" and method == b"OPTIONS":
        return b"*", None
    scheme, sep, rest = target.partition(b"://")
    if sep and scheme.lower() in (b"http", b"https"):
        authority, slash, path = rest.partition(b"/")
        authority, question, query = authority.partition(b"?")
        if not authority or b"@" in authority:
            raise RequestRejected(400, "Bad Request", "invalid absolute-form target")
        origin = b"/" + path if slash else b"/"
        if question:
            origin += b"?" + query
        return origin, authority
    if method == b"CONNECT":
        return target, target
    raise RequestRejected(400, "Bad Request", f"invalid request-target {target[:60]!r}")


def forwarded_peer(
    client: tuple[str, int] | None,
    scheme: str,
    forwarded_for: bytes | None,
    forwarded_proto: bytes | None,
) -> tuple[tuple[str, int] | None, str]:
    """Client address and scheme as reported by a trusted proxy.

    X-Forwarded-For lists hops left to right; the rightmost is the one the trusted
    proxy itself saw, so it is the one we take (earlier entries are client-supplied).
    """
    if forwarded_for:
        last = forwarded_for.rpartition(b",")[2].strip()
        if last:
            client = (last.decode("latin-1"), 0)
    if forwarded_proto:
        proto = forwarded_proto.rpartition(b",")[2].strip().lower()
        if proto in (b"http", b"https"):
            scheme = proto.decode("ascii")
    return client, scheme


# ---------------------------------------------------------------------------
# Response validation
# ---------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class ResponseHead:
    """A validated ``http.response.start``: what the server will send, before framing."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content_length: int | None
    has_date: bool
    has_server: bool
    close: bool


def validate_response_start(message: Message) -> ResponseHead:
    """Check an ``http.response.start`` message; raise :class:`InvalidResponse` if bad.

    Header values lose surrounding whitespace; an app ``Transfer-Encoding`` is dropped
    because the server chooses the framing.
    """
    status = message.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise InvalidResponse(f"response status must be an int, got {status!r}")
    if not 200 <= status <= 599:
        raise InvalidResponse(f"response status must be 200-599, got {status!r}")
    raw_headers = message.get("headers", ())
    if isinstance(raw_headers, str | bytes | dict) or not isinstance(raw_headers, Iterable):
        raise InvalidResponse(f"response headers must be an iterable of pairs: {raw_headers!r}")
    headers: list[tuple[bytes, bytes]] = []
    content_length: int | None = None
    has_date = has_server = close = False
    for pair in raw_headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise InvalidResponse(f"response header must be a (name, value) pair: {pair!r}")
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise InvalidResponse(f"response header name and value must be bytes: {pair!r}")
        if not _TOKEN_RE.fullmatch(name):
            raise InvalidResponse(f"invalid response header name {name!r}")
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            raise InvalidResponse(f"response header {name!r} has CR, LF or NUL in its value")
        lname = name.lower()
        value = value.strip(b" \t")
        if lname == b"transfer-encoding":
            continue
        if lname == b"content-length":
            if not value.isdigit() or not value.isascii() or len(value) > 20:
                raise InvalidResponse(f"invalid response Content-Length {value!r}")
            if content_length is not None and content_length != int(value):
                raise InvalidResponse("conflicting response Content-Length headers")
            content_length = int(value)
        elif lname == b"date":
            has_date = True
        elif lname == b"server":
            has_server = True
        elif lname == b"connection":
            close = close or b"close" in value.lower()
        headers.append((lname, value))
    return ResponseHead(status, headers, content_length, has_date, has_server, close)


def body_forbidden(status: int, method: bytes) -> bool:
    """True when a response to ``method`` with ``status`` must not carry a body."""
    return method == b"HEAD" or status in _BODYLESS_STATUSES


# ---------------------------------------------------------------------------
# Date header and error responses
# ---------------------------------------------------------------------------


class DateHeader:
    """The ``Date`` header value, recomputed at most once per second (RFC 9110 §6.6.1)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self, now: float) -> bytes:
        """The IMF-fixdate for ``now`` (a ``time.time()`` value)."""
        second = int(now)
        if second != self._second:
            self._value = formatdate(second, usegmt=True).encode("ascii")
            self._second = second
        return self._value


def error_response(
    status: int, *, date: bytes | None, server: bool, head_only: bool = False
) -> bytes:
    """A complete, self-framed error response that closes the connection."""
    phrase = reason_phrase(status)
    body = b"" if head_only else b"%d %s\n" % (status, phrase)
    lines = [
        b"HTTP/1.1 %d %s" % (status, phrase),
        b"content-type: text/plain; charset=utf-8",
        b"content-length: %d" % (len(body) if not head_only else len(phrase) + 5),
        b"connection: close",
    ]
    if date is not None:
        lines.append(b"date: " + date)
    if server:
        lines.append(b"server: tornadoish")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
