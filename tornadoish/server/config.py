"""Server configuration: every timeout and limit, named, explained and validated (layer: server).

Each default is a module constant with the reason for its size. The CLI exposes one
option per field (``--timeout-keep-alive`` for ``timeout_keep_alive`` and so on).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Literal

__all__ = [
    "DEFAULT_LIMIT_BODY_BYTES",
    "DEFAULT_LIMIT_BUFFERED_BYTES",
    "DEFAULT_LIMIT_DRAIN_BYTES",
    "DEFAULT_LIMIT_HEADER_COUNT",
    "DEFAULT_LIMIT_HEAD_BYTES",
    "DEFAULT_LIMIT_REQUESTS_PER_CONNECTION",
    "DEFAULT_LIMIT_URI_BYTES",
    "DEFAULT_TIMEOUT_BODY",
    "DEFAULT_TIMEOUT_GRACEFUL_SHUTDOWN",
    "DEFAULT_TIMEOUT_KEEP_ALIVE",
    "DEFAULT_TIMEOUT_LIFESPAN_SHUTDOWN",
    "DEFAULT_TIMEOUT_LIFESPAN_STARTUP",
    "DEFAULT_TIMEOUT_REQUEST_HEAD",
    "ServerConfig",
]

# An idle keep-alive connection costs a socket and a few KiB; 5 s matches common
# browser and proxy reuse windows without hoarding file descriptors.
#: Seconds an idle keep-alive connection is kept open.
DEFAULT_TIMEOUT_KEEP_ALIVE = 5.0
# Absolute deadline for a whole request head, not reset per byte: a slowloris client
# trickling one byte a second is cut off after this many seconds whatever it sends.
#: Seconds allowed for a whole request head (absolute, not per byte).
DEFAULT_TIMEOUT_REQUEST_HEAD = 10.0
# Longest silence while the app waits for request body bytes.
#: Seconds of silence allowed while the app waits for request body bytes.
DEFAULT_TIMEOUT_BODY = 30.0
# How long in-flight requests may run after SIGINT/SIGTERM before they are cancelled.
#: Seconds in-flight requests get after SIGINT/SIGTERM.
DEFAULT_TIMEOUT_GRACEFUL_SHUTDOWN = 30.0
#: Seconds allowed for the app's lifespan startup.
DEFAULT_TIMEOUT_LIFESPAN_STARTUP = 60.0
#: Seconds allowed for the app's lifespan shutdown.
DEFAULT_TIMEOUT_LIFESPAN_SHUTDOWN = 30.0

# Request line + headers. Room for large cookie jars; a header flood is cut off
# long before it costs real memory.
#: Largest request line plus headers, in bytes (431 beyond).
DEFAULT_LIMIT_HEAD_BYTES = 64 * 1024
# Real browsers send 10-30 headers; 100 is generous and bounds per-request work.
#: Most request headers (431 beyond).
DEFAULT_LIMIT_HEADER_COUNT = 100
# Common proxies and browsers cap URLs near 8 KiB (RFC 9112 §3 recommends supporting
# at least 8000 octets of request line).
#: Longest request target, in bytes (414 beyond).
DEFAULT_LIMIT_URI_BYTES = 8 * 1024
# Largest request body the server lets through (413 beyond it); None means no limit.
# 100 MiB lets ordinary uploads through while stopping a runaway client.
#: Largest request body, in bytes (413 beyond); None for no limit.
DEFAULT_LIMIT_BODY_BYTES: int | None = 100 * 1024 * 1024
# Bytes held for a connection while reading is paused (pipelined requests, a body the
# app has not read yet). Reading stops above this, so memory per connection is bounded.
#: Bytes buffered for a connection before reading pauses.
DEFAULT_LIMIT_BUFFERED_BYTES = 256 * 1024
# After an early response, unread body bytes discarded to keep the connection alive;
# beyond this the connection is closed instead.
#: Unread body bytes discarded after an early response before closing instead.
DEFAULT_LIMIT_DRAIN_BYTES = 64 * 1024
# Requests served on one connection before it is closed; None means no cap.
#: Requests served on one connection before closing it; None for no cap.
DEFAULT_LIMIT_REQUESTS_PER_CONNECTION: int | None = None

LoopChoice = Literal["auto", "asyncio", "uvloop"]
LifespanMode = Literal["auto", "on", "off"]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the server needs to know besides the app. Immutable once built."""

    host: str = "127.0.0.1"
    port: int = 8888
    uds: str | None = None
    # A socket already bound and listening (fd inheritance, tests, workers).
    fd: int | None = None
    workers: int = 1
    root_path: str = ""
    access_log: bool = True
    log_level: str = "info"
    proxy_headers: bool = False
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    loop: LoopChoice = "auto"
    lifespan: LifespanMode = "auto"
    backlog: int = 2048
    server_header: bool = True
    date_header: bool = True

    timeout_keep_alive: float = DEFAULT_TIMEOUT_KEEP_ALIVE
    timeout_request_head: float = DEFAULT_TIMEOUT_REQUEST_HEAD
    timeout_body: float = DEFAULT_TIMEOUT_BODY
    timeout_graceful_shutdown: float = DEFAULT_TIMEOUT_GRACEFUL_SHUTDOWN
    timeout_lifespan_startup: float = DEFAULT_TIMEOUT_LIFESPAN_STARTUP
    timeout_lifespan_shutdown: float = DEFAULT_TIMEOUT_LIFESPAN_SHUTDOWN

    limit_head_bytes: int = DEFAULT_LIMIT_HEAD_BYTES
    limit_header_count: int = DEFAULT_LIMIT_HEADER_COUNT
    limit_uri_bytes: int = DEFAULT_LIMIT_URI_BYTES
    limit_body_bytes: int | None = DEFAULT_LIMIT_BODY_BYTES
    limit_buffered_bytes: int = DEFAULT_LIMIT_BUFFERED_BYTES
    limit_drain_bytes: int = DEFAULT_LIMIT_DRAIN_BYTES
    limit_requests_per_connection: int | None = DEFAULT_LIMIT_REQUESTS_PER_CONNECTION

    # WebSocket settings used by the server side of the protocol.
    ws_max_message_size: int = 16 * 1024 * 1024
    ws_ping_interval: float | None = None
    ws_ping_timeout: float | None = 20.0
    ws_per_message_deflate: bool = True

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith(("timeout_", "limit_")) and value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TypeError(f"{field.name} must be a number, got {value!r}")
                if value <= 0:
                    raise ValueError(f"{field.name} must be positive, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers!r}")
        if self.loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError(f"loop must be auto, asyncio or uvloop, got {self.loop!r}")
        if self.lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be auto, on or off, got {self.lifespan!r}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ValueError(f"root_path must start and not end with '/': {self.root_path!r}")
        if logging.getLevelName(self.log_level.upper()) == f"Level {self.log_level.upper()}":
            raise ValueError(f"unknown log level {self.log_level!r}")
