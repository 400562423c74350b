"""What one listening server shares between its connections (layer: server).

The runner owns a ``ServerState``; every connection protocol registers itself in
``connections`` while open and removes itself in ``connection_lost``, so graceful
shutdown can reach each one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

__all__ = ["ConnectionHandle", "ServerState"]


class ConnectionHandle(Protocol):
    """The part of a connection protocol that the runner drives during shutdown."""

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the in-flight response.

        An open websocket is sent a close frame with code 1012 (service restart).
        """

    @property
    def idle(self) -> bool:
        """True when no request is in flight on this connection."""


@dataclasses.dataclass(slots=True)
class ServerState:
    connections: set[ConnectionHandle] = dataclasses.field(default_factory=set)
    total_requests: int = 0
    shutting_down: bool = False
    # Filled by lifespan startup; each request scope gets a shallow copy (ASGI "state").
    lifespan_state: dict[str, Any] = dataclasses.field(default_factory=dict)
