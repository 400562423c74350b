"""Application: settings, the routing table and the ASGI entry point (layer: framework).

An ``Application`` is an ASGI 3 callable for the ``http``, ``websocket`` and ``lifespan``
scopes, so it runs under our own server, any ASGI server, or ``httpx.ASGITransport``
unchanged.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from tornadoish import _asgi
from tornadoish.errors import HTTPError
from tornadoish.handler import RequestHandler
from tornadoish.log import access_log, app_log
from tornadoish.proxies import TrustedProxies
from tornadoish.routing import HostRules, RuleInput, URLSpec
from tornadoish.settings import validate_settings
from tornadoish.static import StaticFileHandler
from tornadoish.types import ASGIReceive, ASGISend, Scope

if TYPE_CHECKING:
    from tornadoish.server.runner import Server

__all__ = ["Application"]

LifespanHook = Callable[[], Awaitable[None] | None]


class _NotFoundHandler(RequestHandler):
    """What answers when no rule matches and no ``default_handler_class`` is set."""

    def prepare(self) -> None:
        raise HTTPError(404)


def _static_rules(settings: dict[str, Any]) -> list[RuleInput]:
    """With ``static_path`` set: the rules for ``static_url_prefix``, ``/favicon.ico``
    and ``/robots.txt``, which go ahead of the app's own (as in Tornado)."""
    path = settings.get("static_path")
    if not path:
        return []
    handler_class = settings.get("static_handler_class", StaticFileHandler)
    handler_args = {**settings.get("static_handler_args", {}), "path": path}
    prefix = settings.get("static_url_prefix", "/static/")
    patterns = [r"/(robots\.txt)", r"/(favicon\.ico)", re.escape(prefix) + r"(.*)"]
    return [(pattern, handler_class, handler_args) for pattern in patterns]


class Application:
    """A routing table of handlers plus settings: ``Application([(r"/", MainHandler)])``.

    ``handlers`` are rules ``(pattern, handler[, kwargs[, name]])`` or ``url(...)``;
    ``settings`` keep the user's own keys too (Tornado apps rely on that).
    """

    def __init__(
        self,
        handlers: Iterable[RuleInput] | None = None,
        default_host: str | None = None,
        transforms: None = None,
        **settings: Any,
    ) -> None:
        if transforms is not None:
            raise TypeError("output transforms are not supported; use compress_response")
        validate_settings(settings)
        for key in ("static_path", "template_path"):
            if isinstance(settings.get(key), os.PathLike):
                settings[key] = os.fspath(settings[key])  # the framework works with str
        if settings.get("debug"):
            settings.setdefault("serve_traceback", True)
            settings.setdefault("static_hash_cache", False)
        # settings.py (pure) can only check for a class; the handler base lives here.
        for key in ("default_handler_class", "static_handler_class"):
            handler_class = settings.get(key)
            if handler_class is not None and not issubclass(handler_class, RequestHandler):
                raise TypeError(f"setting {key!r} must be a RequestHandler subclass")
        self.settings: dict[str, Any] = settings
        proxies = TrustedProxies(settings.get("trusted_proxies", ()))
        self._proxies = proxies if proxies else None  # None: no per-request check
        self.default_host = default_host
        self._host_rules: list[HostRules] = []
        self._named: dict[str, URLSpec] = {}
        self._startup_hooks: list[LifespanHook] = []
        self._shutdown_hooks: list[LifespanHook] = []
        self.add_handlers(".*$", _static_rules(settings) + list(handlers or ()))

    # -- routing ----------------------------------------------------------------------

    def add_handlers(self, host_pattern: str, host_handlers: Iterable[RuleInput]) -> None:
        """Add rules for hosts matching ``host_pattern``; they go ahead of the handlers
        given to the constructor, in the order they were added (as in Tornado, even
        for another ``.*`` pattern)."""
        rules = HostRules(host_pattern, host_handlers)
        if self._host_rules:
            self._host_rules.insert(-1, rules)
        else:
            self._host_rules.append(rules)
        # The usual app has only ``.*`` host rules: then every request tries them all,
        # in order, whatever its host, and routing can skip the host matching.
        self._any_host = all(host_rules.is_wildcard for host_rules in self._host_rules)
        for spec in rules.router.rules:
            if spec.name:
                if spec.name in self._named:
                    app_log.warning(
                        "Multiple handlers named %s; replacing previous value", spec.name
                    )
                self._named[spec.name] = spec

    def reverse_url(self, name: str, *args: Any) -> str:
        """The path of the rule called ``name`` with ``args`` %-escaped into its groups.

        Raises KeyError for an unknown name. ``RequestHandler.reverse_url`` adds the
        ASGI ``root_path`` prefix; this one cannot know it.
        """
        spec = self._named.get(name)
        if spec is None:
            raise KeyError(f"{name} not found in named urls")
        return spec.reverse(*args)

    def find_handler(
        self, host_name: str, path: str, behind_proxy: bool
    ) -> tuple[type[RequestHandler], dict[str, Any], list[bytes | None], dict[str, bytes | None]]:
        """The handler class, its kwargs and the raw path groups for a request."""
        # Tornado tries the rules of the hosts matching the request's host name first
        # (the constructor's handlers included), and only then those of the hosts
        # matching ``default_host``: a wildcard route beats a default-host route.
        candidates = [rules for rules in self._host_rules if rules.matches(host_name)]
        if self.default_host is not None and not behind_proxy:
            candidates.extend(
                rules
                for rules in self._host_rules
                if rules.matches(self.default_host) and rules not in candidates
            )
        return self._find_in(candidates, path)

    def _find_in(
        self, candidates: list[HostRules], path: str
    ) -> tuple[type[RequestHandler], dict[str, Any], list[bytes | None], dict[str, bytes | None]]:
        for rules in candidates:
            found = rules.router.lookup(path)
            if found is not None:
                spec, path_args, path_kwargs = found
                return spec.handler_class, spec.kwargs, path_args, path_kwargs
        default_class = self.settings.get("default_handler_class")
        if default_class is not None:
            return default_class, self.settings.get("default_handler_args", {}), [], {}
        return _NotFoundHandler, {}, [], {}

    # -- logging ----------------------------------------------------------------------

    def log_request(self, handler: RequestHandler) -> None:
        """One access-log line per request; the ``log_function`` setting replaces it."""
        log_function = self.settings.get("log_function")
        if log_function is not None:
            log_function(handler)
            return
        status = handler.get_status()
        if status < 400:
            level = logging.INFO
        elif status < 500:
            level = logging.WARNING
        else:
            level = logging.ERROR
        if access_log.isEnabledFor(level):
            access_log.log(
                level,
                "%d %s %.2fms",
                status,
                handler._request_summary(),
                1000.0 * handler.request.request_time(),
            )

    # -- lifespan hooks ---------------------------------------------------------------

    def on_startup(self, hook: LifespanHook) -> LifespanHook:
        """Register ``hook`` (sync or async) to run at ASGI lifespan startup; usable as a
        decorator. A failing hook fails the startup."""
        self._startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: LifespanHook) -> LifespanHook:
        """Register ``hook`` (sync or async) to run at ASGI lifespan shutdown."""
        self._shutdown_hooks.append(hook)
        return hook

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        # HTTP and websocket requests are handled right here rather than in a method of
        # their own: one coroutine less per request.
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            if scope_type == "lifespan":
                await self._handle_lifespan(receive, send)
                return
            raise ValueError(f"tornadoish.Application cannot handle {scope_type!r} scopes")
        request, path = _asgi.request_and_routing_path(scope, self._proxies)
        # A wildcard host pattern matches any host name without a line break (".*$"):
        # then all host rules apply, in order, and find_handler() would try each.
        if self._any_host and "\n" not in request.host:
            found = self._find_in(self._host_rules, path)
        else:
            found = self.find_handler(request.host_name, path, "X-Real-Ip" in request.headers)
        handler_class, kwargs, path_args, path_kwargs = found
        handler = handler_class(self, request, **kwargs) if kwargs else handler_class(self, request)
        responder: _asgi.Responder
        if scope_type == "websocket":
            # The handshake runs the usual lifecycle; a WebSocketHandler's get() accepts
            # through the channel, any other answer becomes an HTTP rejection.
            channel = _asgi.WebSocketChannel(scope, receive, send)
            receive, responder = channel.handshake_receive, channel.responder
        else:
            responder = _asgi.Responder(send, scope.get("extensions"))
        await handler._execute(receive, responder, path_args, path_kwargs)

    async def _handle_lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                error = await self._run_hooks(self._startup_hooks)
                if error:
                    await send({"type": "lifespan.startup.failed", "message": error})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                error = await self._run_hooks(self._shutdown_hooks)
                if error:
                    await send({"type": "lifespan.shutdown.failed", "message": error})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _run_hooks(hooks: list[LifespanHook]) -> str | None:
        for hook in hooks:
            try:
                result = hook()
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:
                app_log.error("Lifespan hook %r failed", hook, exc_info=True)
                return f"{type(exc).__name__}: {exc}"
        return None

    # -- serving ----------------------------------------------------------------------

    def _server_config(self, port: int, address: str, **options: Any) -> Any:
        from tornadoish.server.config import ServerConfig

        # The app logs each request itself (tornadoish.access, Tornado's format): the
        # server's own access line would repeat it.
        options.setdefault("access_log", False)
        return ServerConfig(host=address, port=port, **options)

    def listen(self, port: int = 8888, address: str = "", **options: Any) -> Server:
        """Start serving on our own server now and return the server (Tornado's
        ``app.listen``); works before ``IOLoop.current().start()`` or in a running loop.

        As in Tornado, the default ``address=""`` listens on every interface; pass
        ``address="127.0.0.1"`` to stay local."""
        from tornadoish.server.runner import listen

        return listen(self, self._server_config(port, address, **options))

    async def serve(self, host: str = "127.0.0.1", port: int = 8888, **options: Any) -> None:
        """Serve on our own server until cancelled or stopped."""
        from tornadoish.server.runner import serve

        await serve(self, self._server_config(port, host, **options))

    def run(self, port: int = 8888, host: str = "127.0.0.1", **options: Any) -> int:
        """Serve on our own server, blocking, until SIGINT/SIGTERM; returns the exit code."""
        from tornadoish.server.runner import run

        return run(self, self._server_config(port, host, **options))
