"""A general HTTP/1.1 + WebSocket server for any ASGI 3 app (layer: server).

Nothing in this package imports the framework: it takes an ASGI callable.
"""

from __future__ import annotations

from tornadoish.server.config import ServerConfig

__all__ = ["ServerConfig"]
