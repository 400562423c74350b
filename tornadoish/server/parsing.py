"""Pure HTTP/1.1 decisions for the server: scopes, response heads, errors (layer: server).

Nothing here touches a socket, a transport or asyncio: values in, values out. The
connection protocol (``protocol.py``) turns each :class:`RequestHead` (parsed in
``framing.py``) into a scope with :func:`build_scope`, checks every
``http.response.start`` with :func:`validate_response_start` and writes heads with
:func:`response_head`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import quote, unquote

from tornadoish.types import HTTPScope, Message

__all__ = [
    "BODYLESS_STATUSES",
    "TCHARS",
    "TOKEN_RE",
    "DateHeader",
    "InvalidResponse",
    "RequestHead",
    "RequestRejected",
    "ResponseHead",
    "build_scope",
    "describe_client",
    "describe_request",
    "error_response",
    "forwarded_peer",
    "reason_phrase",
    "response_head",
    "validate_response_start",
]

# RFC 9110 §5.6.2 tchar, and token = 1*tchar: methods, header names, subprotocols.
TCHARS: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_RE: Final = re.compile(b"[" + re.escape(TCHARS) + b"]+")
# RFC 9110 §7.2 Host = uri-host [ ":" port ]; reg-name, IPv4 or a bracketed IPv6 literal.
_HOST_RE: Final = re.compile(
    rb"(?:[-A-Za-z0-9._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+\])"
    rb"(?::[0-9]*)?"
)
_CONTENT_LENGTH_MAX_DIGITS: Final = 20
# Response header names already found to be tokens, and their lower-case form: apps send
# the same few names on every response. Bounded, so that an app inventing names (say
# from user input) cannot grow it without limit; past the bound names are just checked.
_CHECKED_NAMES: Final[dict[bytes, bytes]] = {}
_CHECKED_NAMES_MAX: Final = 1024
# Response headers the server reads as well as forwards (or drops).
_SPECIAL_RESPONSE_HEADERS: Final = frozenset(
    (b"transfer-encoding", b"content-length", b"date", b"server", b"connection")
)

_REASONS: Final = {int(s): s.phrase.encode("ascii") for s in HTTPStatus}
# Statuses whose responses never carry a body (RFC 9110 §6.4.1).
BODYLESS_STATUSES: Final = frozenset({204, 304})


def reason_phrase(status: int) -> bytes:
    """The standard reason phrase for ``status``, or ``b""`` for an unregistered code."""
    return _REASONS.get(status, b"")


@dataclasses.dataclass(slots=True)
class RequestHead:
    """A parsed and checked request head (header names lower-cased, values trimmed)."""

    method: bytes
    target: bytes
    http_version: bytes  # b"1.1" or b"1.0"
    headers: list[tuple[bytes, bytes]]
    # Whether the client lets the connection be reused after this exchange.
    keep_alive: bool = True
    expect_continue: bool = False
    # Whether the request carries an Upgrade header (the protocol decides what of it).
    upgrade: bool = False


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
# Request -> scope
# ---------------------------------------------------------------------------


def build_scope(
    request: RequestHead,
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
        # The proxy stripped the prefix; put it back in both, as the ASGI spec reads
        # `path` and `raw_path` (the full path, root_path included).
        path = root_path + path
        raw_path = quote(root_path).encode("ascii") + raw_path
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
    if type(raw_headers) is not list and (  # a list: the usual case, no ABC check
        isinstance(raw_headers, str | bytes | dict) or not isinstance(raw_headers, Iterable)
    ):
        raise InvalidResponse(f"response headers must be an iterable of pairs: {raw_headers!r}")
    headers: list[tuple[bytes, bytes]] = []
    content_length: int | None = None
    has_date = has_server = close = False
    names = _CHECKED_NAMES
    for pair in raw_headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise InvalidResponse(f"response header must be a (name, value) pair: {pair!r}")
        lname = names.get(name) if type(name) is bytes else None
        if lname is None:
            lname = _check_name(name, pair)
        if type(value) is not bytes and not isinstance(value, bytes):
            raise InvalidResponse(f"response header name and value must be bytes: {pair!r}")
        # Byte values, not one-byte strings: `13 in value` is a plain memchr, about
        # ten times faster than `b"\r" in value` (which goes through substring search).
        if 13 in value or 10 in value or 0 in value:
            raise InvalidResponse(f"response header {name!r} has CR, LF or NUL in its value")
        value = value.strip(b" \t")
        if lname in _SPECIAL_RESPONSE_HEADERS:
            if lname == b"transfer-encoding":
                continue
            if lname == b"content-length":
                if (
                    not value.isdigit()
                    or not value.isascii()
                    or len(value) > _CONTENT_LENGTH_MAX_DIGITS
                ):
                    raise InvalidResponse(f"invalid response Content-Length {value!r}")
                if content_length is not None and content_length != int(value):
                    raise InvalidResponse("conflicting response Content-Length headers")
                content_length = int(value)
            elif lname == b"date":
                has_date = True
            elif lname == b"server":
                has_server = True
            else:
                close = close or b"close" in value.lower()
        headers.append((lname, value))
    return ResponseHead(status, headers, content_length, has_date, has_server, close)


def _check_name(name: object, pair: object) -> bytes:
    """The lower-cased form of a response header name not seen before, or the error."""
    if not isinstance(name, bytes):
        raise InvalidResponse(f"response header name and value must be bytes: {pair!r}")
    if not TOKEN_RE.fullmatch(name):
        raise InvalidResponse(f"invalid response header name {name!r}")
    lname = name.lower()
    if type(name) is bytes and len(_CHECKED_NAMES) < _CHECKED_NAMES_MAX:
        _CHECKED_NAMES[name] = lname
    return lname


def response_head(status: int, headers: list[tuple[bytes, bytes]], reason: bytes = b"") -> bytes:
    """The bytes of a response head; ``headers`` must have been checked already."""
    lines = [_status_line(status, reason)]
    for name, value in headers:
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


_STATUS_LINES: Final[dict[int, bytes]] = {}


def _status_line(status: int, reason: bytes) -> bytes:
    if reason:
        return b"HTTP/1.1 %d %s\r\n" % (status, reason)
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))
    return line


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
    status: int,
    *,
    date: bytes | None,
    server: bool,
    head_only: bool = False,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """A complete, self-framed error response that closes the connection."""
    body = b"%d %s\n" % (status, reason_phrase(status))
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    if date is not None:
        headers.append((b"date", date))
    if server:
        headers.append((b"server", b"tornadoish"))
    headers.extend(extra_headers)
    return response_head(status, headers) + (b"" if head_only else body)


def describe_client(scope: Mapping[str, object]) -> str:
    """``host:port`` of the scope's client for logs, or ``-`` (unix sockets)."""
    client = cast("tuple[str, int] | None", scope["client"])
    return "-" if client is None else f"{client[0]}:{client[1]}"


def describe_request(scope: Mapping[str, object]) -> str:
    """The request line as the client sent it (``GET /p?q HTTP/1.1``), for logs."""
    query = cast(bytes, scope["query_string"])
    target = cast(bytes, scope["raw_path"]) + (b"?" + query if query else b"")
    method = scope.get("method", "GET")  # a websocket scope has none: always GET
    return f"{method} {target.decode('ascii', 'replace')} HTTP/{scope['http_version']}"
