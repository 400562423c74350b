"""Reading request arguments and JSON bodies: RequestHandler input (layer: framework)."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar, overload

from tornadoish.errors import HTTPError, MissingArgumentError
from tornadoish.forms import FormError
from tornadoish.request import HTTPServerRequest

__all__ = ["ArgumentsMixin"]

# Tornado replaces C0/C1 control characters (except tab, CR and LF) in arguments by
# spaces so they cannot sneak into logs or HTML.
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0e-\x1f]")

_Default = TypeVar("_Default")


class _NoDefault:
    """Marks a required argument (None is a valid default)."""


_NO_DEFAULT = _NoDefault()


class ArgumentsMixin:
    request: HTTPServerRequest

    @overload
    def get_argument(self, name: str, default: str, strip: bool = True) -> str: ...
    @overload
    def get_argument(self, name: str, default: _Default, strip: bool = True) -> str | _Default: ...
    @overload
    def get_argument(self, name: str, *, strip: bool = True) -> str: ...

    def get_argument(self, name: str, default: Any = _NO_DEFAULT, strip: bool = True) -> Any:
        """The last value of query or body argument ``name``.

        Without ``default`` a missing argument raises
        :class:`~tornadoish.errors.MissingArgumentError` (400).
        """
        return self._get_argument(name, default, self._all_arguments(), strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of query or body argument ``name`` (empty list when absent)."""
        return self._get_arguments(name, self._all_arguments(), strip)

    def get_query_argument(self, name: str, default: Any = _NO_DEFAULT, strip: bool = True) -> Any:
        """As :meth:`get_argument`, from the query string only."""
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of the query argument ``name`` (an empty list when absent)."""
        return self._get_arguments(name, self.request.query_arguments, strip)

    def get_body_argument(self, name: str, default: Any = _NO_DEFAULT, strip: bool = True) -> Any:
        """As :meth:`get_argument`, from a form-encoded body only."""
        return self._get_argument(name, default, self._body_arguments(), strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        """Every value of the form-body argument ``name`` (an empty list when absent)."""
        return self._get_arguments(name, self._body_arguments(), strip)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """Decode an argument or path group from bytes; override for other encodings.

        Invalid UTF-8 is answered with 400.
        """
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "Invalid unicode in %s: %r", name or "url", value[:40]) from None

    def get_json_body(self) -> Any:
        """The request body parsed as JSON; invalid JSON is answered with 400.

        Not in Tornado, where handlers call ``json.loads(self.request.body)`` themselves.
        """
        try:
            return json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, "Invalid JSON body: %s", exc, reason="Invalid JSON") from None

    def _all_arguments(self) -> dict[str, list[bytes]]:
        try:
            return self.request.arguments
        except FormError as exc:
            raise HTTPError(400, "Malformed form body: %s", exc) from None

    def _body_arguments(self) -> dict[str, list[bytes]]:
        try:
            return self.request.body_arguments
        except FormError as exc:
            raise HTTPError(400, "Malformed form body: %s", exc) from None

    def _get_argument(
        self, name: str, default: Any, source: dict[str, list[bytes]], strip: bool
    ) -> Any:
        values = self._get_arguments(name, source, strip)
        if values:
            return values[-1]
        if isinstance(default, _NoDefault):
            raise MissingArgumentError(name)
        return default

    def _get_arguments(self, name: str, source: dict[str, list[bytes]], strip: bool) -> list[str]:
        values = []
        for raw in source.get(name, ()):
            value = self.decode_argument(raw, name=name)
            if isinstance(value, str):
                value = _CONTROL_CHARS_RE.sub(" ", value)
            if strip:
                value = value.strip()
            values.append(value)
        return values
