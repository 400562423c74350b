"""Signed cookies, XSRF protection and the current user: RequestHandler's security
methods, plus the ``authenticated``/``removeslash``/``addslash`` decorators
(layer: framework). Wire formats are Tornado's, so a site moving from Tornado keeps
its users logged in and its forms valid.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tornadoish._arguments import ArgumentsMixin
from tornadoish._cookies import CookiesMixin
from tornadoish.errors import HTTPError
from tornadoish.escape import xhtml_escape
from tornadoish.httputil import as_browser_reads
from tornadoish.security import (
    create_signed_value,
    decode_signed_value,
    decode_xsrf_token,
    encode_xsrf_token,
    get_signature_key_version,
    xsrf_tokens_match,
)

if TYPE_CHECKING:
    from tornadoish.handler import RequestHandler

__all__ = ["SecurityMixin", "addslash", "authenticated", "removeslash"]

_XSRF_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
_UNSET: Any = object()


class SecurityMixin(ArgumentsMixin, CookiesMixin):
    """Signed cookies, XSRF tokens and ``current_user`` for RequestHandler."""

    _current_user: Any = _UNSET
    _raw_xsrf_token: tuple[int | None, bytes, float] | None = None
    _xsrf_token: bytes | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (RequestHandler provides them)."""
        raise NotImplementedError  # RequestHandler provides the application's settings

    # -- signed cookies ---------------------------------------------------------------

    def _cookie_secret(self) -> Any:
        secret = self.settings.get("cookie_secret")
        if not secret:
            raise RuntimeError("the 'cookie_secret' setting is required for signed cookies")
        return secret

    def create_signed_value(
        self, name: str, value: str | bytes, version: int | None = None
    ) -> bytes:
        """Sign ``value`` with the app's ``cookie_secret`` (Tornado's v2 format)."""
        return create_signed_value(
            self._cookie_secret(),
            name,
            value,
            version=version,
            key_version=self.settings.get("key_version"),
        )

    def set_signed_cookie(
        self,
        name: str,
        value: str | bytes,
        expires_days: float | None = 30,
        version: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Set a cookie whose value is signed so it cannot be forged."""
        self.set_cookie(
            name,
            self.create_signed_value(name, value, version=version),
            expires_days=expires_days,
            **kwargs,
        )

    def get_signed_cookie(
        self,
        name: str,
        value: str | None = None,
        max_age_days: float = 31,
        min_version: int | None = None,
    ) -> bytes | None:
        """The verified value of signed cookie ``name``, or None when it is missing,
        tampered with, expired or signed for another name."""
        if value is None:
            value = self.get_cookie(name)
        return decode_signed_value(
            self._cookie_secret(), name, value, max_age_days=max_age_days, min_version=min_version
        )

    def get_signed_cookie_key_version(self, name: str, value: str | None = None) -> int | None:
        """The ``key_version`` a signed cookie was made with (for key rotation)."""
        self._cookie_secret()
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return get_signature_key_version(value)

    # Tornado's older names, kept so ported code runs unchanged.
    set_secure_cookie = set_signed_cookie
    get_secure_cookie = get_signed_cookie
    get_secure_cookie_key_version = get_signed_cookie_key_version

    # -- XSRF -------------------------------------------------------------------------

    @property
    def xsrf_token(self) -> bytes:
        """This request's masked XSRF token; first use sets the ``_xsrf`` cookie."""
        if self._xsrf_token is None:
            version, token, timestamp = self._get_raw_xsrf_token()
            output_version = self.settings.get("xsrf_cookie_version", 2)
            cookie_kwargs = dict(self.settings.get("xsrf_cookie_kwargs", {}))
            if output_version == 1:
                self._xsrf_token = token.hex().encode("ascii")
            elif output_version == 2:
                self._xsrf_token = encode_xsrf_token(token, timestamp)
            else:
                raise ValueError(f"unknown xsrf_cookie_version {output_version!r}")
            if version is None:
                if self.current_user and "expires_days" not in cookie_kwargs:
                    cookie_kwargs["expires_days"] = 30
                cookie_name = self.settings.get("xsrf_cookie_name", "_xsrf")
                self.set_cookie(cookie_name, self._xsrf_token, **cookie_kwargs)
        return self._xsrf_token

    def _get_raw_xsrf_token(self) -> tuple[int | None, bytes, float]:
        if self._raw_xsrf_token is None:
            cookie = self.get_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"))
            version, token, timestamp = decode_xsrf_token(cookie) if cookie else (None, None, None)
            if token is None or timestamp is None:
                version, token, timestamp = None, os.urandom(16), time.time()
            self._raw_xsrf_token = (version, token, timestamp)
        return self._raw_xsrf_token

    def check_xsrf_cookie(self) -> None:
        """403 unless the ``_xsrf`` argument (or X-Xsrftoken / X-Csrftoken header)
        carries the token of the ``_xsrf`` cookie."""
        supplied = (
            self.get_argument("_xsrf", None)
            or self.request.headers.get("X-Xsrftoken")
            or self.request.headers.get("X-Csrftoken")
        )
        if not supplied:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        _, token, _ = decode_xsrf_token(supplied)
        if not token:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        _, expected, _ = self._get_raw_xsrf_token()
        if not xsrf_tokens_match(token, expected):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    def xsrf_form_html(self) -> str:
        """A hidden ``<input name="_xsrf">`` for HTML forms."""
        token = xhtml_escape(self.xsrf_token)
        return f'<input type="hidden" name="_xsrf" value="{token}"/>'

    # -- cross-origin protection (Tornado 6.6) -----------------------------------------

    def check_trusted_origin(self, origin: str) -> bool:
        """Whether a request that looks cross-origin, from ``origin`` (its ``Origin``
        header), is allowed; the default trusts the ``trusted_origins`` setting.

        Consulted for unsafe methods when the ``cross_origin_protection`` setting is on,
        and by ``WebSocketHandler.check_origin``. It runs before ``prepare()``.
        """
        return origin in self.settings.get("trusted_origins", ())

    def _cross_origin_error(self, check: Callable[[str], bool]) -> str | None:
        """Why the request must be refused as cross-origin, or None: ``Sec-Fetch-Site``
        first, else ``Origin`` against ``Host`` (Tornado 6.6's rules); ``check`` decides
        for an origin that looks foreign."""
        headers = self.request.headers
        site = headers.get("Sec-Fetch-Site")
        origin = headers.get("Origin")
        if site in ("same-origin", "none"):
            return None  # same origin, or the user typed the URL
        if site is None:
            if origin is None:
                return None  # not a browser: no ambient credentials to abuse
            host = headers.get("Host", "").lower()
            if urllib.parse.urlsplit(origin).netloc.lower() == host or check(origin):
                return None
            return f"Origin {origin!r} not allowed"
        if origin and check(origin):
            return None
        return f"Sec-Fetch-Site {site} & origin {origin!r} not allowed"

    # -- current user -----------------------------------------------------------------

    @property
    def current_user(self) -> Any:
        """The authenticated user, from :meth:`get_current_user` (evaluated once).

        When ``get_current_user`` is ``async``, the framework awaits it before
        ``prepare()``, so this property stays synchronous.
        """
        if self._current_user is _UNSET:
            result = self.get_current_user()
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # never awaited: close it so no warning is raised
                raise RuntimeError(
                    "async get_current_user() is only available once the request started"
                )
            self._current_user = result
        return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Override to find the user (e.g. from a signed cookie); may be ``async``."""
        return None

    def get_login_url(self) -> str:
        """Where ``@authenticated`` sends anonymous users: the ``login_url`` setting."""
        login_url = self.settings.get("login_url")
        if not login_url:
            raise RuntimeError("the 'login_url' setting is required for @authenticated")
        return str(login_url)

    def _resolve_security(self) -> Awaitable[None] | None:
        """Before ``prepare()``: await an async ``get_current_user``; for unsafe methods,
        check the XSRF token and cross-origin protection when enabled. Returns what to
        await, or None when everything was done synchronously (no coroutine per
        request for the usual handler)."""
        if self._current_user is _UNSET:
            cls = type(self)
            is_async = _async_user_lookup.get(cls)
            if is_async is None:
                method = getattr(cls, "get_current_user", None)
                is_async = _async_user_lookup[cls] = inspect.iscoroutinefunction(method)
            if is_async:
                return self._resolve_security_async()
        if self.request.method not in _XSRF_SAFE_METHODS:
            self._check_unsafe_request()
        return None

    async def _resolve_security_async(self) -> None:
        self._current_user = await self.get_current_user()
        if self.request.method not in _XSRF_SAFE_METHODS:
            self._check_unsafe_request()

    def _check_unsafe_request(self) -> None:
        if self.settings.get("xsrf_cookies"):
            self.check_xsrf_cookie()
        if self.settings.get("cross_origin_protection"):
            error = self._cross_origin_error(self.check_trusted_origin)
            if error is not None:
                raise HTTPError(403, error)


# Whether a handler class's get_current_user is async: asked on every request, so the
# answer is kept per class.
_async_user_lookup: dict[type, bool] = {}


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _refuse_protocol_relative(target: str) -> None:
    # A request path like "//evil.example//" would otherwise become a redirect to
    # another host.
    if as_browser_reads(target).startswith("//"):
        raise HTTPError(403, "cannot redirect path with two initial slashes")


def authenticated(method: _Method) -> _Method:
    """Require ``current_user``: GET/HEAD redirect to ``login_url`` with ``next=``,
    other methods get 403."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                login = self.get_login_url()
                if "?" not in login:
                    absolute = bool(urllib.parse.urlsplit(login).scheme)
                    next_url = self.request.full_url() if absolute else self.request.uri
                    login += "?" + urllib.parse.urlencode({"next": next_url})
                self.redirect(login)
                return None
            raise HTTPError(403)
        result: Awaitable[None] | None = method(self, *args, **kwargs)
        return result

    return wrapper  # type: ignore[return-value]  # same call signature as `method`


def removeslash(method: _Method) -> _Method:
    """Redirect ``/path/`` to ``/path`` (GET/HEAD; 404 for other methods)."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                target = self.request.path.rstrip("/")
                _refuse_protocol_relative(target)
                if target:  # "/" alone has nothing to remove
                    if self.request.query:
                        target += "?" + self.request.query
                    self.redirect(target, permanent=True)
                    return None
            else:
                raise HTTPError(404)
        result: Awaitable[None] | None = method(self, *args, **kwargs)
        return result

    return wrapper  # type: ignore[return-value]  # same call signature as `method`


def addslash(method: _Method) -> _Method:
    """Redirect ``/path`` to ``/path/`` (GET/HEAD; 404 for other methods)."""

    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        if not self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                target = self.request.path + "/"
                _refuse_protocol_relative(target)
                if self.request.query:
                    target += "?" + self.request.query
                self.redirect(target, permanent=True)
                return None
            raise HTTPError(404)
        result: Awaitable[None] | None = method(self, *args, **kwargs)
        return result

    return wrapper  # type: ignore[return-value]  # same call signature as `method`
