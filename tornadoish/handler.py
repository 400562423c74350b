"""RequestHandler: Tornado's handler lifecycle over ASGI (layer: framework).

``initialize()`` -> ``prepare()`` -> the verb method -> automatic ``finish()`` ->
``on_finish()``. Output lives in ``_output.OutputMixin``, arguments in
``_arguments``, cookies in ``_cookies``, signed cookies/XSRF/current user in ``auth``.
"""

from __future__ import annotations

import http.cookies
import inspect
import sys
import traceback
import types
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio

from tornadoish import _asgi
from tornadoish._output import NO_BODY_STATUSES, OutputMixin
from tornadoish.auth import SecurityMixin
from tornadoish.errors import Finish, HTTPError
from tornadoish.escape import xhtml_escape
from tornadoish.log import app_log, gen_log
from tornadoish.request import HTTPServerRequest
from tornadoish.templates import TemplateMixin
from tornadoish.types import ASGIReceive

if TYPE_CHECKING:
    from tornadoish.application import Application

__all__ = ["RequestHandler", "stream_request_body"]


def _unimplemented_method(self: RequestHandler, *args: Any, **kwargs: Any) -> None:
    # Reached when a handler calls e.g. super().get(); the 405 still lists Allow.
    """A verb method the handler does not define: the request is answered with 405
    and an ``Allow`` header. Override ``get()``, ``post()``... to handle the method."""
    raise _MethodNotAllowed(self._allowed_methods())


class _MethodNotAllowed(HTTPError):
    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(405)
        self.allowed = allowed


class RequestHandler(OutputMixin, SecurityMixin, TemplateMixin):
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
    _stream_request_body: ClassVar[bool] = False

    # Per-request state starts from these class-level values; an instance gets its own
    # when one changes. Fewer writes in __init__, which runs for every request.
    _finished = False
    _headers_written = False
    _auto_finish = True
    _new_cookie: http.cookies.SimpleCookie | None = None
    _responder: _asgi.Responder | None = None
    _sending = False
    _client_gone = False

    def __init__(self, application: Application, request: HTTPServerRequest, **kwargs: Any):
        super().__init__()
        self.application = application
        self.request = request
        self.path_args: list[str | None] = []
        self.path_kwargs: dict[str, str | None] = {}
        self._queue: list[tuple[int, list[tuple[bytes, bytes]] | None, bytes, bool]] = []
        self.clear()
        if kwargs:
            self.initialize(**kwargs)
        else:
            self.initialize()  # (the usual rule has no kwargs: no dict to copy)

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
        if status_code in NO_BODY_STATUSES or 100 <= status_code < 200:
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

    def static_url(self, path: str, include_host: bool | None = None, **kwargs: Any) -> str:
        """The URL of static file ``path``, versioned with ``?v=<content hash>`` (the
        ``static_handler_class``'s ``make_static_url``, given ``kwargs``), with the
        mount prefix; absolute with ``include_host`` (default: the handler's
        ``include_host`` attribute, else False). Needs the ``static_path`` setting."""
        if not self.settings.get("static_path"):
            raise RuntimeError(
                "You must define the 'static_path' setting in your application to use static_url"
            )
        from tornadoish.static import StaticFileHandler  # static.py imports this module

        handler_class = self.settings.get("static_handler_class", StaticFileHandler)
        if not self.settings.get("static_hash_cache", True):
            handler_class.reset()
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        base = f"{self.request.protocol}://{self.request.host}" if include_host else ""
        url: str = handler_class.make_static_url(self.settings, path, **kwargs)
        return base + self.request.root_path + url

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
        function = getattr(self, _VERB_ATTRIBUTES.get(method) or method.lower(), None)
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
        # This runs for every request: attribute lookups are kept in locals, and the
        # default (no-op) hooks are compared with rather than called.
        self._responder = responder
        request = self.request
        cls = type(self)
        try:
            try:
                if request.method not in self.SUPPORTED_METHODS:
                    # RFC 9110 §15.5.6: every 405 lists the allowed methods.
                    raise _MethodNotAllowed(self._allowed_methods())
                # (Both start empty; most routes have no groups.)
                if path_args:
                    self.path_args = [
                        None if a is None else self.decode_argument(a) for a in path_args
                    ]
                if path_kwargs:
                    self.path_kwargs = {
                        k: None if v is None else self.decode_argument(v, name=k)
                        for k, v in path_kwargs.items()
                    }
                streaming = self._stream_request_body
                if streaming:
                    pass
                elif request._connection is None:
                    # No per-request limits (none set in initialize()): the app's own.
                    request.body = await _asgi.read_body(
                        receive, request.headers, self.application.settings.get("max_body_size")
                    )
                else:
                    await self._read_body(receive)
                security = self._resolve_security()
                if security is not None:
                    await security
                result = self.prepare()
                if result is not None and inspect.isawaitable(result):
                    await result
                if streaming and not self._finished:
                    await self._read_body(receive)
                if not self._finished:
                    if self._watches_connection_close():
                        await self._run_verb_watching(receive)
                    else:
                        # _run_verb(), inlined: one coroutine less per request.
                        verb = self._verb_method(request.method)
                        args, kwargs = self.path_args, self.path_kwargs
                        # (Unpacking copies, even empty containers: only when needed.)
                        result = verb(*args, **kwargs) if args or kwargs else verb()
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
            if cls._run_on_finish is _RUN_ON_FINISH:
                # _run_on_finish(), inlined: one coroutine less per request.
                try:
                    result = self.on_finish()
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    app_log.error("Uncaught exception in on_finish", exc_info=True)
            else:
                await self._run_on_finish()
            self.application.log_request(self)

    async def _run_verb(self) -> None:
        verb = self._verb_method(self.request.method)
        result = verb(*self.path_args, **self.path_kwargs)
        if result is not None and inspect.isawaitable(result):
            await result
        if self._auto_finish and not self._finished:
            self.finish()

    async def _run_verb_watching(self, receive: ASGIReceive) -> None:
        """Run the verb while a sibling task waits for the client to leave, so
        ``on_connection_close()`` fires during a long poll or stream (as in Tornado,
        the handler itself is not cancelled)."""

        async def watch() -> None:
            await _asgi.wait_for_disconnect(receive)
            if not self._finished:
                self._client_gone = True
                self._call_connection_close()

        error: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                await self._run_verb()
            except Exception as exc:
                # Re-raised below, outside the task group, which would otherwise wrap
                # it in an ExceptionGroup: HTTPError, Finish and ClientGone must reach
                # the lifecycle as themselves.
                error = exc
            finally:
                group.cancel_scope.cancel()
        if error is not None:
            raise error

    @classmethod
    def _watches_connection_close(cls) -> bool:
        # Watching costs a task per request: only for handlers that care.
        return cls.on_connection_close is not RequestHandler.on_connection_close

    async def _read_body(self, receive: ASGIReceive) -> None:
        request = self.request
        # No connection object yet: nothing changed the app's limits (the usual case).
        connection = request._connection
        limit = None if connection is None else connection.max_body_size
        if limit is None:
            limit = self.settings.get("max_body_size")
        timeout = None if connection is None else connection.body_timeout
        if self._stream_request_body:
            await _asgi.read_body(
                receive, request.headers, limit, on_chunk=self._deliver_chunk, chunk_timeout=timeout
            )
        else:
            request.body = await _asgi.read_body(
                receive, request.headers, limit, chunk_timeout=timeout
            )

    async def _deliver_chunk(self, chunk: bytes) -> None:
        result = self.data_received(chunk)
        if result is not None and inspect.isawaitable(result):
            await result

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """With ``@stream_request_body``: called for each body chunk (may be async;
        reading waits for it)."""
        raise NotImplementedError("@stream_request_body handlers must define data_received()")

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


# Where _execute() may inline _run_on_finish(): a subclass (WebSocketHandler) changes it.
_RUN_ON_FINISH = RequestHandler._run_on_finish

# Verb method names by HTTP method, spared a lower() per request.
_VERB_ATTRIBUTES = {method: method.lower() for method in RequestHandler.SUPPORTED_METHODS}

_HandlerClass = TypeVar("_HandlerClass", bound=type[RequestHandler])


def stream_request_body(cls: _HandlerClass) -> _HandlerClass:
    """Class decorator: hand the body to ``data_received()`` chunk by chunk instead of
    buffering it. ``prepare()`` runs before the first chunk, and may change the limit
    with ``self.request.connection.set_max_body_size(n)``; the verb method runs after
    the last chunk."""
    if not (isinstance(cls, type) and issubclass(cls, RequestHandler)):
        raise TypeError(f"expected a RequestHandler subclass, got {cls!r}")
    cls._stream_request_body = True
    return cls
