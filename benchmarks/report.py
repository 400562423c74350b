"""Render the benchmark results into docs/performance.md and docs/performance.png
(layer: benchmarks).

Reads whatever ``benchmarks/results/throughput.json`` (``run.py``) and
``benchmarks/results/memory.json`` (``memory.py``) hold; either may be missing, and
its part of the page then says so. ``python -m benchmarks.report`` re-renders.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.targets import REPO_ROOT, RESULTS_DIR

__all__ = ["machine_info", "render", "write_report"]

DOCS_DIR = REPO_ROOT / "docs"
REPORT_PATH = DOCS_DIR / "performance.md"
CHART_PATH = DOCS_DIR / "performance.png"
THROUGHPUT_FILE = RESULTS_DIR / "throughput.json"
MEMORY_FILE = RESULTS_DIR / "memory.json"

# The goals, checked against the numbers.
GOAL_VS_TORNADO = 2.0
GOAL_VS_UVICORN_H11 = 1.5
GOAL_KIB_PER_CONNECTION = 10.0
_PACKAGES = ("tornado", "uvicorn", "httptools", "starlette", "h11", "anyio")


def save_results(path: Path, data: dict[str, Any], *, render: bool) -> None:
    """Write one benchmark's results as JSON and, with ``render``, the docs pages."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    if render:
        for written in write_report():
            print(f"wrote {written.relative_to(REPO_ROOT)}")


def command_line(module: str, argv: Sequence[str] | None) -> list[str]:
    """How a benchmark was run, for its results: ``python -m module`` and its options
    (``argv``, or this process's when None)."""
    return ["python", "-m", module, *(argv if argv is not None else sys.argv[1:])]


def machine_info() -> dict[str, str]:
    """What the numbers depend on: CPU, kernel, Python, package versions, wrk."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    versions = []
    for package in _PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    info["packages"] = ", ".join(versions)
    if shutil.which("wrk"):
        completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        first = (completed.stdout or completed.stderr).splitlines()[:1]
        info["wrk"] = re.sub(r"\s+Copyright.*", "", first[0]) if first else "wrk"
    return info


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


def _cell(data: dict[str, Any], target: str, scenario: str) -> dict[str, Any]:
    cell: dict[str, Any] = data["results"].get(target, {}).get(scenario, {})
    return cell


def _rps(data: dict[str, Any], target: str, scenario: str) -> float | None:
    value = _cell(data, target, scenario).get("rps")
    return float(value) if value is not None else None


def _goal_rows(throughput: dict[str, Any] | None, memory: dict[str, Any] | None) -> list[str]:
    rows: list[str] = []

    def row(goal: str, measured: str, met: bool | None) -> None:
        verdict = "not measured" if met is None else ("**met**" if met else "not met")
        rows.append(f"| {goal} | {measured} | {verdict} |")

    def ratios(target: str, base: str) -> dict[str, float]:
        found: dict[str, float] = {}
        if throughput is None:
            return found
        for scenario in throughput["scenarios"]:
            value, reference = _rps(throughput, target, scenario), _rps(throughput, base, scenario)
            if value is not None and reference:
                found[scenario] = value / reference
        return found

    vs_tornado = ratios("tornadoish", "tornado")
    for scenario, label in (("plaintext", "GET /"), ("user", "GET /user/12345")):
        value = vs_tornado.get(scenario)
        row(
            f"1. tornadoish on our server ≥ {GOAL_VS_TORNADO:g}x Tornado, {label}",
            "-" if value is None else f"{value:.2f}x",
            None if value is None else value >= GOAL_VS_TORNADO,
        )
    for goal, target, base, threshold in (
        (
            f"2. our server ≥ {GOAL_VS_UVICORN_H11:g}x uvicorn h11, raw ASGI app",
            "raw-asgi",
            "raw-asgi-uvicorn-h11",
            GOAL_VS_UVICORN_H11,
        ),
        (
            "3. tornadoish ≥ Starlette, both on uvicorn (httptools)",
            "tornadoish-uvicorn-httptools",
            "starlette-uvicorn-httptools",
            1.0,
        ),
    ):
        found = ratios(target, base)
        if not found:
            row(goal, "-", None)
            continue
        passed = sum(value >= threshold for value in found.values())
        detail = ", ".join(f"{name} {value:.2f}x" for name, value in found.items())
        row(
            goal,
            f"{passed} of {len(found)} scenarios: {detail}",
            passed == len(found),
        )
    servers = memory["servers"] if memory else {}
    ours, tornado = servers.get("tornadoish", {}), servers.get("tornado", {})
    if ours.get("idle_rss_kib") and tornado.get("idle_rss_kib"):
        row(
            "4a. idle RSS of our server ≤ Tornado's",
            f"{ours['idle_rss_kib'] / 1024:.1f} MiB vs {tornado['idle_rss_kib'] / 1024:.1f} MiB",
            ours["idle_rss_kib"] <= tornado["idle_rss_kib"],
        )
    else:
        row("4a. idle RSS of our server ≤ Tornado's", "-", None)
    per_connection = ours.get("kib_per_connection")
    row(
        f"4b. ≤ {GOAL_KIB_PER_CONNECTION:g} KiB per idle keep-alive connection "
        f"({memory['connections'] if memory else 5000:,} open)",
        "-" if per_connection is None else f"{per_connection:.1f} KiB",
        None if per_connection is None else per_connection <= GOAL_KIB_PER_CONNECTION,
    )
    many = ours.get("many")
    if many:
        row(
            f"4c. {many['connections']:,} idle connections held, new requests still answered",
            f"{many['still_open']:,} still open; fresh request "
            + (f"answered in {many['fresh_ms']:.1f} ms" if many["answered"] else "not answered"),
            many["answered"] and many["still_open"] == many["connections"],
        )
    else:
        row("4c. 10,000 idle connections held, new requests still answered", "-", None)
    return rows


def _throughput_section(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["Not measured yet: run `nox -s bench` (or `python -m benchmarks.run`).", ""]
    settings = data["settings"]
    lines = [
        f"Measured {_when(data['started_at'])}: {settings['connections']} keep-alive "
        f"connections, {settings['duration']:g} s per run, median of {settings['runs']} "
        f"run(s){' (quick smoke run: not representative)' if settings['quick'] else ''}. "
        "p99 is the median of the runs' 99th-percentile latencies. x Tornado and "
        "x ceiling compare requests per second with Tornado 6 and with the raw asyncio "
        "Protocol in the same scenario.",
        "",
    ]
    load = data.get("load_average")
    if load:
        lines += [
            f"The machine's 1-minute load average was {load[0]:.1f} when the run began and "
            f"{load[1]:.1f} when it ended: other work shared the two CPUs, which is why the "
            "targets are interleaved and only ratios within one run should be compared.",
            "",
        ]
    lines += [
        f"![Requests per second per scenario]({CHART_PATH.name})",
        "",
        "| Scenario | Target | req/s | p99 (ms) | x Tornado | x ceiling |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for scenario, info in data["scenarios"].items():
        tornado = _rps(data, "tornado", scenario)
        ceiling = _rps(data, "ceiling", scenario)
        for target, target_info in data["targets"].items():
            cell = _cell(data, target, scenario)
            label = target_info["label"]
            if "error" in cell:
                lines.append(f"| {info['label']} | {label} | failed: {cell['error']} | | | |")
                continue
            rps = cell.get("rps")
            if rps is None:
                continue
            failed = cell.get("failed_requests", 0)
            note = f" ({failed} failed)" if failed else ""
            lines.append(
                f"| {info['label']} | {label} | {rps:,.0f}{note} | {cell['p99_ms']:.2f} "
                f"| {_ratio(rps, tornado)} | {_ratio(rps, ceiling)} |"
            )
    lines.append("")
    return lines


def _memory_section(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["Not measured yet: run `nox -s bench` (or `python -m benchmarks.memory`).", ""]
    count = data["connections"]
    lines = [
        f"Measured {_when(data['started_at'])}. Idle RSS: `VmRSS` of the server process "
        "after startup and one request. Per connection: RSS growth after "
        f"{count:,} keep-alive connections each made one request and stayed open, "
        f"divided by {count:,}. Held: {data['many_connections']:,} such connections, then "
        "a fresh connection's request, with every idle one checked still open.",
        "",
        f"| Server | idle RSS (MiB) | RSS with {count:,} idle (MiB) | KiB per connection "
        f"| {data['many_connections']:,} held | fresh request |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for server in data["servers"].values():
        if "error" in server:
            lines.append(f"| {server['label']} | failed: {server['error']} | | | | |")
            continue
        many = server.get("many")
        if many is None:
            held, fresh = "-", "-"
        else:
            held = f"{many['still_open']:,} open"
            fresh = f"{many['fresh_ms']:.1f} ms" if many["answered"] else "no answer"
        lines.append(
            f"| {server['label']} | {server['idle_rss_kib'] / 1024:.1f} "
            f"| {server['loaded_rss_kib'] / 1024:.1f} | {server['kib_per_connection']:.1f} "
            f"| {held} | {fresh} |"
        )
    lines.append("")
    return lines


def _commands_section(
    throughput: dict[str, Any] | None, memory: dict[str, Any] | None
) -> list[str]:
    lines = [
        "Everything: `nox -s bench` (installs the benchmark dependencies, and wrk with "
        "apt-get when missing and run as root), which runs:",
        "",
        "```sh",
        "python -m benchmarks.run",
        "python -m benchmarks.memory",
        "```",
        "",
        "Options: `python -m benchmarks.run --quick` (1 s, one round), `--duration`, "
        "`--runs`, `--targets tornadoish,tornado`, `--scenarios plaintext,user`; "
        "`python -m benchmarks.memory --connections 5000 --many 10000`; "
        "`python -m benchmarks.report` re-renders this page from `benchmarks/results/`; "
        "`python -m benchmarks.inprocess /user/12345 --profile` times and profiles the "
        "framework alone (no server, no sockets).",
        "",
    ]
    if throughput is not None:
        lines += [
            f"This page's throughput run: `{' '.join(throughput['argv'])}`. Servers, "
            "started from the repository root, each pinned to CPU 0 "
            "(`taskset -c 0 <command>`, PORT free at start):",
            "",
            "```sh",
        ]
        lines += [info["command"] for info in throughput["targets"].values() if info["command"]]
        lines += [
            "```",
            "",
            "Load, pinned to CPU 1 (the echo scenario; the others drop `-s`):",
            "",
            "```sh",
            throughput["wrk_command"],
            "```",
            "",
        ]
    if memory is not None:
        lines += [
            f"This page's memory run: `{' '.join(memory['argv'])}`; servers as above, "
            "with a long keep-alive timeout where the server has one:",
            "",
            "```sh",
        ]
        lines += [server["command"] for server in memory["servers"].values() if "command" in server]
        lines += ["```", ""]
    return lines


def render(throughput: dict[str, Any] | None, memory: dict[str, Any] | None) -> str:
    """The whole of docs/performance.md."""
    machine = (throughput or memory or {}).get("machine") or machine_info()
    lines = [
        "# Performance",
        "",
        "Generated by `nox -s bench` from `benchmarks/` (see the commands at the end); "
        "do not edit by hand. Numbers come from one small machine: compare the ratios, "
        "which hold better across machines than the absolute rates.",
        "",
        "## Goals",
        "",
        "| Goal | Measured | Verdict |",
        "| --- | --- | --- |",
        *_goal_rows(throughput, memory),
        "",
        "## Throughput",
        "",
        *_throughput_section(throughput),
        "## Memory",
        "",
        *_memory_section(memory),
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in machine.items()],
        "",
        "## Method",
        "",
        "- Each target is a separate process started from the repository root, pinned to "
        "CPU 0 with `taskset`; wrk (one thread) is pinned to CPU 1. Loopback only.",
        "- Every server runs the stdlib asyncio event loop (Tornado's; uvloop would favour "
        "whichever server can use it) with access logging off.",
        "- Before measuring, every target's answer to every scenario is checked (status "
        "200, body length); a wrong answer is reported instead of a rate.",
        "- Each round runs every scenario against every target, the target order rotating "
        "from round to round, so that a slow drift of the machine touches all alike; the "
        "table shows the median of the rounds.",
        "- The ceiling is an asyncio Protocol writing canned responses: no HTTP parsing "
        "beyond finding the end of the head, no ASGI. It is what this machine's Python "
        "and loopback allow, not a real server.",
        "",
        "## Commands",
        "",
        *_commands_section(throughput, memory),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report() -> list[Path]:
    """Write docs/performance.md (and the chart, when there are throughput results and
    matplotlib is installed); return the paths written."""
    throughput, memory = _load(THROUGHPUT_FILE), _load(MEMORY_FILE)
    DOCS_DIR.mkdir(exist_ok=True)
    REPORT_PATH.write_text(render(throughput, memory))
    written = [REPORT_PATH]
    if throughput is not None:
        try:
            from benchmarks import chart
        except ImportError as exc:  # matplotlib missing
            print(f"chart skipped: {exc}", file=sys.stderr)
        else:
            chart.write_chart(throughput, CHART_PATH)
            written.append(CHART_PATH)
    return written


if __name__ == "__main__":
    for written_path in write_report():
        print(f"wrote {written_path.relative_to(REPO_ROOT)}")
