"""Throughput benchmark: wrk against every target, interleaved, median of runs (layer: benchmarks).

``python -m benchmarks.run`` from the repository root (``nox -s bench`` does it). Every
target is started once, pinned to CPU 0, and checked to answer each scenario
correctly; wrk runs pinned to CPU 1 with keep-alive connections. Each round runs
every scenario against every target (the target order rotating from round to round),
so slow drifts of the machine touch all targets alike; the median of the rounds is
reported. Results go to ``benchmarks/results/throughput.json`` and, rendered, to
``docs/performance.md`` and ``docs/performance.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import report, targets
from benchmarks.apps._common import static_dir
from benchmarks.targets import SCENARIOS, RunningTarget, Scenario

__all__ = ["WrkResult", "main", "parse_wrk_output", "wrk_command"]

DEFAULT_DURATION = 5.0
DEFAULT_RUNS = 3
DEFAULT_CONNECTIONS = 64
WARMUP_DURATION = 1.0
# wrk's own default is 2 s; a slower answer would be dropped from the latency
# statistics instead of raising the p99.
WRK_TIMEOUT = "10s"
WRK_CPU = 1

_UNITS_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclasses.dataclass(frozen=True)
class WrkResult:
    rps: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def parse_wrk_output(output: str) -> WrkResult:
    """The numbers of one ``wrk --latency`` run; ValueError if the output lacks them."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in ", output, re.MULTILINE)
    if rps is None or p99 is None or total is None:
        raise ValueError(f"not the output of wrk --latency:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS_TO_MS[p99.group(2)],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def wrk_command(
    url: str, scenario: Scenario, duration: float, connections: int, *, pinned: bool = True
) -> list[str]:
    """The wrk command line for one run (one thread: the Python servers are the limit)."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
    ]
    if scenario.lua_script is not None:
        command += ["-s", f"benchmarks/{scenario.lua_script}"]
    command.append(url)
    return ["taskset", "-c", str(WRK_CPU), *command] if pinned else command


def _run_wrk(command: list[str], duration: float) -> WrkResult:
    completed = subprocess.run(
        command,
        cwd=targets.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return parse_wrk_output(completed.stdout)


def _check_answers(running: RunningTarget, scenarios: Sequence[Scenario]) -> dict[str, str]:
    """Scenario name -> why the target's answer is wrong, for those it gets wrong."""
    problems: dict[str, str] = {}
    for scenario in scenarios:
        try:
            status, answer = targets.fetch(
                running.port, scenario.method, scenario.path, scenario.request_body
            )
        except OSError as exc:
            problems[scenario.name] = f"no answer: {exc}"
            continue
        problem = scenario.problem(status, answer)
        if problem is not None:
            problems[scenario.name] = problem
    return problems


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds per run")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs (rounds) per pair")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s, one round, no warm-up"
    )
    parser.add_argument("--targets", help="comma-separated target names (default: all)")
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: all)")
    parser.add_argument(
        "--no-report", action="store_true", help="write the JSON only, not docs/performance.*"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.runs = 1.0, 1
    return args


def require_tools() -> None:
    """Exit with one clear line when wrk or taskset is missing."""
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: install it (apt-get install -y {package})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    require_tools()
    chosen = targets.select(args.targets)
    scenarios = targets.select_scenarios(args.scenarios)
    results: dict[str, dict[str, dict[str, Any]]] = {t.name: {} for t in chosen}
    commands: dict[str, str] = {}
    started_at = time.time()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tornadoish-bench-") as directory:
        static = static_dir(directory)
        with targets.running(chosen, static) as servers:
            for server in servers:
                commands[server.target.name] = server.display_command()
                for name, problem in _check_answers(server, scenarios).items():
                    print(f"{server.target.name} {name}: wrong answer, skipped: {problem}")
                    results[server.target.name][name] = {"error": problem, "runs": []}
            if not args.quick:
                for server in servers:
                    _run_wrk(
                        wrk_command(
                            server.url("/"), SCENARIOS[0], WARMUP_DURATION, args.connections
                        ),
                        WARMUP_DURATION,
                    )
            for round_index in range(args.runs):
                shift = round_index % len(servers)
                order = servers[shift:] + servers[:shift]
                for scenario in scenarios:
                    for server in order:
                        cell = results[server.target.name].setdefault(scenario.name, {"runs": []})
                        if "error" in cell:
                            continue
                        command = wrk_command(
                            server.url(scenario.path), scenario, args.duration, args.connections
                        )
                        result = _run_wrk(command, args.duration)
                        cell["runs"].append(dataclasses.asdict(result))
                        print(
                            f"round {round_index + 1}/{args.runs} {scenario.name:<9} "
                            f"{server.target.name:<28} {result.rps:>10.1f} req/s "
                            f"p99 {result.p99_ms:8.2f} ms"
                            + (f"  non-2xx {result.non_2xx}" if result.non_2xx else "")
                            + (
                                f"  socket errors {result.socket_errors}"
                                if result.socket_errors
                                else ""
                            ),
                            flush=True,
                        )
    for per_target in results.values():
        for cell in per_target.values():
            runs = cell["runs"]
            if runs:
                cell["rps"] = statistics.median(run["rps"] for run in runs)
                cell["p99_ms"] = statistics.median(run["p99_ms"] for run in runs)
                cell["failed_requests"] = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
    example = wrk_command(
        "http://127.0.0.1:PORT/echo", SCENARIOS[3], args.duration, args.connections
    )
    data = {
        "started_at": started_at,
        "finished_at": time.time(),
        # Other work on the machine shares its two CPUs: the 1-minute load average.
        "load_average": [load_before, os.getloadavg()[0]],
        "settings": {
            "duration": args.duration,
            "runs": args.runs,
            "connections": args.connections,
            "quick": args.quick,
        },
        "argv": report.command_line("benchmarks.run", argv),
        "targets": {
            t.name: {"label": t.label, "command": commands.get(t.name, "")} for t in chosen
        },
        "scenarios": {s.name: {"label": s.label, "path": s.path} for s in scenarios},
        "wrk_command": " ".join(example),
        "results": results,
        "machine": report.machine_info(),
    }
    report.save_results(report.THROUGHPUT_FILE, data, render=not args.no_report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
