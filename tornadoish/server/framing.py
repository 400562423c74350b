"""Raw request framing, ahead of h11: limits and RFC 9112 framing rules (layer: server, pure).

h11 parses HTTP/1.1; :class:`RequestFramer` sees every byte first and enforces what h11
leaves to us. No asyncio, no sockets: bytes in, bytes and verdicts out.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

from tornadoish.server.parsing import RequestRejected

__all__ = [
    "HTTP10_KEEP_ALIVE",
    "HTTP10_KEEP_ALIVE_NO_HOST",
    "MAX_CHUNK_LINE_BYTES",
    "PLAIN_HEAD",
    "RequestFramer",
]

# Kinds of completed heads, in RequestFramer.head_kinds (one entry per head, in order).
# h11 never keeps an HTTP/1.0 connection alive, so an HTTP/1.0 head asking for
# keep-alive is handed to h11 as HTTP/1.1 (with an empty Host line when it had none);
# the protocol restores the truth in the scope and frames the response for HTTP/1.0.
PLAIN_HEAD: Final = 0
HTTP10_KEEP_ALIVE: Final = 1
HTTP10_KEEP_ALIVE_NO_HOST: Final = 2

# A chunk-size line is a hex number and optional extensions nobody uses. 4 KiB is far
# more than any real client sends and keeps a stream of junk from growing a buffer.
MAX_CHUNK_LINE_BYTES: Final = 4096
# Method, two spaces, "HTTP/1.1" and CRLF around the request-target: the slack allowed on
# top of the URI limit before an unfinished request line is declared too long.
_REQUEST_LINE_SLACK: Final = 64
# RFC 9112 §2.3 HTTP-version, with any number of digits so that "HTTP/10.0" gets 505.
_VERSION_RE: Final = re.compile(rb"HTTP/[0-9]+\.[0-9]+")
# RFC 9112 §7.1: chunk-size [ chunk-ext ] with no CR or LF inside the extensions
# (a bare CR there is read as a line end by some proxies: a smuggling vector).
_CHUNK_LINE_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(;[^\r\n]*)?[ \t]*\r\n")
# End of a head, as h11 finds it (LF or CRLF line ends).
_HEAD_END_RE: Final = re.compile(rb"\n\r?\n")
_CONTENT_LENGTH_MAX_DIGITS: Final = 20
# RFC 9110 §5.6.2 tchar: a request line starts with a method, which is a token; any
# other first byte (a TLS ClientHello, binary junk) is refused without waiting for more.
_TCHAR: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

_HEAD: Final = 0
_BODY_LENGTH: Final = 1
_CHUNK_LINE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_CRLF: Final = 4
_TRAILER: Final = 5
_STOPPED: Final = 6
# After a request asking for a protocol upgrade: later bytes are held, unexamined, until
# the protocol knows whether the switch happened (they may be WebSocket frames).
_HELD: Final = 7


class RequestFramer:
    """Follows request boundaries over the raw byte stream, ahead of h11.

    h11 parses; this class only enforces what h11 leaves to us, and must see every byte
    first: hard limits on head size, header count and URI length, RFC 9112 framing rules
    (Transfer-Encoding + Content-Length, final coding chunked, no CR in chunk extensions),
    505 for non-1.x versions, the body size limit, and the one leading CRLF that RFC 9112
    §2.2 says to ignore (h11 would reject it).

    :meth:`feed` returns the bytes to hand to h11 and, once a request breaks a rule, the
    :class:`RequestRejected` that applies after those bytes. After that the framer stops:
    later bytes are dropped, since the connection will be closed. Heads are handed over
    only once complete (h11 never buffers a partial head); bodies stream through.
    """

    __slots__ = (
        "_head",
        "_head_seen",
        "_held",
        "_held_cr",
        "_line",
        "_remaining",
        "_state",
        "_upgrade",
        "body_bytes",
        "head_kinds",
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
        self._held = bytearray()
        self._upgrade = False
        self._line = bytearray()
        self._remaining = 0
        # Decoded body bytes of the current request (for the body limit).
        self.body_bytes = 0
        # One PLAIN_HEAD / HTTP10_KEEP_ALIVE* entry per head handed over, oldest first.
        self.head_kinds: deque[int] = deque()

    @property
    def head_in_progress(self) -> bool:
        """True when part, not all, of a request head has arrived."""
        return self._state == _HEAD and self._head_seen > 0

    def feed(self, data: bytes) -> tuple[bytes, RequestRejected | None]:
        """Scan ``data``; return the bytes h11 may see and the error that follows them."""
        state = self._state
        if state == _STOPPED:
            return b"", None
        if state == _HELD:
            self._held += data
            return b"", None
        if self._held_cr:
            self._held_cr = False
            data = data[1:] if data[:1] == b"\n" else b"\r" + data
        pieces: list[bytes] = []
        pos = 0
        end = len(data)
        error: RequestRejected | None = None
        while pos < end:
            if state == _HELD:
                self._held += data[pos:]
                break
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
                taken, head, error = self._scan_head(data, pos)
                if error is not None:
                    break
                if head is not None:
                    pieces.append(head)
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

    @property
    def holding(self) -> bool:
        """True after an upgrade request: bytes are held until :meth:`resume` or
        :meth:`take_held`."""
        return self._state == _HELD

    def resume(self) -> tuple[bytes, RequestRejected | None]:
        """The upgrade did not happen: scan the held bytes as ordinary requests."""
        if self._state != _HELD:
            return b"", None
        held = bytes(self._held)
        self._held.clear()
        self._state = _HEAD
        return self.feed(held) if held else (b"", None)

    def take_held(self) -> bytes:
        """The upgrade happened: the bytes after the request belong to the new protocol."""
        held = bytes(self._held)
        self._held.clear()
        self._state = _STOPPED
        return held

    def _end_message(self) -> None:
        self._state = _HELD if self._upgrade else _HEAD
        self._upgrade = False
        self._head_seen = 0
        self.body_bytes = 0

    def _scan_head(self, data: bytes, pos: int) -> tuple[int, bytes | None, RequestRejected | None]:
        """Consume head bytes from ``data[pos:]``: how many, the complete head if any
        (as h11 must see it), or the error."""
        head = self._head
        if not head:
            if data[pos] not in _TCHAR:
                return 0, None, RequestRejected(400, "Bad Request", "invalid request line")
            match = _HEAD_END_RE.search(data, pos)
            if match is not None:
                taken = match.end() - pos
                self._head_seen += taken
                return (taken, *self._head_done(data[pos : match.end()]))
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
                return taken, None, RequestRejected(431, "Request Header Fields Too Large")
            if len(head) > self.limit_uri_bytes + _REQUEST_LINE_SLACK and b"\n" not in head:
                return taken, None, RequestRejected(414, "URI Too Long")
            return taken, None, None
        complete = bytes(head[: match.end()])
        taken = match.end() - already
        head.clear()
        self._head_seen += taken
        return (taken, *self._head_done(complete))

    def _head_done(self, head: bytes) -> tuple[bytes | None, RequestRejected | None]:
        """Check a complete head, choose the body framing for what follows, and return
        the head as h11 must see it (or the error)."""
        if self._head_seen > self.limit_head_bytes:
            return None, RequestRejected(431, "Request Header Fields Too Large")
        lines = head.split(b"\n")
        del lines[-2:]
        parts = lines[0].rstrip(b"\r").split(b" ")
        http_10 = False
        if len(parts) == 3:
            target, version = parts[1], parts[2]
            if len(target) > self.limit_uri_bytes:
                return None, RequestRejected(414, "URI Too Long")
            if version != b"HTTP/1.1":
                if _VERSION_RE.fullmatch(version) and not (
                    len(version) == 8 and version.startswith(b"HTTP/1.")
                ):
                    return None, RequestRejected(505, "HTTP Version Not Supported")
                http_10 = version == b"HTTP/1.0"
        if len(lines) - 1 > self.limit_header_count:
            return None, RequestRejected(431, "Request Header Fields Too Large", "too many")
        codings: list[bytes] | None = None
        lengths: list[bytes] | None = None
        connection: set[bytes] = set()
        has_host = upgrade = False
        for line in lines[1:]:
            first = line[:1]
            if first in (b" ", b"\t"):
                # RFC 9112 §5.2: obs-fold may be rejected; folded framing headers are a
                # smuggling favourite, so reject all of it.
                return None, RequestRejected(400, "Bad Request", "obsolete line folding")
            if first in (b"t", b"T"):
                name, _, value = line.partition(b":")
                if name.lower() == b"transfer-encoding":
                    codings = codings or []
                    codings.extend(value.split(b","))
            elif first in (b"c", b"C"):
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"content-length":
                    lengths = lengths or []
                    lengths.extend(value.split(b","))
                elif http_10 and name == b"connection":
                    connection.update(t.strip(b" \t\r").lower() for t in value.split(b","))
            elif http_10 and first in (b"h", b"H"):
                has_host = has_host or line.partition(b":")[0].lower() == b"host"
            elif first in (b"u", b"U"):
                upgrade = upgrade or line.partition(b":")[0].lower() == b"upgrade"
        self._upgrade = upgrade
        if codings is not None:
            error = self._chunked_framing(codings, lengths is not None, http_10)
        elif lengths is not None:
            error = self._length_framing(lengths)
        else:
            self._end_message()
            error = None
        if error is not None:
            return None, error
        if b"keep-alive" in connection and b"close" not in connection:
            headers = [line.rstrip(b"\r") for line in lines[1:]]
            if not has_host:
                headers.append(b"Host: ")
            self.head_kinds.append(HTTP10_KEEP_ALIVE if has_host else HTTP10_KEEP_ALIVE_NO_HOST)
            return b"\r\n".join(
                [b"%s %s HTTP/1.1" % (parts[0], parts[1]), *headers, b"", b""]
            ), None
        self.head_kinds.append(PLAIN_HEAD)
        return head, None

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
