"""What every benchmark app serves, so the targets answer byte-for-byte alike (layer: benchmarks).

Everything runs from the repository root: ``python -m benchmarks.apps.tornado_app PORT``,
``python -m tornadoish benchmarks.apps.tornadoish_app:app``,
``uvicorn benchmarks.apps.starlette_app:app``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "ECHO_CONTENT_TYPE",
    "JSON_PAYLOAD",
    "PLAINTEXT",
    "STATIC_DIR_ENV",
    "STATIC_FILE_NAME",
    "STATIC_FILE_SIZE",
    "STREAM_CHUNK",
    "STREAM_CHUNKS",
    "parse_port",
    "serve_asgi",
    "static_dir",
]

PLAINTEXT = b"Hello, world!"
JSON_PAYLOAD = {"message": "Hello, world!"}
ECHO_CONTENT_TYPE = "application/octet-stream"
# The streamed scenario: 64 KiB in 4 KiB flushes.
STREAM_CHUNK = b"x" * 4096
STREAM_CHUNKS = 16
STATIC_FILE_NAME = "1mib.bin"
STATIC_FILE_SIZE = 1024 * 1024

# Where the static file lives; the runner sets it so that every target serves the
# same file, and a standalone app falls back to a fixed place under the temp dir.
STATIC_DIR_ENV = "TORNADOISH_BENCH_STATIC_DIR"


def static_dir(directory: str | None = None) -> str:
    """The directory holding the 1 MiB static file, created on first use: ``directory``
    if given, else the one named by the environment, else a fixed temp dir."""
    root = Path(
        directory
        or os.environ.get(STATIC_DIR_ENV)
        or os.path.join(tempfile.gettempdir(), "tornadoish-bench-static")
    )
    path = root / STATIC_FILE_NAME
    if not path.is_file() or path.stat().st_size != STATIC_FILE_SIZE:
        root.mkdir(parents=True, exist_ok=True)
        # Several servers may start at once: write aside, then rename into place.
        partial = root / f".{STATIC_FILE_NAME}.{os.getpid()}"
        partial.write_bytes(bytes(range(256)) * (STATIC_FILE_SIZE // 256))
        os.replace(partial, path)
    return str(root)


def parse_port(description: str, default_server: str | None = None) -> argparse.Namespace:
    """The command line of a standalone app: a port, and a server where there is a choice."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("port", type=int, help="TCP port on 127.0.0.1")
    if default_server is not None:
        parser.add_argument(
            "--server",
            choices=["tornadoish", "uvicorn-h11", "uvicorn-httptools"],
            default=default_server,
            help=f"which server runs the app (default {default_server})",
        )
    return parser.parse_args()


def serve_asgi(app: Any, port: int, server: str) -> None:
    """Serve the ASGI ``app`` on 127.0.0.1:``port`` with the settings the runner uses:
    the asyncio loop for every server and no access log."""
    if server == "tornadoish":
        from tornadoish.server.config import ServerConfig
        from tornadoish.server.runner import run

        raise SystemExit(run(app, ServerConfig(port=port, access_log=False, loop="asyncio")))
    import uvicorn

    http = server.removeprefix("uvicorn-")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http=http,
        loop="asyncio",
        access_log=False,
        log_level="warning",
    )
