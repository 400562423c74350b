"""tornadoish: Tornado's RequestHandler way of writing web apps, asyncio-native on ASGI."""

from __future__ import annotations

from tornadoish import web
from tornadoish.application import Application
from tornadoish.auth import addslash, authenticated, removeslash
from tornadoish.errors import Finish, HTTPError, InvalidCookieError, MissingArgumentError
from tornadoish.handler import RequestHandler, stream_request_body
from tornadoish.httputil import HTTPFile, HTTPHeaders
from tornadoish.request import HTTPServerRequest
from tornadoish.routing import URLSpec, url
from tornadoish.simple_handlers import ErrorHandler, RedirectHandler
from tornadoish.static import StaticFileHandler
from tornadoish.websocket import WebSocketClosedError, WebSocketHandler

__version__ = "0.1.0.dev0"

__all__ = [
    "Application",
    "ErrorHandler",
    "Finish",
    "HTTPError",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPServerRequest",
    "InvalidCookieError",
    "MissingArgumentError",
    "RedirectHandler",
    "RequestHandler",
    "StaticFileHandler",
    "URLSpec",
    "WebSocketClosedError",
    "WebSocketHandler",
    "__version__",
    "addslash",
    "authenticated",
    "removeslash",
    "stream_request_body",
    "url",
    "web",
]
