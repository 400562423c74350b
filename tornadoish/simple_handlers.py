"""Built-in handlers: RedirectHandler and ErrorHandler (layer: framework)."""

from __future__ import annotations

import re
import string
import urllib.parse
from typing import Any

from tornadoish._output import UNSAFE_HEADER_VALUE_RE
from tornadoish.errors import HTTPError
from tornadoish.handler import RequestHandler
from tornadoish.httputil import as_browser_reads, url_concat

__all__ = ["ErrorHandler", "RedirectHandler"]


class RedirectHandler(RequestHandler):
    """Redirect every GET to ``url``, formatted with the path groups (``{0}``, ``{name}``);
    the query string is passed along."""

    def initialize(self, url: str, permanent: bool = True) -> None:
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        """Redirect to the target URL, with the path groups formatted into it."""
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
        if UNSAFE_HEADER_VALUE_RE.search(target):
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
