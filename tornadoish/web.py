"""Tornado-compatible import path: ``from tornadoish.web import RequestHandler`` (façade)."""

from __future__ import annotations

from tornadoish.application import Application
from tornadoish.auth import addslash, authenticated, removeslash
from tornadoish.errors import Finish, HTTPError, MissingArgumentError
from tornadoish.handler import RequestHandler, stream_request_body
from tornadoish.routing import URLSpec, url
from tornadoish.security import (
    create_signed_value,
    decode_signed_value,
    get_signature_key_version,
)
from tornadoish.simple_handlers import ErrorHandler, RedirectHandler
from tornadoish.static import StaticFileHandler

__all__ = [
    "Application",
    "ErrorHandler",
    "Finish",
    "HTTPError",
    "MissingArgumentError",
    "RedirectHandler",
    "RequestHandler",
    "StaticFileHandler",
    "URLSpec",
    "addslash",
    "authenticated",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "removeslash",
    "stream_request_body",
    "url",
]
