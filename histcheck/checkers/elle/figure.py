"""A small figure of one cycle anomaly: its transactions round a circle, each edge labelled with why it exists.

matplotlib is imported only when a figure is drawn (checking a history never pays for it), and through its
object-oriented ``Figure`` so that no global backend or pyplot state is touched.
"""
from __future__ import annotations

import math
from pathlib import Path

from ...checker.result import Anomaly

EDGE_COLOURS = {"ww": "#1f77b4", "wr": "#2ca02c", "rw": "#d62728", "process": "#7f7f7f", "realtime": "#9467bd"}


def _edge_text(step: dict) -> str:
    kind = step["type"]
    if kind == "process":
        return f"process {step.get('process')}"
    if kind == "realtime":
        return f"realtime ({step.get('completed-index')} < {step.get('invoked-index')})"
    key = step.get("key")
    later = step.get("value'")
    if kind == "wr":
        return f"wr  key {key}: read {step.get('value')}"
    if kind == "ww":
        return f"ww  key {key}: {step.get('value')} then {later}"
    return f"rw  key {key}: missed {later}"


def draw_cycle(anomaly: Anomaly, path: str | Path) -> Path:
    """Draw ``anomaly``'s cycle (it must have ``facts["cycle"]``) to ``path`` (png, svg or pdf by its suffix)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    steps = anomaly.facts.get("cycle")
    if not steps:
        raise ValueError(f"anomaly {anomaly.kind} has no cycle to draw")
    n = len(anomaly.ops)
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    points = [(math.cos(math.pi / 2 - 2 * math.pi * i / n), math.sin(math.pi / 2 - 2 * math.pi * i / n))
              for i in range(n)]
    for i, (op, (x, y)) in enumerate(zip(anomaly.ops, points)):
        ax.text(x, y, f"T{i + 1}\nindex {op.get('index')}\nprocess {op.get('process')}", ha="center",
                va="center", fontsize=9, bbox={"boxstyle": "round", "facecolor": "#f4f4f4", "edgecolor": "#333"})
    for step in steps:
        (x1, y1), (x2, y2) = points[step["from"]], points[step["to"]]
        colour = EDGE_COLOURS.get(step["type"], "black")
        bend = 0.25 if n == 2 else 0.15
        ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={-bend}", arrowstyle="-|>",
                                     mutation_scale=18, color=colour, shrinkA=32, shrinkB=32, linewidth=1.6))
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        # Put the label outside the chord, on the side the arc bends to.
        nx_, ny_ = -(y2 - y1), (x2 - x1)
        norm = math.hypot(nx_, ny_) or 1.0
        offset = 0.8 if n == 2 else 0.3
        ax.text(mx + nx_ / norm * offset, my + ny_ / norm * offset, _edge_text(step), ha="center", va="center",
                fontsize=8, color=colour)
    ax.set_title(f"{anomaly.kind}: " + " -> ".join(f"T{i + 1}" for i in range(n)) + " -> T1", fontsize=11)
    out = Path(path)
    fig.savefig(out, bbox_inches="tight")
    return out
