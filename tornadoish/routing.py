"""The routing table: URL rules, host rules, matching and reversing (layer: pure).

Tornado's semantics: ``$`` is appended to each pattern, the first matching rule wins,
patterns match the raw (still percent-encoded) path, and matched groups are
percent-decoded afterwards. Everything is compiled once, at construction.
"""

from __future__ import annotations

import importlib
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["HostRules", "RouteMatch", "Router", "URLSpec", "import_object", "url"]


def import_object(name: str) -> Any:
    """Import ``package.module.attr`` (or a bare module) by its dotted name."""
    if "." not in name:
        return importlib.import_module(name)
    module_name, _, attr = name.rpartition(".")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from None


class URLSpec:
    """One rule: ``pattern`` -> ``handler`` class, with ``kwargs`` for ``initialize()``.

    ``handler`` may be a dotted import string, resolved at construction.
    """

    __slots__ = ("_reverse_template", "handler_class", "kwargs", "name", "regex")

    def __init__(
        self,
        pattern: str | re.Pattern[str],
        handler: Any,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(pattern, str):
            if not pattern.endswith("$"):
                pattern += "$"
            try:
                self.regex = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid route pattern {pattern!r}: {exc}") from None
        elif isinstance(pattern, re.Pattern):
            self.regex = pattern
        else:
            raise TypeError(f"route pattern must be a str or compiled regex, got {pattern!r}")
        if self.regex.groupindex and len(self.regex.groupindex) != self.regex.groups:
            raise ValueError(
                f"route pattern {self.regex.pattern!r} mixes named and positional groups; "
                "use one kind only"
            )
        if isinstance(handler, str):
            handler = import_object(handler)
        if not callable(handler):
            raise TypeError(f"handler for {self.regex.pattern!r} must be a class, got {handler!r}")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise TypeError(f"handler kwargs for {self.regex.pattern!r} must be a dict")
        self.handler_class: Any = handler
        self.kwargs: dict[str, Any] = kwargs or {}
        self.name = name
        self._reverse_template = _reverse_template(self.regex)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.regex.pattern!r}, {self.handler_class!r}, "
            f"kwargs={self.kwargs!r}, name={self.name!r})"
        )

    def reverse(self, *args: Any) -> str:
        """Build the path for this rule from group values (escaped, ``/`` kept)."""
        if self._reverse_template is None:
            raise ValueError(f"cannot reverse the complex pattern {self.regex.pattern!r}")
        template, group_count = self._reverse_template
        if len(args) != group_count:
            raise ValueError(
                f"{self.regex.pattern!r} takes {group_count} argument(s), got {len(args)}"
            )
        if not args:
            return template
        converted = []
        for arg in args:
            raw = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
            converted.append(urllib.parse.quote(raw, safe="/"))
        return template % tuple(converted)


url = URLSpec


def _reverse_template(regex: re.Pattern[str]) -> tuple[str, int] | None:
    """``/user/([0-9]+)$`` -> ``("/user/%s", 1)``; None when groups nest or are complex."""
    pattern = regex.pattern
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    if regex.groups != pattern.count("("):
        # An escaped or nested parenthesis: too complex to invert reliably.
        return None
    suffix = ""
    if len(pattern) >= 2 and pattern[-1] == "?" and pattern[-2] not in _REGEX_SPECIALS | {"(", ")"}:
        # A trailing optional character, typically r"/items/?". Tornado reverses it
        # to "/items/?", a URL whose path "/items/" the rule matches; so do we.
        pattern, suffix = pattern[:-1], "?"
    pieces: list[str] = []
    for index, fragment in enumerate(pattern.split("(")):
        if index:
            close = fragment.find(")")
            if close < 0:
                return None
            pieces.append("%s")
            fragment = fragment[close + 1 :]
        literal = _unescape_literal(fragment)
        if literal is None:
            return None
        pieces.append(literal.replace("%", "%%"))
    return "".join(pieces) + suffix, regex.groups


# Regex syntax that makes a fragment more than a literal. An unescaped '.' is not
# here: Tornado apps write r"/api/v1.0/(\w+)" and reverse it, and the literal '.'
# still matches the pattern's '.'.
_REGEX_SPECIALS = frozenset("[]{}*+?|^$\\")


def _unescape_literal(fragment: str) -> str | None:
    """Undo regex escapes of a literal fragment; None if it holds real regex syntax."""
    out: list[str] = []
    chars = iter(fragment)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if not escaped or escaped.isalnum():
                return None  # \d, \w, ... are character classes, not literals
            out.append(escaped)
        elif char in _REGEX_SPECIALS:
            return None
        else:
            out.append(char)
    return "".join(out)


class RouteMatch:
    """The rule that matched and its raw (bytes, percent-decoded) group values."""

    __slots__ = ("path_args", "path_kwargs", "spec")

    def __init__(
        self, spec: URLSpec, path_args: list[bytes | None], path_kwargs: dict[str, bytes | None]
    ) -> None:
        self.spec = spec
        self.path_args = path_args
        self.path_kwargs = path_kwargs


def _unquote_group(value: str | None) -> bytes | None:
    # A '+' in a path means '+', not a space (RFC 3986); only %XX escapes are undone.
    if value is None:
        return None
    # Without escapes, unquote_to_bytes() is this encode; skip its Python-level work.
    return value.encode("utf-8") if "%" not in value else urllib.parse.unquote_to_bytes(value)


RuleInput = URLSpec | Sequence[Any]


# A pattern that is a plain path: no regex syntax but escaped punctuation, then "$".
_LITERAL_PATTERN_RE = re.compile(r"((?:[^\\.^$*+?{}\[\]|()]|\\[^A-Za-z0-9])*)\$")
_ESCAPE_RE = re.compile(r"\\(.)")


def _literal_path(regex: re.Pattern[str]) -> str | None:
    """``/about$`` -> ``/about``: the path a literal pattern matches; None for a real
    regular expression (or one compiled with flags)."""
    if regex.flags & ~re.UNICODE:
        return None
    literal = _LITERAL_PATTERN_RE.fullmatch(regex.pattern)
    return None if literal is None else _ESCAPE_RE.sub(r"\1", literal.group(1))


class Router:
    """An ordered list of URL rules; ``find(path)`` returns the first match or None.

    The rules are fixed at construction (a table for literal paths is built from them).
    """

    __slots__ = ("_exact", "rules")

    def __init__(self, rules: Iterable[RuleInput] = ()) -> None:
        self.rules: list[URLSpec] = [make_spec(rule) for rule in rules]
        # Paths that literal patterns (r"/", r"/about") match, mapped to the rule that
        # wins for them, found here once by the usual first-match scan: a dict lookup
        # then answers them. Any other path, "/about\n" included, takes the scan.
        self._exact: dict[str, URLSpec] = {}
        for spec in self.rules:
            literal = _literal_path(spec.regex)
            if literal is None or literal in self._exact:
                continue
            winner = next(rule for rule in self.rules if rule.regex.match(literal))
            if not winner.regex.groups:
                self._exact[literal] = winner

    def find(self, path: str) -> RouteMatch | None:
        """The first rule matching the raw ``path`` with its groups, or None."""
        found = self.lookup(path)
        return None if found is None else RouteMatch(*found)

    def lookup(
        self, path: str
    ) -> tuple[URLSpec, list[bytes | None], dict[str, bytes | None]] | None:
        """As :meth:`find`, as a plain tuple ``(spec, path_args, path_kwargs)``: what
        the application uses on every request."""
        exact = self._exact.get(path)
        if exact is not None:
            return exact, [], {}
        for spec in self.rules:
            match = spec.regex.match(path)
            if match is None:
                continue
            if not spec.regex.groups:
                return spec, [], {}
            if spec.regex.groupindex:
                kwargs = {name: _unquote_group(v) for name, v in match.groupdict().items()}
                return spec, [], kwargs
            return spec, [_unquote_group(v) for v in match.groups()], {}
        return None


def make_spec(rule: RuleInput) -> URLSpec:
    """A ``URLSpec`` from a rule tuple ``(pattern, handler[, kwargs[, name]])`` or a spec."""
    if isinstance(rule, URLSpec):
        return rule
    if isinstance(rule, str) or not isinstance(rule, Sequence) or not 2 <= len(rule) <= 4:
        raise TypeError(
            f"a route must be url(...) or a tuple (pattern, handler[, kwargs[, name]]), "
            f"got {rule!r}"
        )
    return URLSpec(*rule)


class HostRules:
    """The rules for one host pattern (``.*`` for any host), matched on the host name."""

    __slots__ = ("host_regex", "router")

    def __init__(self, host_pattern: str, rules: Iterable[RuleInput]) -> None:
        if not host_pattern.endswith("$"):
            host_pattern += "$"
        try:
            self.host_regex = re.compile(host_pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid host pattern {host_pattern!r}: {exc}") from None
        self.router = Router(rules)

    @property
    def is_wildcard(self) -> bool:
        """True when the host pattern matches every host (``.*``)."""
        return self.host_regex.pattern == ".*$"

    def matches(self, host_name: str) -> bool:
        """True when ``host_name`` matches the host pattern (``Application`` decides
        when its ``default_host`` stands in for an unknown host)."""
        return self.host_regex.match(host_name) is not None
