"""The benchmark scenarios as a tornadoish app (layer: benchmarks).

``python -m benchmarks.apps.tornadoish_app PORT [--server ...]`` or, as the runner
does, ``python -m tornadoish benchmarks.apps.tornadoish_app:app`` and
``uvicorn benchmarks.apps.tornadoish_app:app``.
"""

from __future__ import annotations

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
from tornadoish import Application, RequestHandler


class PlaintextHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(PLAINTEXT)


class JSONHandler(RequestHandler):
    def get(self) -> None:
        self.write(JSON_PAYLOAD)


class UserHandler(RequestHandler):
    def get(self, user_id: str) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(f"user {user_id}")


class EchoHandler(RequestHandler):
    def post(self) -> None:
        self.set_header("Content-Type", ECHO_CONTENT_TYPE)
        self.write(self.request.body)


class StreamHandler(RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        for _ in range(STREAM_CHUNKS):
            self.write(STREAM_CHUNK)
            await self.flush()


def make_app() -> Application:
    return Application(
        [
            (r"/", PlaintextHandler),
            (r"/json", JSONHandler),
            (r"/user/([0-9]+)", UserHandler),
            (r"/echo", EchoHandler),
            (r"/stream", StreamHandler),
        ],
        static_path=static_dir(),
    )


app = make_app()

if __name__ == "__main__":
    args = parse_port("The benchmark app on tornadoish.", default_server="tornadoish")
    serve_asgi(app, args.port, args.server)
