"""Validation of the known Application settings (layer: pure).

``Application.settings`` stays a plain dict that also carries the user's own keys;
the keys listed here are checked once, when the app is built, so a typo in a type
fails at startup with a clear message instead of deep inside a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["validate_settings"]


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_path(value: Any) -> bool:
    # Tornado apps often pass pathlib.Path directories; Application turns them into str.
    return isinstance(value, str) or (
        isinstance(value, os.PathLike) and isinstance(os.fspath(value), str)
    )


def _is_str_or_bytes(value: Any) -> bool:
    return isinstance(value, str | bytes) and len(value) > 0


def _is_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value) and all(
            isinstance(k, int) and _is_str_or_bytes(v) for k, v in value.items()
        )
    return _is_str_or_bytes(value)


def _is_positive_int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def _is_interval(value: Any) -> bool:
    # Tornado documents websocket_ping_interval = 0 (and None, its default) as "off".
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    )


def _is_class(value: Any) -> bool:
    return isinstance(value, type)


def _is_json_encoder(value: Any) -> bool:
    return value is None or (isinstance(value, type) and issubclass(value, json.JSONEncoder))


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_callable(value: Any) -> bool:
    return callable(value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


# key -> (check, what the value must be: used in the error message)
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "debug": (_is_bool, "a bool"),
    "autoreload": (_is_bool, "a bool"),
    "serve_traceback": (_is_bool, "a bool"),
    "compress_response": (_is_bool, "a bool"),
    "gzip": (_is_bool, "a bool"),
    "xsrf_cookies": (_is_bool, "a bool"),
    "cross_origin_protection": (_is_bool, "a bool"),
    "cookie_secret": (_is_secret, "a non-empty str/bytes or a dict of int -> str/bytes"),
    "key_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
    "login_url": (_is_str, "a str"),
    "template_path": (_is_path, "a str or os.PathLike"),
    "static_path": (_is_path, "a str or os.PathLike"),
    "static_url_prefix": (_is_str, "a str"),
    "default_handler_class": (_is_class, "a RequestHandler subclass"),
    "default_handler_args": (_is_dict, "a dict"),
    "static_handler_class": (_is_class, "a RequestHandler subclass"),
    "static_handler_args": (_is_dict, "a dict"),
    "static_hash_cache": (_is_bool, "a bool"),
    "log_function": (_is_callable, "a callable taking the handler"),
    "json_encoder": (_is_json_encoder, "a json.JSONEncoder subclass or None"),
    "max_body_size": (_is_positive_int_or_none, "a positive int or None"),
    "xsrf_cookie_kwargs": (_is_dict, "a dict"),
    "websocket_ping_interval": (_is_interval, "a number >= 0 (0 disables) or None"),
    "websocket_ping_timeout": (_is_interval, "a number >= 0 (0 disables) or None"),
    "websocket_max_message_size": (_is_positive_int_or_none, "a positive int or None"),
    "trusted_proxies": (_is_str_list, "a list of IP addresses or networks"),
    "trusted_origins": (_is_str_list, "a list of origins such as 'https://example.com'"),
}


def validate_settings(settings: dict[str, Any]) -> None:
    """Raise TypeError for a known key with a value of the wrong kind."""
    for key, (check, expected) in _CHECKS.items():
        if key in settings and not check(settings[key]):
            raise TypeError(f"setting {key!r} must be {expected}, got {settings[key]!r}")
    if settings.get("key_version") is not None:
        secret = settings.get("cookie_secret")
        if not isinstance(secret, Mapping) or settings["key_version"] not in secret:
            raise ValueError("setting 'key_version' must name a key of the cookie_secret dict")
