"""The PNG chart of docs/performance.md: requests per second per scenario (layer: benchmarks).

One panel per scenario, one bar per target, with its ratio to Tornado; our server's
bars stand out. Needs matplotlib (``nox -s bench`` installs it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file

import matplotlib.pyplot as plt

__all__ = ["write_chart"]

_OURS = "#d62728"  # targets served by our own server
_FRAMEWORK = "#1f77b4"  # tornadoish on another server
_OTHER = "#7f7f7f"


def _colour(target: str) -> str:
    if target in ("tornadoish", "raw-asgi"):
        return _OURS
    if target.startswith("tornadoish"):
        return _FRAMEWORK
    return _OTHER


def write_chart(data: dict[str, Any], path: Path) -> None:
    """Draw ``data`` (run.py's JSON) as ``path``."""
    scenarios = list(data["scenarios"].items())
    target_items = list(data["targets"].items())
    columns = 2
    rows = math.ceil(len(scenarios) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(13, 3.2 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for index, (scenario, info) in enumerate(scenarios):
        axis = axes[index // columns][index % columns]
        labels: list[str] = []
        values: list[float] = []
        colours: list[str] = []
        tornado = data["results"].get("tornado", {}).get(scenario, {}).get("rps")
        for target, target_info in target_items:
            rps = data["results"].get(target, {}).get(scenario, {}).get("rps")
            labels.append(target_info["label"])
            values.append(float(rps) if rps is not None else 0.0)
            colours.append(_colour(target))
        positions = list(range(len(labels)))
        axis.barh(positions, values, color=colours)
        axis.set_yticks(positions, labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(info["label"], fontsize=10)
        axis.set_xlabel("requests/s", fontsize=8)
        axis.tick_params(axis="x", labelsize=8)
        peak = max(values, default=0.0) or 1.0
        axis.set_xlim(0, peak * 1.3)
        for position, value in zip(positions, values, strict=True):
            text = f"{value:,.0f}"
            if tornado and value:
                text += f"  ({value / tornado:.2f}x Tornado)"
            axis.text(value + peak * 0.01, position, text, va="center", fontsize=7)
    for index in range(len(scenarios), rows * columns):
        axes[index // columns][index % columns].axis("off")
    settings = data["settings"]
    figure.suptitle(
        f"Requests per second, {settings['connections']} keep-alive connections, "
        f"median of {settings['runs']} x {settings['duration']:g} s "
        "(red: our server; blue: tornadoish on uvicorn)",
        fontsize=11,
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)
