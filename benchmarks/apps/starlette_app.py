"""The benchmark scenarios as a Starlette app (layer: benchmarks).

``python -m benchmarks.apps.starlette_app PORT [--server ...]`` (uvicorn with
httptools by default) or ``uvicorn benchmarks.apps.starlette_app:app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from benchmarks.apps._common import (
    ECHO_CONTENT_TYPE,
    JSON_PAYLOAD,
    PLAINTEXT,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    parse_port,
    serve_asgi,
    static_dir,
)


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(PLAINTEXT)


async def json(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


async def user(request: Request) -> Response:
    return PlainTextResponse(f"user {request.path_params['user_id']}")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type=ECHO_CONTENT_TYPE)


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(STREAM_CHUNKS):
        yield STREAM_CHUNK


async def stream(request: Request) -> Response:
    return StreamingResponse(_chunks(), media_type="text/plain")


app = Starlette(
    routes=[
        Route("/", plaintext),
        Route("/json", json),
        Route("/user/{user_id:int}", user),
        Route("/echo", echo, methods=["POST"]),
        Route("/stream", stream),
        Mount("/static", StaticFiles(directory=static_dir())),
    ]
)

if __name__ == "__main__":
    args = parse_port("The benchmark app on Starlette.", default_server="uvicorn-httptools")
    serve_asgi(app, args.port, args.server)
