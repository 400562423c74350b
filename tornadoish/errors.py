"""Exceptions a handler raises to end a request early (layer: pure).

Names and constructor signatures are Tornado's, so ``raise HTTPError(404)`` and
``raise Finish()`` port unchanged.
"""

from __future__ import annotations

import http.cookies
from typing import Any

from tornadoish.httputil import reason_phrase

__all__ = ["Finish", "HTTPError", "InvalidCookieError", "MissingArgumentError"]


class HTTPError(Exception):
    """An HTTP error response: ``raise HTTPError(403)``.

    ``log_message`` (formatted with ``args`` like ``%`` would) goes to the log only and
    is never shown to the client; ``reason`` replaces the standard reason phrase.
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: str | None = None,
        *args: Any,
        reason: str | None = None,
    ) -> None:
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise TypeError(f"status_code must be an int, got {status_code!r}")
        self.status_code = status_code
        self.log_message = log_message
        self.args = args
        self.reason = reason
        if log_message and not args:
            # Tornado escapes a bare message so a literal '%' cannot break formatting.
            self.log_message = log_message.replace("%", "%%")

    def __str__(self) -> str:
        phrase = self.reason or reason_phrase(self.status_code)
        message = f"HTTP {self.status_code}: {phrase}"
        if self.log_message:
            return message + " (" + (self.log_message % self.args) + ")"
        return message


class Finish(Exception):
    """End the request without an error; ``raise Finish(chunk)`` writes ``chunk`` first.

    Unlike :class:`HTTPError`, the response keeps whatever status and headers the
    handler already set, and ``write_error`` is not called.
    """


class MissingArgumentError(HTTPError):
    """A required argument was absent: answered with 400 ``Missing argument <name>``."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, f"Missing argument {arg_name}")
        self.arg_name = arg_name


class InvalidCookieError(http.cookies.CookieError, ValueError):
    """A cookie name, value or attribute that cannot be sent safely.

    A ``ValueError`` and also ``http.cookies.CookieError`` (what Tornado raises), so
    either ``except`` clause catches it.
    """
