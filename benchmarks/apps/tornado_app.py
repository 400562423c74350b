"""The benchmark scenarios as a Tornado 6 app on Tornado's own server (layer: benchmarks).

``python -m benchmarks.apps.tornado_app PORT``; the same handlers as
``tornadoish_app.py``, line for line where the APIs agree.
"""

from __future__ import annotations

import asyncio

import tornado.web

from benchmarks.apps._common import (
    ECHO_CONTENT_TYPE,
    JSON_PAYLOAD,
    PLAINTEXT,
    STREAM_CHUNK,
    STREAM_CHUNKS,
    parse_port,
    static_dir,
)


class PlaintextHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(PLAINTEXT)


class JSONHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(JSON_PAYLOAD)


class UserHandler(tornado.web.RequestHandler):
    def get(self, user_id: str) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(f"user {user_id}")


class EchoHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_header("Content-Type", ECHO_CONTENT_TYPE)
        self.write(self.request.body)


class StreamHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        for _ in range(STREAM_CHUNKS):
            self.write(STREAM_CHUNK)
            await self.flush()


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/", PlaintextHandler),
            (r"/json", JSONHandler),
            (r"/user/([0-9]+)", UserHandler),
            (r"/echo", EchoHandler),
            (r"/stream", StreamHandler),
        ],
        static_path=static_dir(),
    )


async def serve(port: int) -> None:
    make_app().listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    args = parse_port("The benchmark app on Tornado.")
    asyncio.run(serve(args.port))
