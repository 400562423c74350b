"""Reading and setting cookies: RequestHandler's cookie methods (layer: framework)."""

from __future__ import annotations

import datetime
import http.cookies
import re
from typing import Any

from tornadoish.errors import InvalidCookieError
from tornadoish.httputil import format_timestamp
from tornadoish.request import HTTPServerRequest

__all__ = ["CookiesMixin"]

# Control characters, space and ';' would split or forge Set-Cookie attributes.
_UNSAFE_NAME_OR_VALUE_RE = re.compile(r"[\x00-\x20]")
_UNSAFE_ATTRIBUTE_RE = re.compile(r"[\x00-\x20\x3b\x7f]")


class CookiesMixin:
    request: HTTPServerRequest
    _new_cookie: http.cookies.SimpleCookie | None

    @property
    def cookies(self) -> http.cookies.SimpleCookie:
        """The request's cookies (``self.request.cookies``)."""
        return self.request.cookies

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        """The value of request cookie ``name``, or ``default``."""
        morsel = self.request.cookies.get(name)
        return default if morsel is None else morsel.value

    def set_cookie(
        self,
        name: str,
        value: str | bytes,
        domain: str | None = None,
        expires: float | datetime.datetime | None = None,
        path: str = "/",
        expires_days: float | None = None,
        *,
        max_age: int | None = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Queue a ``Set-Cookie`` header; invalid names, values or attributes raise
        ``InvalidCookieError`` (a ``ValueError``)."""
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if _UNSAFE_NAME_OR_VALUE_RE.search(name + text):
            raise InvalidCookieError(f"invalid cookie {name!r}: {text!r}")
        for attr_name, attr_value in (("domain", domain), ("path", path), ("samesite", samesite)):
            if attr_value is not None and _UNSAFE_ATTRIBUTE_RE.search(attr_value):
                raise InvalidCookieError(
                    f"invalid cookie attribute {attr_name}={attr_value!r} for cookie {name!r}"
                )
        if self._new_cookie is None:
            self._new_cookie = http.cookies.SimpleCookie()
        jar = self._new_cookie
        if name in jar:
            del jar[name]
        try:
            jar[name] = text
        except http.cookies.CookieError as exc:
            raise InvalidCookieError(str(exc)) from None
        morsel = jar[name]
        if domain:
            morsel["domain"] = domain
        if expires_days is not None and not expires:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=expires_days)
        if expires:
            morsel["expires"] = format_timestamp(expires)
        if path:
            morsel["path"] = path
        if max_age:
            # int() rejects a value that would smuggle extra attributes into the header.
            morsel["max-age"] = str(int(max_age))
        if httponly:
            morsel["httponly"] = True
        if secure:
            morsel["secure"] = True
        if samesite:
            morsel["samesite"] = samesite

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        """Expire cookie ``name``; pass the same ``path``/``domain`` it was set with."""
        for excluded in ("expires", "max_age"):
            if excluded in kwargs:
                raise TypeError(f"clear_cookie() got an unexpected keyword argument {excluded!r}")
        expires = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=365)
        self.set_cookie(name, value="", expires=expires, **kwargs)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """Expire every cookie the request carried."""
        for name in self.request.cookies:
            self.clear_cookie(name, **kwargs)

    def _set_cookie_headers(self) -> list[tuple[bytes, bytes]]:
        if not self._new_cookie:
            return []
        return [
            (b"set-cookie", morsel.OutputString(None).encode("latin-1"))
            for morsel in self._new_cookie.values()
        ]
