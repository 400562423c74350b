"""Hello world: the smallest tornadoish app.

Run it with ``python -m tornadoish examples.hello:app`` (our server), or with
``python examples/hello.py``, or under any ASGI server: ``uvicorn examples.hello:app``.
"""

from __future__ import annotations

from tornadoish.web import Application, RequestHandler


class MainHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


def make_app() -> Application:
    return Application([(r"/", MainHandler)])


app = make_app()

if __name__ == "__main__":
    raise SystemExit(app.run(port=8888))
