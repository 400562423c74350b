"""RequestHandler: Tornado's handler lifecycle and output over ASGI (layer: framework).

``write()``, ``set_header()`` and ``set_status()`` only buffer. ``flush()`` and
``finish()`` queue what is buffered and return an awaitable: awaiting it sends the
queue to the server; not awaiting it (Tornado code calls ``self.finish()`` bare all
the time) is fine too, because the framework sends whatever is queued when the
handler method returns.
"""

from __future__ import annotations

import datetime
import hashlib
import http.cookies
import inspect
import json
import re
import string
import sys
import traceback
import types
import urllib.parse
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar

from tornadoish import _asgi
from tornadoish.auth import SecurityMixin
from tornadoish.errors import Finish, HTTPError
from tornadoish.escape import json_encode, utf8, xhtml_escape
from tornadoish.httputil import (
    HTTPHeaders,
    as_browser_reads,
    format_timestamp,
    reason_phrase,
    url_concat,
)
from tornadoish.log import app_log, gen_log
from tornadoish.request import HTTPServerRequest
from tornadoish.types import ASGIReceive

if TYPE_CHECKING:
    from tornadoish.application import Application

__all__ = ["ErrorHandler", "RedirectHandler", "RequestHandler"]

# RFC 9110 §5.5: field values must not carry CR, LF, NUL or other controls; Tornado
# refuses all of \x00-\x1f to stop response splitting.
_UNSAFE_HEADER_VALUE_RE = re.compile(r"[\x00-\x1f]")
# RFC 9110 §5.1: a field name is a token.
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).
_REASON_PHRASE_RE = re.compile(r"[\t \x21-\x7e\x80-\xff]*")
# An entity-tag as it appears in If-None-Match (RFC 9110 §8.8.3).
_ETAG_RE = re.compile(r'\*|(?:W/)?"[^"]*"')
_NO_BODY_STATUSES = frozenset((204, 304))
_REPRESENTATION_HEADERS = ("Content-Encoding", "Content-Language", "Content-Type")

HeaderValue = str | bytes | int | datetime.datetime


def _unimplemented_method(self: RequestHandler, *args: Any, **kwargs: Any) -> None:
    raise HTTPError(405)


class _MethodNotAllowed(HTTPError):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(405)
        self.allowed = allowed


class _SendAwaitable:
    """What ``flush()``/``finish()`` return: awaiting it sends the queued response."""

    __slots__ = ("_handler",)

    def __init__(self, handler: RequestHandler) -> None:
        self._handler = handler

    def __await__(self) -> Generator[Any, None, None]:
        return self._handler._send_queued().__await__()


class RequestHandler(SecurityMixin):
    """Subclass this and define ``get()``, ``post()``... (sync or ``async``)."""

    SUPPORTED_METHODS: ClassVar[tuple[str, ...]] = (
        "GET",
        "HEAD",
        "POST",
        "DELETE",
        "PATCH",
        "PUT",
        "OPTIONS",
    )

    _allowed_methods_cache: ClassVar[dict[type, tuple[str, ...]]] = {}

    def __init__(self, application: Application, request: HTTPServerRequest, **kwargs: Any):
        super().__init__()
        self.application = application
        self.request = request
        self.path_args: list[str | None] = []
        self.path_kwargs: dict[str, str | None] = {}
        self._finished = False
        self._headers_written = False
        self._auto_finish = True
        self._new_cookie: http.cookies.SimpleCookie | None = None
        self._queue: list[tuple[int, list[tuple[bytes, bytes]] | None, bytes, bool]] = []
        self._responder: _asgi.Responder | None = None
        self._sending = False
        self._client_gone = False
        self.clear()
        self.initialize(**kwargs)

    def _initialize(self, **kwargs: Any) -> None:
        """Hook for the ``kwargs`` of the routing rule; called from ``__init__``."""

    # Declared as a Callable so subclasses may take any keyword parameters they like
    # (``def initialize(self, database)``) without mypy flagging the override.
    initialize: Callable[..., None] = _initialize

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings dict."""
        return self.application.settings

    # Verb methods: a handler overrides the ones it supports.
    head: Callable[..., Any] = _unimplemented_method
    get: Callable[..., Any] = _unimplemented_method
    post: Callable[..., Any] = _unimplemented_method
    delete: Callable[..., Any] = _unimplemented_method
    patch: Callable[..., Any] = _unimplemented_method
    put: Callable[..., Any] = _unimplemented_method
    options: Callable[..., Any] = _unimplemented_method

    def prepare(self) -> Awaitable[None] | None:
        """Called before the verb method; may be async; may finish the request early."""
        return None

    def on_finish(self) -> Awaitable[None] | None:
        """Called after the response was sent; may be async (tornadoish awaits it)."""
        return None

    def on_connection_close(self) -> None:
        """Called when the client goes away before the response finished."""

    # -- status and headers -----------------------------------------------------------

    def clear(self) -> None:
        """Reset headers (to the defaults), status and the unsent body."""
        self._headers = HTTPHeaders()
        self._headers["Content-Type"] = "text/html; charset=UTF-8"
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
        return self._status_code

    def set_header(self, name: str, value: HeaderValue) -> None:
        """Set (replace) a response header."""
        self._headers[self._check_header_name(name)] = self._convert_header_value(value)

    def add_header(self, name: str, value: HeaderValue) -> None:
        """Add a response header beside existing ones of the same name."""
        self._headers.add(self._check_header_name(name), self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Remove a response header (all its values)."""
        if name in self._headers:
            del self._headers[name]

    @staticmethod
    def _check_header_name(name: str) -> str:
        if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
            raise ValueError(f"invalid header name: {name!r}")
        return name

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
        if _UNSAFE_HEADER_VALUE_RE.search(text):
            raise ValueError(f"unsafe header value {text!r}")
        return text

    # -- body -------------------------------------------------------------------------

    def write(self, chunk: str | bytes | dict[str, Any] | list[Any]) -> None:
        """Buffer ``chunk``; a dict or list is sent as JSON (``application/json``)."""
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        value: object = chunk  # checked at run time: untyped callers pass anything
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
        if not self._headers_written:
            if (
                self._status_code == 200
                and self.request.method in ("GET", "HEAD")
                and "Etag" not in self._headers
            ):
                self.set_etag_header()
                if self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
            if self._status_code in _NO_BODY_STATUSES or 100 <= self._status_code < 200:
                if self._write_buffer:
                    raise RuntimeError(f"Cannot send body with status code HTTP{self._status_code}")
                for name in _REPRESENTATION_HEADERS:
                    self.clear_header(name)
            elif "Content-Length" not in self._headers:
                self.set_header("Content-Length", sum(map(len, self._write_buffer)))
        self._queue_buffered(last=True)
        self._finished = True
        self.request._finish_time = self.request._start_time + self.request.request_time()
        return _SendAwaitable(self)

    def _queue_buffered(self, last: bool) -> None:
        body = (
            b"".join(self._write_buffer) if len(self._write_buffer) != 1 else self._write_buffer[0]
        )
        self._write_buffer = []
        if self.request.method == "HEAD":
            body = b""
        if not self._headers_written:
            self._headers_written = True
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in self._headers.get_all()
            ]
            headers.extend(self._set_cookie_headers())
            self._queue.append((self._status_code, headers, body, not last))
        elif body or last:
            self._queue.append((0, None, body, not last))

    async def _send_queued(self) -> None:
        """Send every queued message in order (concurrent callers wait their turn)."""
        if self._sending or self._client_gone:
            return
        responder = self._responder
        if responder is None:
            raise RuntimeError("this handler is not attached to a request being served")
        self._sending = True
        try:
            while self._queue:
                status, headers, body, more = self._queue.pop(0)
                if headers is not None:
                    await responder.start(status, headers)
                    if body or not more:
                        await responder.body(body, more)
                else:
                    await responder.body(body, more)
        except _asgi.ClientGone:
            self._client_gone = True
            self._queue.clear()
            raise
        finally:
            self._sending = False

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
        hasher = hashlib.sha1()
        for part in self._write_buffer:
            hasher.update(part)
        return f'"{hasher.hexdigest()}"'

    def set_etag_header(self) -> None:
        etag = self.compute_etag()
        if etag is not None:
            self.set_header("Etag", etag)

    def check_etag_header(self) -> bool:
        """True when the request's If-None-Match matches the response ETag (weak
        comparison, RFC 9110 §13.1.2)."""
        etag = self._headers.get("Etag", "")
        if not etag:
            return False
        candidates = _ETAG_RE.findall(self.request.headers.get("If-None-Match", ""))
        if not candidates:
            return False
        if candidates[0] == "*":
            return True
        bare = etag.removeprefix("W/")
        return any(candidate.removeprefix("W/") == bare for candidate in candidates)

    # -- errors -----------------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Replace the response by an error page built with :meth:`write_error`."""
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            exception = exc_info[1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
            if isinstance(exception, _MethodNotAllowed):
                self.set_header("Allow", ", ".join(exception.allowed))
        self.set_status(status_code, reason=reason)
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Write the error page; override for custom pages. ``exc_info`` is in kwargs
        when an exception caused the error."""
        if status_code in _NO_BODY_STATUSES or 100 <= status_code < 200:
            self.finish()
        elif self.settings.get("serve_traceback") and "exc_info" in kwargs:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*kwargs["exc_info"]):
                self.write(line)
            self.finish()
        else:
            code, message = status_code, xhtml_escape(self._reason)
            self.finish(
                f"<html><title>{code}: {message}</title><body>{code}: {message}</body></html>"
            )

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        """Log an exception from the handler; HTTPError only as a warning when it
        carries a log message."""
        if isinstance(value, HTTPError):
            if value.log_message:
                gen_log.warning(
                    "%d %s: " + value.log_message,
                    value.status_code,
                    self._request_summary(),
                    *value.args,
                )
        else:
            app_log.error(
                "Uncaught exception %s\n%r",
                self._request_summary(),
                self.request,
                exc_info=(typ, value, tb),  # type: ignore[arg-type]  # a real exc_info triple
            )

    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.uri} ({self.request.remote_ip})"

    def _handle_request_exception(self, exc: BaseException) -> None:
        if isinstance(exc, Finish):
            if not self._finished:
                self.finish(*exc.args)
            return
        try:
            self.log_exception(*sys.exc_info())
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return
        if isinstance(exc, HTTPError):
            self.send_error(exc.status_code, exc_info=sys.exc_info())
        else:
            self.send_error(500, exc_info=sys.exc_info())

    # -- routing helpers --------------------------------------------------------------

    def reverse_url(self, name: str, *args: Any) -> str:
        """The path of the rule called ``name`` (with the mount prefix, if any)."""
        return self.request.root_path + self.application.reverse_url(name, *args)

    # -- execution --------------------------------------------------------------------

    @classmethod
    def _allowed_methods(cls) -> tuple[str, ...]:
        try:
            return cls._allowed_methods_cache[cls]
        except KeyError:
            pass
        allowed = [
            method
            for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower(), _unimplemented_method) is not _unimplemented_method
        ]
        if "GET" in allowed and "HEAD" not in allowed and "HEAD" in cls.SUPPORTED_METHODS:
            allowed.insert(allowed.index("GET") + 1, "HEAD")
        result = tuple(allowed)
        cls._allowed_methods_cache[cls] = result
        return result

    def _verb_method(self, method: str) -> Callable[..., Any]:
        function = getattr(self, method.lower(), None)
        if method == "HEAD" and getattr(type(self), "head", None) is _unimplemented_method:
            # Deliberate difference: Tornado answers 405; we run get() and drop the body.
            function = getattr(self, "get", None)
        if function is None or getattr(function, "__func__", None) is _unimplemented_method:
            raise _MethodNotAllowed(self._allowed_methods())
        return function  # type: ignore[no-any-return]  # a bound method of the handler

    async def _execute(
        self,
        receive: ASGIReceive,
        responder: _asgi.Responder,
        path_args: list[bytes | None],
        path_kwargs: dict[str, bytes | None],
    ) -> None:
        """Run the whole lifecycle for one request and send the response."""
        self._responder = responder
        try:
            try:
                if self.request.method not in self.SUPPORTED_METHODS:
                    raise HTTPError(405)
                self.path_args = [None if a is None else self.decode_argument(a) for a in path_args]
                self.path_kwargs = {
                    k: None if v is None else self.decode_argument(v, name=k)
                    for k, v in path_kwargs.items()
                }
                await self._read_body(receive)
                await self._resolve_security()
                result = self.prepare()
                if result is not None and inspect.isawaitable(result):
                    await result
                if not self._finished:
                    verb = self._verb_method(self.request.method)
                    result = verb(*self.path_args, **self.path_kwargs)
                    if result is not None and inspect.isawaitable(result):
                        await result
                    if self._auto_finish and not self._finished:
                        self.finish()
            except _asgi.ClientGone:
                raise
            except Exception as exc:
                self._handle_request_exception(exc)
            await self._send_queued()
        except _asgi.ClientGone:
            self._client_gone = True
            self._call_connection_close()
        finally:
            if not self._finished:
                self._finished = True
            await self._run_on_finish()
            self.application.log_request(self)

    async def _read_body(self, receive: ASGIReceive) -> None:
        limit = self.settings.get("max_body_size")
        self.request.body = await _asgi.read_body(receive, self.request.headers, limit)

    def _call_connection_close(self) -> None:
        try:
            self.on_connection_close()
        except Exception:
            app_log.error("Uncaught exception in on_connection_close", exc_info=True)

    async def _run_on_finish(self) -> None:
        try:
            result = self.on_finish()
            if result is not None and inspect.isawaitable(result):
                await result
        except Exception:
            app_log.error("Uncaught exception in on_finish", exc_info=True)


class RedirectHandler(RequestHandler):
    """Redirect every GET to ``url``, formatted with the path groups (``{0}``, ``{name}``);
    the query string is passed along."""

    def initialize(self, url: str, permanent: bool = True) -> None:
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        target = self._url.format(*args, **kwargs)
        if self.request.query_arguments:
            target = url_concat(
                target,
                [
                    (name, value)
                    for name, values in self.request.query_arguments.items()
                    for value in values
                ],
            )
        if not _same_origin_as_template(self._url, target):
            # A path group must never turn "/{0}" into "//evil.example/": an open redirect.
            raise HTTPError(400, "Redirect URL cannot change the scheme or netloc")
        if _UNSAFE_HEADER_VALUE_RE.search(target):
            raise HTTPError(400, "Redirect URL contains invalid characters")
        if target.startswith("/") and not target.startswith("//"):
            # An app-relative target stays inside the mount point (ASGI root_path).
            target = self.request.root_path + target
        self.redirect(target, permanent=self._permanent)


def _scheme_and_host(url: str) -> tuple[str, str]:
    # Browsers skip any number of slashes before the host ("///evil" is "//evil").
    url = re.sub(r"^//+", "//", as_browser_reads(url))
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _same_origin_as_template(template: str, target: str) -> bool:
    """True when ``target`` has the scheme and host the literal part of the template fixes."""
    prefix = ""
    substituted = False
    for literal, field, _, _ in string.Formatter().parse(template):
        prefix += literal
        if field is not None:
            substituted = True
            break
    try:
        fixed = _scheme_and_host(prefix)
        if substituted and fixed[0] in ("http", "https") and not fixed[1]:
            return False
        return _scheme_and_host(target) == fixed
    except ValueError:
        return False


class ErrorHandler(RequestHandler):
    """Answer every request with ``status_code`` (e.g. to retire a URL with 410)."""

    def initialize(self, status_code: int) -> None:
        self.set_status(status_code)

    def prepare(self) -> None:
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        # An error page must not be masked by a 403 for a missing XSRF token.
        pass
