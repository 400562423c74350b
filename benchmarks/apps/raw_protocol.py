"""The practical ceiling: an asyncio Protocol writing canned responses (layer: benchmarks).

No HTTP library, no ASGI, no per-request objects beyond a slice of the buffer: it
finds the end of each head, skips a ``Content-Length`` body and writes a response
prepared at import. Only good for the benchmark's well-formed requests.
``python -m benchmarks.apps.raw_protocol PORT``.
"""

from __future__ import annotations

import asyncio
import json
import os

from benchmarks.apps._common import (
    ECHO_CONTENT_TYPE,
    JSON_PAYLOAD,
    PLAINTEXT,
    STATIC_FILE_NAME,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    parse_port,
    static_dir,
)


def _response(content_type: str, body: bytes, status: bytes = b"200 OK") -> bytes:
    head = f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1")
    return b"HTTP/1.1 " + status + b"\r\n" + head + body


def _chunked(content_type: str, chunks: list[bytes]) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    framed = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks]
    return head.encode("latin-1") + b"".join(framed) + b"0\r\n\r\n"


with open(os.path.join(static_dir(), STATIC_FILE_NAME), "rb") as _file:
    _STATIC_BODY = _file.read()

_CANNED = {
    b"/": _response("text/plain", PLAINTEXT),
    b"/json": _response("application/json", json.dumps(JSON_PAYLOAD).encode()),
    f"/static/{STATIC_FILE_NAME}".encode(): _response("application/octet-stream", _STATIC_BODY),
    b"/stream": _chunked("text/plain", [STREAM_CHUNK] * STREAM_CHUNKS),
}
_NOT_FOUND = _response("text/plain", b"not found", b"404 Not Found")


class CannedProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        out = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            marker = head.lower().find(b"\r\ncontent-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker + 2)
                line_end = len(head) if line_end < 0 else line_end
                length = int(head[marker + 17 : line_end])
            if len(buffer) < end + 4 + length:
                break  # the body is still arriving
            body = buffer[end + 4 : end + 4 + length]
            buffer = buffer[end + 4 + length :]
            target = head[head.find(b" ") + 1 : head.find(b" ", head.find(b" ") + 1)]
            canned = _CANNED.get(target)
            if canned is not None:
                out.append(canned)
            elif target.startswith(b"/user/"):
                out.append(_response("text/plain", b"user " + target[6:]))
            elif target == b"/echo":
                out.append(_response(ECHO_CONTENT_TYPE, body))
            else:
                out.append(_NOT_FOUND)
        self._buffer = buffer
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedProtocol, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = parse_port("The canned-response ceiling for the benchmarks.")
    asyncio.run(serve(args.port))
