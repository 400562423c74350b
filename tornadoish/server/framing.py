"""Request framing and parsing: raw bytes to request heads and body pieces (layer: server, pure).

No asyncio, no sockets: bytes in, events out. :class:`RequestParser` is the whole
receiving half of HTTP/1.1 for the connection protocol: request heads, limits, RFC 9112
framing rules and chunked decoding. (It replaced h11 on this side: parsing the head
once, here, where the limits had to look at it anyway, halved the server's cost per
request; see the performance notes in ``protocol.py``.)
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

from tornadoish.server.parsing import TCHARS, TOKEN_RE, RequestHead, RequestRejected

__all__ = ["END_OF_MESSAGE", "MAX_CHUNK_LINE_BYTES", "Event", "RequestParser"]


class _EndOfMessage:
    """The request body is complete (trailers, if any, were read and ignored)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE: Final = _EndOfMessage()
# What RequestParser.events holds: a head, body bytes, the end of a message, or the
# error that ends the stream (always last).
Event = RequestHead | bytes | _EndOfMessage | RequestRejected

# A chunk-size line is a hex number and optional extensions nobody uses. 4 KiB is far
# more than any real client sends and keeps a stream of junk from growing a buffer.
MAX_CHUNK_LINE_BYTES: Final = 4096
# Method, two spaces, "HTTP/1.1" and CRLF around the request-target: the slack allowed on
# top of the URI limit before an unfinished request line is declared too long.
_REQUEST_LINE_SLACK: Final = 64
# RFC 9112 §2.3 HTTP-version, with any number of digits so that "HTTP/10.0" gets 505.
_VERSION_RE: Final = re.compile(rb"HTTP/[0-9]+\.[0-9]+")
_TOKEN: Final = TOKEN_RE.pattern
# RFC 9112 §3 request-line (single spaces, an origin/absolute/authority/asterisk target
# of visible ASCII) then RFC 9112 §5 field lines: a token name, a colon and a value free
# of NUL, CR, LF, VT and FF (the characters RFC 9110 §5.5 forbids or h11 refuses), each
# line ending in CRLF or a bare LF. One regex for the whole head: one pass in C.
_HEAD_RE: Final = re.compile(
    rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])\r?\n"
    rb"(?:" + _TOKEN + rb":[^\x00\n\r\x0b\x0c]*\r?\n)*\r?\n"
)
_FIELD_LINE_RE: Final = re.compile(_TOKEN + rb":[^\x00\n\r\x0b\x0c]*\r?\n")
# RFC 9112 §7.1: chunk-size [ chunk-ext ] with no CR or LF inside the extensions
# (a bare CR there is read as a line end by some proxies: a smuggling vector).
_CHUNK_LINE_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(;[^\r\n]*)?[ \t]*\r\n")
# End of a head (LF or CRLF line ends).
_HEAD_END_RE: Final = re.compile(rb"\n\r?\n")
_CONTENT_LENGTH_MAX_DIGITS: Final = 20
# A request line starts with a method, which is a token; any other first byte (a TLS
# ClientHello, binary junk) is refused without waiting for more.
_TCHAR: Final = frozenset(TCHARS)
# Header names that decide framing or connection handling: only these get a second look.
_FRAMING_HEADERS: Final = frozenset(
    (b"transfer-encoding", b"content-length", b"connection", b"host", b"expect", b"upgrade")
)

_HEAD: Final = 0
_BODY_LENGTH: Final = 1
_CHUNK_LINE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_CRLF: Final = 4
_TRAILER: Final = 5
# After an error or a request that closes the connection: later bytes are dropped.
_STOPPED: Final = 6
# After a request asking for a protocol upgrade: later bytes are held, unexamined, until
# the protocol knows whether the switch happened (they may be WebSocket frames).
_HELD: Final = 7
# After a complete request on a connection that stays open: later bytes (a pipelined
# request) are kept unparsed until resume(), once the response is done. Parsing ahead
# would turn limit_buffered_bytes of tiny pipelined requests into ~15x as much memory
# in parsed objects.
_WAITING: Final = 8


class RequestParser:
    """Turns the raw byte stream of one connection into request events.

    :meth:`feed` appends to :attr:`events`, in stream order: a :class:`RequestHead`,
    then body pieces (``bytes``, chunked coding removed), then :data:`END_OF_MESSAGE`.
    Bytes after that wait unparsed until :meth:`resume` (the connection calls it when
    the response is done), so a pipelined request is parsed only when its turn comes.
    A request that breaks a rule ends the stream with its :class:`RequestRejected` (the
    status to answer with); later bytes are dropped.

    Enforced here: hard limits on head size, header count and URI length; RFC 9112
    request-line and field syntax; framing (Transfer-Encoding + Content-Length, final
    coding chunked, no CR in chunk extensions, CRLF after chunk data); a single Host
    header on HTTP/1.1; 505 for non-1.x versions; the body size limit; and the one
    leading CRLF that RFC 9112 §2.2 says to ignore. Heads are parsed only once complete;
    bodies stream through as they arrive.
    """

    __slots__ = (
        "_after_message",
        "_head",
        "_head_seen",
        "_held",
        "_held_cr",
        "_line",
        "_remaining",
        "_state",
        "body_bytes",
        "events",
        "failed",
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
        # Where the stream goes once the current message ends.
        self._after_message = _HEAD
        self._head = bytearray()
        # Bytes of the current head seen so far, the skipped CRLF included.
        self._head_seen = 0
        self._held_cr = False
        self._held = bytearray()
        self._line = bytearray()
        self._remaining = 0
        # Decoded body bytes of the current request (for the body limit).
        self.body_bytes = 0
        self.events: deque[Event] = deque()
        # True once a RequestRejected was queued.
        self.failed = False

    @property
    def head_in_progress(self) -> bool:
        """True when part, not all, of a request head has arrived."""
        return self._state == _HEAD and self._head_seen > 0

    @property
    def stopped(self) -> bool:
        """True when no further request will be parsed on this connection."""
        return self._state == _STOPPED

    @property
    def held_bytes(self) -> int:
        """How many bytes wait unparsed (a pipelined request, or what followed an
        upgrade request)."""
        return len(self._held)

    @property
    def holding(self) -> bool:
        """True after an upgrade request: bytes are held until :meth:`resume` or
        :meth:`take_held`."""
        return self._state == _HELD

    def feed(self, data: bytes) -> None:
        """Parse ``data``, appending what it completes to :attr:`events`."""
        state = self._state
        if state == _STOPPED:
            return
        if state >= _HELD:  # _HELD or _WAITING
            self._held += data
            return
        if self._held_cr:
            self._held_cr = False
            data = data[1:] if data[:1] == b"\n" else b"\r" + data
        events = self.events
        pos = 0
        end = len(data)
        error: RequestRejected | None = None
        while pos < end:
            if state >= _STOPPED:
                if state != _STOPPED:  # _HELD or _WAITING
                    self._held += data[pos:]
                break  # (after a request that closes the connection: dropped)
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
                        break
                taken, error = self._scan_head(data, pos)
                if error is not None:
                    break
                pos += taken
            elif state in (_BODY_LENGTH, _CHUNK_DATA):
                take = min(self._remaining, end - pos)
                events.append(data[pos : pos + take] if take < end or pos else data)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == _BODY_LENGTH:
                        self._end_message()
                    else:
                        self._state = _CHUNK_CRLF
                        self._line.clear()
            elif state == _CHUNK_CRLF:
                # The CRLF after chunk data, exactly (h11 0.16 and RFC 9112 §7.1).
                take = min(2 - len(self._line), end - pos)
                self._line += data[pos : pos + take]
                pos += take
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        error = RequestRejected(400, "Bad Request", "no CRLF after chunk data")
                        break
                    self._line.clear()
                    self._state = _CHUNK_LINE
            else:  # a chunk-size line or a trailer line
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._line += data[pos:stop]
                pos = stop
                if newline >= 0:
                    error = self._line_done()
                elif state == _CHUNK_LINE and len(self._line) > MAX_CHUNK_LINE_BYTES:
                    error = RequestRejected(400, "Bad Request", "chunk line too long")
                elif state == _TRAILER and self._head_seen + len(self._line) > (
                    self.limit_head_bytes
                ):
                    error = RequestRejected(431, "Request Header Fields Too Large", "trailers")
                if error is not None:
                    break
            state = self._state
        if error is not None:
            self._state = _STOPPED
            self.failed = True
            events.append(error)

    def resume(self) -> None:
        """Parse what was held: the next request, once the one before is answered, or
        the bytes after an upgrade request when the upgrade did not happen."""
        if self._state < _HELD:
            return
        self._state = _HEAD
        if self._held:
            held = bytes(self._held)
            self._held.clear()
            self.feed(held)

    def take_held(self) -> bytes:
        """The upgrade happened: the bytes after the request belong to the new protocol."""
        held = bytes(self._held)
        self._held.clear()
        self._state = _STOPPED
        return held

    def _end_message(self) -> None:
        self.events.append(END_OF_MESSAGE)
        self._state = self._after_message
        self._head_seen = 0
        self.body_bytes = 0

    def _scan_head(self, data: bytes, pos: int) -> tuple[int, RequestRejected | None]:
        """Consume head bytes from ``data[pos:]``: how many, or the error."""
        head = self._head
        if not head:
            if data[pos] not in _TCHAR:
                return 0, RequestRejected(400, "Bad Request", "invalid request line")
            match = _HEAD_END_RE.search(data, pos)
            if match is not None:
                taken = match.end() - pos
                self._head_seen += taken
                whole = data if pos == 0 and taken == len(data) else data[pos : match.end()]
                return taken, self._head_done(whole)
            search_from = 0
        else:
            search_from = max(0, len(head) - 2)
        already = len(head)
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
        taken = match.end() - already
        head.clear()
        self._head_seen += taken
        return taken, self._head_done(complete)

    def _head_done(self, head: bytes) -> RequestRejected | None:
        """Parse and check a complete head, queue it and choose the body framing."""
        if self._head_seen > self.limit_head_bytes:
            return RequestRejected(431, "Request Header Fields Too Large")
        lines = head.split(b"\n")
        del lines[-2:]
        parts = lines[0].rstrip(b"\r").split(b" ")
        if len(parts) == 3:
            if len(parts[1]) > self.limit_uri_bytes:
                return RequestRejected(414, "URI Too Long")
            version = parts[2]
            if (
                version != b"HTTP/1.1"
                and _VERSION_RE.fullmatch(version)
                and not (len(version) == 8 and version.startswith(b"HTTP/1."))
            ):
                return RequestRejected(505, "HTTP Version Not Supported")
        if len(lines) - 1 > self.limit_header_count:
            return RequestRejected(431, "Request Header Fields Too Large", "too many")
        match = _HEAD_RE.fullmatch(head)
        if match is None:
            if any(line[:1] in (b" ", b"\t") for line in lines[1:]):
                # RFC 9112 §5.2: obs-fold may be rejected; folded framing headers are a
                # smuggling favourite, so reject all of it.
                return RequestRejected(400, "Bad Request", "obsolete line folding")
            return RequestRejected(400, "Bad Request", f"invalid request head {head[:80]!r}")
        method, target, version = match.groups()
        # Any HTTP/1.x after 1.0 speaks 1.1 (RFC 9110 §2.5: minor versions are compatible).
        http_11 = version != b"1.0"
        if http_11:
            version = b"1.1"
        headers: list[tuple[bytes, bytes]] = []
        codings: list[bytes] | None = None
        lengths: list[bytes] | None = None
        connection: list[bytes] | None = None
        hosts = 0
        expect_continue = upgrade = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            value = value.strip(b" \t\r")
            headers.append((name, value))
            if name in _FRAMING_HEADERS:
                if name == b"content-length":
                    lengths = lengths or []
                    lengths.extend(value.split(b","))
                elif name == b"host":
                    hosts += 1
                elif name == b"transfer-encoding":
                    codings = codings or []
                    codings.extend(value.split(b","))
                elif name == b"connection":
                    connection = connection or []
                    connection.extend(t.strip(b" \t").lower() for t in value.split(b","))
                elif name == b"expect":
                    expect_continue = value.lower() == b"100-continue"
                else:
                    upgrade = True
        if http_11 and hosts != 1:
            # RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request.
            detail = "no Host header" if not hosts else "more than one Host header"
            return RequestRejected(400, "Bad Request", detail)
        if connection is None:
            keep_alive = http_11
        elif http_11:
            keep_alive = b"close" not in connection
        else:
            # RFC 9112 §9.3: an HTTP/1.0 client that asks for keep-alive may get it.
            keep_alive = b"keep-alive" in connection and b"close" not in connection
        if codings is not None:
            error = self._chunked_framing(codings, lengths is not None, http_11)
        elif lengths is not None:
            error = self._length_framing(lengths)
        else:
            error = None
        if error is not None:
            return error
        self.events.append(
            RequestHead(method, target, version, headers, keep_alive, expect_continue, upgrade)
        )
        self._after_message = _HELD if upgrade else _WAITING if keep_alive else _STOPPED
        if codings is None and self._state == _HEAD:
            self._end_message()
        return None

    def _chunked_framing(
        self, raw_codings: list[bytes], has_length: bool, http_11: bool
    ) -> RequestRejected | None:
        if has_length:
            # RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling
            # signature; answer 400, then close.
            return RequestRejected(400, "Bad Request", "Transfer-Encoding with Content-Length")
        if not http_11:
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
        if length:
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
            elif not _FIELD_LINE_RE.fullmatch(line):
                return RequestRejected(400, "Bad Request", f"invalid trailer {line[:40]!r}")
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
