"""The benchmark suite's pieces work: every app answers every scenario correctly, and
wrk's output is read right. No timing is asserted anywhere (``nox -s bench`` measures)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
import pytest

from benchmarks import report
from benchmarks.apps import raw_asgi, raw_protocol, starlette_app, tornado_app, tornadoish_app
from benchmarks.run import parse_wrk_output, wrk_command
from benchmarks.targets import SCENARIOS, TARGETS
from tests.servers import listening_socket

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # Tornado's server and the raw Protocol run on asyncio only.
    return "asyncio"


async def _check_every_scenario(client: httpx.AsyncClient) -> None:
    for scenario in SCENARIOS:
        response = await client.request(
            scenario.method, scenario.path, content=scenario.request_body
        )
        assert scenario.problem(response.status_code, response.content) is None, scenario.name


@pytest.mark.parametrize(
    "app",
    [tornadoish_app.app, starlette_app.app, raw_asgi.app],
    ids=["tornadoish", "starlette", "raw-asgi"],
)
async def test_asgi_benchmark_apps_answer_every_scenario(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await _check_every_scenario(client)


async def _served_by_tornado() -> AsyncGenerator[int, None]:
    import tornado.httpserver

    sock = listening_socket()
    server = tornado.httpserver.HTTPServer(tornado_app.make_app())
    server.add_sockets([sock])
    try:
        yield sock.getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


async def _served_by_raw_protocol() -> AsyncGenerator[int, None]:
    sock = listening_socket()
    server = await asyncio.get_running_loop().create_server(raw_protocol.CannedProtocol, sock=sock)
    try:
        yield sock.getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "serve", [_served_by_tornado, _served_by_raw_protocol], ids=["tornado", "raw-protocol"]
)
async def test_socket_benchmark_apps_answer_every_scenario(
    serve: Callable[[], AsyncGenerator[int, None]],
) -> None:
    served = serve()
    port = await anext(served)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _check_every_scenario(client)
    finally:
        await served.aclose()


WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.43ms    2.01ms  40.12ms   90.00%
    Req/Sec     6.15k   300.00     6.50k    80.00%
  Latency Distribution
     50%   10.00ms
     75%   11.00ms
     90%   12.00ms
     99%    1.25s
  30600 requests in 5.00s, 4.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   6120.50
Transfer/sec:      0.90MB
"""


def test_wrk_output_gives_rate_p99_and_failures() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.rps == 6120.50
    assert result.p99_ms == 1250.0
    assert result.requests == 30600
    assert (result.non_2xx, result.socket_errors) == (7, 3)


def test_output_without_latency_distribution_is_refused() -> None:
    with pytest.raises(ValueError, match="wrk --latency"):
        parse_wrk_output(WRK_OUTPUT.replace("     99%    1.25s\n", ""))


def test_wrk_runs_pinned_and_posts_with_the_lua_script() -> None:
    echo = next(scenario for scenario in SCENARIOS if scenario.name == "echo")
    command = wrk_command("http://127.0.0.1:1/echo", echo, 5, 64)
    assert command[:3] == ["taskset", "-c", "1"]
    assert command[-3:] == ["-s", "benchmarks/echo.lua", "http://127.0.0.1:1/echo"]
    assert "-c64" in command
    assert "--latency" in command


def test_every_target_command_names_its_port() -> None:
    for target in TARGETS:
        assert "4321" in target.command(4321), target.name
        assert "{" not in " ".join(target.command(4321, keep_alive=600)), target.name


def test_report_renders_goals_from_results() -> None:
    throughput = {
        "started_at": 0.0,
        "settings": {"duration": 5.0, "runs": 3, "connections": 64, "quick": False},
        "argv": ["python", "-m", "benchmarks.run"],
        "targets": {
            "tornadoish": {"label": "tornadoish on our server", "command": "python -m tornadoish"},
            "tornado": {"label": "Tornado 6", "command": "python -m benchmarks.apps.tornado_app"},
        },
        "scenarios": {"plaintext": {"label": "GET /", "path": "/"}},
        "wrk_command": "wrk",
        "results": {
            "tornadoish": {"plaintext": {"rps": 3000.0, "p99_ms": 20.0, "runs": []}},
            "tornado": {"plaintext": {"rps": 1000.0, "p99_ms": 40.0, "runs": []}},
        },
        "machine": {"cpu": "test"},
    }
    page = report.render(throughput, None)
    assert "| 1. tornadoish on our server ≥ 2x Tornado, GET / | 3.00x | **met** |" in page
    assert "| GET / | tornadoish on our server | 3,000 | 20.00 | 3.00x | - |" in page
    assert "Not measured yet: run `nox -s bench`" in page  # memory
