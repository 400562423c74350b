"""Response output: status, headers, body buffering, flush/finish, redirects and ETags
(layer: framework).

``write()``, ``set_header()`` and ``set_status()`` only buffer. ``flush()`` and
``finish()`` queue what is buffered and return an awaitable: awaiting it sends the
queue to the server; not awaiting it (Tornado code calls ``self.finish()`` bare all
the time) is fine too, because the framework sends whatever is queued when the
handler method returns.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import time
from collections.abc import Generator
from typing import Any

import anyio

from tornadoish import _asgi
from tornadoish._cookies import CookiesMixin
from tornadoish.compression import GzipEncoder
from tornadoish.escape import json_encode, utf8
from tornadoish.httputil import HTTPHeaders, _normalize_name, format_timestamp, reason_phrase
from tornadoish.request import HTTPServerRequest

__all__ = ["HeaderValue", "OutputMixin"]

# RFC 9110 §5.5: field values must not carry CR, LF, NUL or other controls (HTAB is
# allowed); they would split or forge the response. Tornado's set, DEL included.
UNSAFE_HEADER_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What a header value may hold (RFC 9110 §5.5: HTAB, SP, VCHAR, obs-text): nothing
# beyond latin-1 either, so a bad value fails in set_header() with a clean 500 rather
# than at send time, when no error page can be sent any more. Tornado's rule.
_VALID_HEADER_VALUE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# RFC 9110 §5.1: a field name is a token.
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). An empty reason is
# not one (the status line then omits it): it becomes "Unknown", as in Tornado.
_REASON_PHRASE_RE = re.compile(r"[\t \x21-\x7e\x80-\xff]+")
# An entity-tag as it appears in If-None-Match (RFC 9110 §8.8.3).
_ETAG_RE = re.compile(r'\*|(?:W/)?"[^"]*"')
NO_BODY_STATUSES = frozenset((204, 304))
_ETAG_METHODS = frozenset(("GET", "HEAD"))
_REPRESENTATION_HEADERS = ("Content-Encoding", "Content-Language", "Content-Type")

HeaderValue = str | bytes | int | datetime.datetime

# Response header names as ASGI wants them (lower-case latin-1 bytes). The same few
# names go out on every response; the cache is bounded against apps making up names.
_RAW_NAMES: dict[str, bytes] = {}
_RAW_NAMES_CACHE_SIZE = 1000


def _raw_header_name(name: str) -> bytes:
    raw = _RAW_NAMES.get(name)
    if raw is None:
        raw = name.lower().encode("latin-1")
        if len(_RAW_NAMES) < _RAW_NAMES_CACHE_SIZE:
            _RAW_NAMES[name] = raw
    return raw


# Header names set_header() has already checked, mapped to their normalized spelling
# (the HTTPHeaders key): the same few names are set on every response. Bounded too.
_CHECKED_NAMES: dict[str, str] = {}


def _checked_header_name(name: object) -> str:
    if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    key = _normalize_name(name)
    if len(_CHECKED_NAMES) < _RAW_NAMES_CACHE_SIZE:
        _CHECKED_NAMES[name] = key
    return key


def _default_etag(body_parts: list[bytes]) -> str:
    """What the default ``compute_etag()`` returns for this body."""
    if len(body_parts) == 1:  # the usual body: one write(), hashed in one call
        return '"' + hashlib.sha1(body_parts[0]).hexdigest() + '"'
    hasher = hashlib.sha1()
    for part in body_parts:
        hasher.update(part)
    return f'"{hasher.hexdigest()}"'


class _SendAwaitable:
    """What ``flush()``/``finish()`` return: awaiting it sends the queued response."""

    __slots__ = ("_output",)

    def __init__(self, output: OutputMixin) -> None:
        self._output = output

    def __await__(self) -> Generator[Any, None, None]:
        return self._output._send_queued().__await__()


class OutputMixin(CookiesMixin):
    """The output half of RequestHandler."""

    request: HTTPServerRequest
    _finished: bool
    _headers_written: bool
    _queue: list[tuple[int, list[tuple[bytes, bytes]] | None, bytes, bool]]
    _responder: _asgi.Responder | None
    _sending: bool
    # Set when the current sender has drained the queue; made only when a second
    # caller has to wait for it (concurrent flush()/finish() awaiters).
    _send_done: anyio.Event | None = None
    _client_gone: bool
    _body_path: str | None = None  # set by _finish_with_file
    _gzip: GzipEncoder | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (RequestHandler provides them)."""
        raise NotImplementedError  # RequestHandler provides the application's settings

    # -- status and headers -----------------------------------------------------------

    def clear(self) -> None:
        """Reset headers (to the defaults), status and the unsent body."""
        # HTTPHeaders() with its one default header, made without the generic __init__
        # and name normalization: this runs for every request.
        headers = self._headers = HTTPHeaders.__new__(HTTPHeaders)
        headers._values = {"Content-Type": ["text/html; charset=UTF-8"]}
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    def set_default_headers(self) -> None:
        """Override to set headers on every response, error pages included."""

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        """Set the status; an unknown code gets the reason ``Unknown``."""
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise TypeError(f"status code must be an int, got {status_code!r}")
        self._status_code = status_code
        if reason is not None:
            if "<" in reason or not _REASON_PHRASE_RE.fullmatch(reason):
                # A reason with CR/LF would split the response; one with markup could
                # reach an error page. Either way it is replaced, as Tornado does.
                reason = "Unknown"
            self._reason = reason
        else:
            self._reason = reason_phrase(status_code)

    def get_status(self) -> int:
        """The response status code set so far (200 unless changed)."""
        return self._status_code

    def set_header(self, name: str, value: HeaderValue) -> None:
        """Set (replace) a response header."""
        try:
            key = _CHECKED_NAMES[name]
        except (KeyError, TypeError):  # not checked yet, or not even hashable
            key = _checked_header_name(name)
        # A printable ASCII str (the usual value) passes the value check; anything else
        # gets the full check and conversion.
        if isinstance(value, str) and value.isascii() and value.isprintable():
            text = value
        else:
            text = self._convert_header_value(value)
        self._headers._values[key] = [text]

    def add_header(self, name: str, value: HeaderValue) -> None:
        """Add a response header beside existing ones of the same name."""
        self._headers.add(_checked_header_name(name), self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Remove a response header (all its values)."""
        if name in self._headers:
            del self._headers[name]

    @staticmethod
    def _convert_header_value(value: HeaderValue) -> str:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bytes):
            text = value.decode("latin-1")
        elif isinstance(value, bool):
            raise TypeError(f"unsupported header value {value!r}")
        elif isinstance(value, int):
            return str(value)
        elif isinstance(value, datetime.datetime):
            return format_timestamp(value)
        else:
            raise TypeError(f"unsupported header value {value!r}")
        if not _VALID_HEADER_VALUE_RE.fullmatch(text):
            raise ValueError(f"unsafe header value {text!r}")
        return text

    # -- body -------------------------------------------------------------------------

    def write(self, chunk: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Buffer ``chunk``; a dict or list is sent as JSON (``application/json``)."""
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        value: object = chunk  # checked at run time: untyped callers pass anything
        if type(value) is bytes:  # the usual chunks first: no further checks
            self._write_buffer.append(value)
            return
        if type(value) is str:
            self._write_buffer.append(value.encode("utf-8"))
            return
        if isinstance(value, dict | list):
            value = self._encode_json(value)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif not isinstance(value, bytes):
            message = "write() only accepts bytes, str, dict and list objects"
            raise TypeError(f"{message}, got {type(value).__name__}")
        self._write_buffer.append(value)

    def _encode_json(self, value: Any) -> str:
        encoder = self.settings.get("json_encoder")
        if encoder is None:
            return json_encode(value)
        text: str = json.dumps(value, cls=encoder)
        return text.replace("</", "<\\/")

    def flush(self, include_footers: bool = False) -> _SendAwaitable:
        """Queue the headers (first time) and the buffered body; the response streams."""
        self._queue_buffered(last=False)
        return _SendAwaitable(self)

    def finish(
        self, chunk: str | bytes | dict[str, Any] | list[Any] | None = None
    ) -> _SendAwaitable:
        """End the response; ``Content-Length`` and the ETag are set when not streaming."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        request = self.request
        if not self._headers_written:
            # The keys of _values are normalized names: looked up directly, they skip
            # HTTPHeaders' normalization on this per-request path.
            headers = self._headers._values
            status = self._status_code
            if status == 200 and request.method in _ETAG_METHODS and "Etag" not in headers:
                cls = type(self)
                if cls.compute_etag is _COMPUTE_ETAG and cls.set_etag_header is _SET_ETAG_HEADER:
                    # What set_etag_header() would do, minus set_header()'s checks,
                    # which a quoted hex digest always passes.
                    headers["Etag"] = [_default_etag(self._write_buffer)]
                else:
                    self.set_etag_header()
                # The default check is False without If-None-Match: skip the call.
                if (
                    cls.check_etag_header is not _CHECK_ETAG_HEADER
                    or "If-None-Match" in request.headers
                ) and self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
                    status = self._status_code
            if status in NO_BODY_STATUSES or 100 <= status < 200:
                if self._write_buffer:
                    raise RuntimeError(f"Cannot send body with status code HTTP{status}")
                for name in _REPRESENTATION_HEADERS:
                    self.clear_header(name)
            elif "Content-Length" not in headers:
                # An int we computed: nothing for set_header() to check.
                buffer = self._write_buffer
                size = len(buffer[0]) if len(buffer) == 1 else sum(map(len, buffer))
                headers["Content-Length"] = [str(size)]
        self._queue_buffered(last=True)
        self._finished = True
        if request._finish_time is None:
            request._finish_time = time.time()
        return _SendAwaitable(self)

    def _queue_buffered(self, last: bool) -> None:
        buffer = self._write_buffer
        body = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        self._write_buffer = []
        if not self._headers_written:
            self._headers_written = True
            settings = self.settings
            if settings.get("compress_response") or settings.get("gzip"):
                self._gzip = GzipEncoder(self.request.headers.get("Accept-Encoding", ""))
                body = self._gzip.first(self._status_code, self._headers, body, last)
            if self.request.method == "HEAD":
                body = b""
            # A plain loop: measurably cheaper than a comprehension (a call in 3.11).
            raw_headers: list[tuple[bytes, bytes]] = []
            for name, values in self._headers._values.items():
                raw_name = _RAW_NAMES.get(name) or _raw_header_name(name)
                for value in values:
                    raw_headers.append((raw_name, value.encode("latin-1")))
            if self._new_cookie:
                raw_headers += self._set_cookie_headers()
            self._queue.append((self._status_code, raw_headers, body, not last))
            return
        if self._gzip is not None:
            body = self._gzip.chunk(body, last)
        if self.request.method == "HEAD":
            body = b""
        if body or last:
            self._queue.append((0, None, body, not last))

    async def _send_queued(self) -> None:
        """Send every queued message in order (concurrent callers wait their turn)."""
        if self._client_gone:
            return
        if self._sending:
            # The active sender drains the whole queue, this caller's messages too;
            # returning before it is done would break "awaiting means sent".
            if self._send_done is None:
                self._send_done = anyio.Event()
            await self._send_done.wait()
            return
        responder = self._responder
        if responder is None:
            raise RuntimeError("this handler is not attached to a request being served")
        queue = self._queue
        if not queue:
            return
        self._sending = True
        try:
            while queue:
                status, headers, body, more = queue.pop(0)
                if headers is None:
                    await responder.body(body, more)
                elif not more and self._body_path is None:
                    await responder.response(status, headers, body)
                else:
                    await responder.start(status, headers)
                    if self._body_path is not None and not more:
                        await responder.path(self._body_path)
                    elif body:
                        await responder.body(body, more)
        except _asgi.ClientGone:
            self._client_gone = True
            queue.clear()
            raise
        finally:
            self._sending = False
            if self._send_done is not None:
                self._send_done.set()
                self._send_done = None

    def _finish_with_file(self, path: str, size: int) -> bool:
        """Finish with the file at ``path`` (``size`` bytes) as the whole body, sent by
        the server itself (ASGI ``http.response.pathsend``). False, and nothing done,
        when that cannot be: the server lacks the extension, the body would be
        compressed or dropped (HEAD), or output has begun."""
        responder = self._responder
        if (
            responder is None
            or not responder.can_send_path
            or self._headers_written
            or self._write_buffer
            or self._status_code != 200
            or self.request.method != "GET"
            or self.settings.get("compress_response")
            or self.settings.get("gzip")
        ):
            return False
        self.set_header("Content-Length", size)
        self._body_path = path
        self.finish()
        if self._status_code != 200:
            self._body_path = None  # finish() found the client's copy current: 304
        return True

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Answer with a redirect to ``url`` (302, or 301 when ``permanent``)."""
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, got {status}")
        self.set_status(status)
        self.set_header("Location", utf8(url) or b"")
        self.finish()

    # -- ETags ------------------------------------------------------------------------

    def compute_etag(self) -> str | None:
        """A strong ETag from the SHA-1 of the body; return None to disable ETags."""
        return _default_etag(self._write_buffer)

    def set_etag_header(self) -> None:
        """Set the ``Etag`` header from :meth:`compute_etag`, unless that returns None."""
        etag = self.compute_etag()
        if etag is not None:
            self.set_header("Etag", etag)

    def check_etag_header(self) -> bool:
        """True when the request's If-None-Match matches the response ETag (weak
        comparison, RFC 9110 §13.1.2)."""
        etag = self._headers.get("Etag", "")
        if not etag:
            return False
        if_none_match = self.request.headers.get("If-None-Match")
        if not if_none_match:
            return False
        candidates = _ETAG_RE.findall(if_none_match)
        if not candidates:
            return False
        if candidates[0] == "*":
            return True
        bare = etag.removeprefix("W/")
        return any(candidate.removeprefix("W/") == bare for candidate in candidates)


# The defaults finish() compares a handler's methods with, to skip calling them.
_COMPUTE_ETAG = OutputMixin.compute_etag
_SET_ETAG_HEADER = OutputMixin.set_etag_header
_CHECK_ETAG_HEADER = OutputMixin.check_etag_header
