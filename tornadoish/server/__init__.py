"""A general HTTP/1.1 + WebSocket server for any ASGI 3 app (layer: server).

Nothing in this package imports the framework: it takes an ASGI callable.
"""

from __future__ import annotations

from tornadoish.server.config import ServerConfig
from tornadoish.server.lifespan import LifespanError
from tornadoish.server.runner import Server, listen, run, serve, start_server

__all__ = ["LifespanError", "Server", "ServerConfig", "listen", "run", "serve", "start_server"]
