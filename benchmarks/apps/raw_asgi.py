"""A bare ASGI app answering the benchmark scenarios: the server's cost alone (layer: benchmarks).

No framework: a dict lookup on the path and canned bodies (the static file is read
once, at import). ``python -m benchmarks.apps.raw_asgi PORT [--server ...]``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks.apps._common import (
    ECHO_CONTENT_TYPE,
    JSON_PAYLOAD,
    PLAINTEXT,
    STATIC_FILE_NAME,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    parse_port,
    serve_asgi,
    static_dir,
)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[Message]]
Send = Any  # Callable[[Message], Awaitable[None]]

with open(os.path.join(static_dir(), STATIC_FILE_NAME), "rb") as _file:
    _STATIC_BODY = _file.read()

_TEXT = [(b"content-type", b"text/plain")]
_CANNED: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = {
    "/": (_TEXT, PLAINTEXT),
    "/json": ([(b"content-type", b"application/json")], json.dumps(JSON_PAYLOAD).encode()),
    f"/static/{STATIC_FILE_NAME}": ([(b"content-type", b"application/octet-stream")], _STATIC_BODY),
}


async def _send_whole(
    send: Send, headers: list[tuple[bytes, bytes]], body: bytes, status: int = 200
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    canned = _CANNED.get(path)
    if canned is not None:
        await _send_whole(send, *canned)
    elif path.startswith("/user/"):
        await _send_whole(send, _TEXT, b"user " + path[6:].encode())
    elif path == "/echo":
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        await _send_whole(send, [(b"content-type", ECHO_CONTENT_TYPE.encode())], b"".join(chunks))
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": _TEXT})
        for _ in range(STREAM_CHUNKS):
            await send({"type": "http.response.body", "body": STREAM_CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _send_whole(send, _TEXT, b"not found", status=404)


if __name__ == "__main__":
    args = parse_port("A bare ASGI app for the benchmarks.", default_server="tornadoish")
    serve_asgi(app, args.port, args.server)
