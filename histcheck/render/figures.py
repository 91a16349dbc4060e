"""Figures, drawn the way Jepsen draws them: latency, throughput and the anomaly window, faults shaded.

Jepsen's ``latency-raw.png``, ``latency-quantiles.png`` and ``rate.png`` are how people first see what a fault
did to a system: points or lines per operation type over time, with bands where the nemesis was active (here in
each fault's colour from ``nemesis.colours()``, grey for names it does not know).
Knossos adds ``linear.svg``, a small timeline of the operations around the failure.  This module draws all four
with matplotlib's Agg backend (no display needed):

* ``anomaly_window``: the calls overlapping the failure, a lane per process, the failing operation outlined in
  red and the minimal counterexample in purple, as PNG and SVG;
* ``cycle_figures``: for Elle's cycle anomalies, the first cycle of each kind as a small graph (``cycle-G2-item.png``);
* ``latency_raw``: one point per completed call, by ``f`` and outcome (ok / fail / info), log scale;
* ``latency_quantiles``: the 0.5, 0.95, 0.99 and max latency per ``f`` in time buckets;
* ``rate``: completions per second, by ``f`` and outcome;
* ``availability``: throughput by outcome above ok latency, the fault windows shaded (gaps where nothing
  completed ok).

When the history carries ``:time`` (nanoseconds, as Jepsen records) the x axis is seconds since the first event
and latencies are milliseconds; otherwise both are counted in events (positions in the history), and the axis
labels say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..history import History

OUTCOME_COLORS = {"ok": "#2ca02c", "fail": "#d62728", "info": "#ff9f1c"}
BAR_COLORS = {"ok": "#9fd69f", "fail": "#f4b0b0", "info": "#f9df7f", "open": "#f9df7f"}
QUANTILES = (0.5, 0.95, 0.99, 1.0)


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


@dataclass
class Clock:
    """Where each event sits on the x axis, and the units of axes."""

    at: np.ndarray
    timed: bool

    @property
    def x_label(self) -> str:
        return "time (s)" if self.timed else "event position in the history (no :time recorded)"

    @property
    def latency_label(self) -> str:
        return "latency (ms)" if self.timed else "latency (events between invocation and completion)"

    def latency(self, start: int, end: int) -> float:
        return (self.at[end] - self.at[start]) * (1000.0 if self.timed else 1.0)


def clock(history: History) -> Clock:
    """Seconds since the first event when client events carry ``:time``; event positions otherwise."""
    n = len(history.ops)
    times = np.array([np.nan if op.time is None else float(op.time) for op in history.ops], dtype=float)
    client = np.array([op.is_client for op in history.ops], dtype=bool)
    if n == 0 or np.isnan(times[client]).any() or not np.isfinite(times).any():
        return Clock(np.arange(n, dtype=float), False)
    known = ~np.isnan(times)
    filled = np.interp(np.arange(n), np.flatnonzero(known), times[known])
    return Clock((filled - filled[0]) / 1e9, True)


def _calls(history: History) -> list:
    return history.calls(include_failed=True)


def _positions(history: History) -> dict[int, int]:
    return {id(op): pos for pos, op in enumerate(history.ops)}


def shade_nemesis(ax: Any, history: History, clk: Clock) -> None:
    """Bands where a fault was active, as Jepsen shades them, in ``nemesis.colours()``'s colour (grey for names it
    does not know); one legend entry per colour."""
    from .faults import fault_windows, legend as fault_legend
    windows = fault_windows(history)
    legend = dict((colour, text) for text, colour in fault_legend(windows))
    last = len(clk.at) - 1
    for w in windows:
        start, end, colour = w.start, w.end, w.colour
        a, b = clk.at[min(start, last)], clk.at[min(end, last)]
        text = legend.pop(colour, None)
        ax.axvspan(a, b if b > a else a + 1e-9, color=colour, alpha=0.18, lw=0,
                   label=f"nemesis: {text}" if text is not None else None)


# -- latency and rate -------------------------------------------------------------------------------------------

def latency_points(history: History, clk: Clock | None = None) -> list[tuple[str, str, float, float]]:
    """(f, outcome, x, latency) for every completed call."""
    clk = clk or clock(history)
    pos = _positions(history)
    out = []
    for c in _calls(history):
        if c.complete is None:
            continue
        start, end = pos[id(c.invoke)], pos[id(c.complete)]
        out.append((str(c.f), c.status, float(clk.at[start]), clk.latency(start, end)))
    return out


def latency_raw(history: History, path: Path, clk: Clock | None = None) -> Path:
    plt, clk = _plt(), clk or clock(history)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    points = latency_points(history, clk)
    markers = "osD^v<>ph*"
    for fi, f in enumerate(sorted({p[0] for p in points})):
        for outcome, color in OUTCOME_COLORS.items():
            sel = [(x, y) for g, o, x, y in points if g == f and o == outcome]
            if sel:
                xs, ys = zip(*sel)
                ax.scatter(xs, np.maximum(ys, 1e-3), s=8, marker=markers[fi % len(markers)], color=color,
                           alpha=0.6, label=f"{f} {outcome}", linewidths=0)
    _finish(ax, history, clk, "Latency (raw)", clk.latency_label, log=True)
    return _save(fig, path)


def latency_quantiles(history: History, path: Path, clk: Clock | None = None, buckets: int = 40) -> Path:
    plt, clk = _plt(), clk or clock(history)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    points = latency_points(history, clk)
    if points:
        edges = np.linspace(min(p[2] for p in points), max(p[2] for p in points) + 1e-9, buckets + 1)
        styles = {0.5: "-", 0.95: "--", 0.99: "-.", 1.0: ":"}
        for fi, f in enumerate(sorted({p[0] for p in points})):
            xs = np.array([p[2] for p in points if p[0] == f])
            ys = np.array([p[3] for p in points if p[0] == f])
            color = f"C{fi}"
            for q in QUANTILES:
                mids, vals = _bucketed(xs, ys, edges, q)
                if np.isfinite(vals).any():
                    ax.plot(mids, np.maximum(vals, 1e-3), styles[q], color=color, lw=1.2,
                            label=f"{f} {'max' if q == 1.0 else q}")
    _finish(ax, history, clk, "Latency quantiles", clk.latency_label, log=True)
    return _save(fig, path)


def _bucketed(xs: np.ndarray, ys: np.ndarray, edges: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``q`` quantile of ``ys`` per bucket of ``xs``, at every bucket's middle; NaN where a bucket holds no
    point, so that matplotlib leaves a gap there instead of drawing a straight line across it."""
    which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, len(edges) - 2)
    mids = (edges[:-1] + edges[1:]) / 2
    vals = np.full(len(mids), np.nan)
    for b in np.unique(which):
        vals[b] = np.quantile(ys[which == b], q)
    return mids, vals


def rate(history: History, path: Path, clk: Clock | None = None, buckets: int = 40) -> Path:
    """Completions per second (or per 100 events, untimed) by f and outcome."""
    plt, clk = _plt(), clk or clock(history)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    pos = _positions(history)
    done = [(str(c.f), c.status, clk.at[pos[id(c.complete)]]) for c in _calls(history) if c.complete is not None]
    if done:
        lo, hi = float(clk.at[0]), float(clk.at[-1]) + 1e-9
        edges = np.linspace(lo, hi, buckets + 1)
        width = (edges[1] - edges[0]) / (1.0 if clk.timed else 100.0)
        for f in sorted({d[0] for d in done}):
            for outcome, color in OUTCOME_COLORS.items():
                xs = np.array([d[2] for d in done if d[0] == f and d[1] == outcome])
                if len(xs):
                    counts, _ = np.histogram(xs, edges)
                    ax.plot((edges[:-1] + edges[1:]) / 2, counts / width, color=color, lw=1.2,
                            ls=["-", "--", ":", "-."][sorted({d[0] for d in done}).index(f) % 4],
                            label=f"{f} {outcome}")
    unit = "operations per second" if clk.timed else "operations per 100 events"
    _finish(ax, history, clk, "Throughput", unit, log=False)
    return _save(fig, path)


def availability(history: History, path: Path, clk: Clock | None = None) -> Path:
    """Throughput (completions per second by outcome) above latency (the 0.5 and 0.99 quantiles of ok calls by
    invocation time), fault windows shaded in their kind's colour: what each fault did to service at a glance.
    A bucket with no ok call has no latency and is drawn as a gap, never bridged by a line."""
    plt, clk = _plt(), clk or clock(history)
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    pos = _positions(history)
    calls = [c for c in _calls(history) if c.complete is not None]
    lo, hi = (float(clk.at[0]), float(clk.at[-1]) + 1e-9) if len(clk.at) else (0.0, 1.0)
    span = hi - lo
    buckets = int(min(200, max(20, span / 0.25))) if clk.timed else int(min(200, max(20, span / 10)))
    edges = np.linspace(lo, hi, buckets + 1)
    width = (edges[1] - edges[0]) / (1.0 if clk.timed else 100.0)
    for outcome, color in OUTCOME_COLORS.items():
        ends = np.array([clk.at[pos[id(c.complete)]] for c in calls if _outcome(c) == outcome])
        counts, _ = np.histogram(ends, edges) if len(ends) else (np.zeros(buckets), edges)
        if len(ends) or outcome == "ok":
            top.stairs(counts / width, edges, color=color, lw=1.3, label=outcome)
    ok = [c for c in calls if c.status == "ok"]
    if ok:
        xs = np.array([clk.at[pos[id(c.invoke)]] for c in ok])
        ys = np.array([clk.latency(pos[id(c.invoke)], pos[id(c.complete)]) for c in ok])
        for q, style in ((0.5, "-"), (0.99, "--")):
            mids, vals = _bucketed(xs, ys, edges, q)
            bottom.plot(mids, np.maximum(vals, 1e-3), style, color="#1f77b4", lw=1.2, label=f"ok latency {q}")
    unit = "operations per second" if clk.timed else "operations per 100 events"
    _finish(top, history, clk, "Availability: throughput and latency, faults shaded", unit, log=False)
    _finish(bottom, history, clk, "", clk.latency_label, log=True)
    top.set_xlabel("")
    fig.subplots_adjust(left=0.08, right=0.80, bottom=0.08, top=0.94, hspace=0.12)
    fig.savefig(Path(path), dpi=110)
    plt.close(fig)
    return Path(path)


def _outcome(c: Any) -> str:
    return c.status if c.status in ("ok", "fail") else "info"


def _finish(ax: Any, history: History, clk: Clock, title: str, ylabel: str, *, log: bool) -> None:
    shade_nemesis(ax, history, clk)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(clk.x_label)
    ax.set_ylabel(ylabel)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.25)


def _save(fig: Any, path: Path) -> Path:
    path = Path(path)
    fig.subplots_adjust(left=0.08, right=0.80, bottom=0.12, top=0.91)  # no tight_layout: it costs a full draw
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


# -- the anomaly window ---------------------------------------------------------------------------------------

def anomaly_window(history: History, result: Any, counterexample: Any, stem: Path,
                   margin: int = 12, max_lanes: int = 40) -> list[Path]:
    """The operations around the failure as a timeline (``stem``.png and ``stem``.svg)."""
    failure = getattr(result, "failure", None)
    if failure is None:
        return []
    plt = _plt()
    pos = _positions(history)
    calls = _calls(history)
    fail_call = _find(calls, failure.op)
    ce_keys = {(op.index, str(op.process)) for op in (counterexample.ops if counterexample else [])
               if op.type == "invoke"}
    ctx_keys = {(op.index, str(op.process)) for op in (getattr(counterexample, "context", None) or [])
                if op.type == "invoke"} - ce_keys
    lo, hi = _window(calls, pos, fail_call, ce_keys | ctx_keys, len(history.ops), margin)
    shown = [c for c in calls if pos[id(c.invoke)] <= hi and _end(c, pos, len(history.ops)) >= lo
             and (fail_call is None or c.key == fail_call.key)]
    procs = sorted({c.process for c in shown}, key=lambda p: (str(type(p)), p))[:max_lanes]
    lane = {p: i for i, p in enumerate(procs)}
    windows = _nemesis(history, lo, hi)
    rows = _label_rows(windows, (hi - lo + 1) / 170.0)  # about 170 characters of 7 pt text span the axes
    top = -0.7 - 0.45 * (max(rows, default=-1) + 1)
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(procs) + 1.8 + 0.2 * (max(rows, default=-1) + 1)))
    for (a, b, label, colour), row in zip(windows, rows):  # labels on rows above the lanes, never on a bar
        ax.axvspan(a, b, color=colour, alpha=0.15, lw=0)
        ax.text(a, -0.7 - 0.45 * row - 0.1, f"nemesis {label}"[:48], fontsize=7, color="#444", va="bottom")
    pending = {(d.get("invoke_index"), str(d.get("process"))) for cfg in failure.configs for d in cfg.pending}
    marks = {"ce": ce_keys, "ctx": ctx_keys, "pending": pending}
    ax.set_xlim(lo - 0.5, hi + 0.5)
    for c in shown:
        if c.process in lane:
            style = _style(c, fail_call, marks)
            end = pos[id(c.complete)] if c.complete is not None else hi + 1
            _bar(ax, c, lane[c.process], pos[id(c.invoke)], end, style, min_label=(hi - lo) / 45)
    ax.set_yticks(range(len(procs)), [f"process {p}" for p in procs])
    ax.set_ylim(top, len(procs) - 0.1)
    ax.invert_yaxis()
    ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.set_xlabel("event position in the history")
    ax.set_title(_window_title(failure))
    ax.grid(axis="x", alpha=0.2)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.7 / fig.get_figheight(), top=1 - 0.75 / fig.get_figheight())
    out = []
    for ext in ("png", "svg"):
        target = Path(f"{stem}.{ext}")
        fig.savefig(target, dpi=110)
        out.append(target)
    plt.close(fig)
    return out


def _label_rows(windows: list[tuple], char_width: float) -> list[int]:
    """A row per nemesis label, the first where it starts after everything already on that row ends."""
    ends: list[float] = []
    rows = []
    for a, b, label, _colour in windows:
        end = max(b, a + (len(f"nemesis {label}"[:48]) + 2) * char_width)
        row = next((r for r, e in enumerate(ends) if e <= a), len(ends))
        ends[row:row + 1] = [end]
        rows.append(row)
    return rows


def _find(calls: list, op: dict | None) -> Any:
    if not op:
        return None
    for c in calls:
        if c.invoke.index == op.get("invoke_index") and str(c.process) == str(op.get("process")):
            return c
    return next((c for c in calls if c.index == op.get("index")), None)


def _end(c: Any, pos: dict, n: int) -> int:
    return pos[id(c.complete)] if c.complete is not None else n


def _window(calls: list, pos: dict, fail_call: Any, ce_keys: set, n: int, margin: int) -> tuple[int, int]:
    marked = [c for c in calls if (c.invoke.index, str(c.process)) in ce_keys or c is fail_call]
    if not marked:
        return 0, min(n, 2 * margin)
    lo = min(pos[id(c.invoke)] for c in marked)
    hi = max(_end(c, pos, n) if c.complete is not None else pos[id(c.invoke)] + margin for c in marked)
    return max(0, lo - margin), min(n, hi + margin)


def _nemesis(history: History, lo: int, hi: int) -> list[tuple[int, int, str, str]]:
    from .faults import fault_windows
    return [(max(w.start, lo), min(w.end, hi), w.label, w.colour) for w in fault_windows(history)
            if w.end >= lo and w.start <= hi]


# edge colour, width and line style of a bar, by what it is to the failure
STYLES = {"failing": ("#d62728", 2.5, "-"), "ce": ("#7b3fe4", 1.8, "-"), "ctx": ("#7b3fe4", 1.8, "--"),
          "pending": ("#d62728", 1.2, ":"), "": ("#666666", 0.5, "-")}


def _style(c: Any, fail_call: Any, marks: dict[str, set]) -> str:
    if c is fail_call:
        return "failing"
    who = (c.invoke.index, str(c.process))
    return next((name for name in ("ce", "ctx", "pending") if who in marks[name]), "")


def _bar(ax: Any, c: Any, y: int, start: int, end: int, style: str, min_label: float = 0.0) -> None:
    from ..values import show
    edge, width, line = STYLES[style]
    bars = ax.barh(y, max(end - start, 0.3), left=start, height=0.6, color=BAR_COLORS.get(c.status, "#ddd"),
                   edgecolor=edge, linewidth=width, linestyle=line)
    if end - start < min_label and not style:
        return  # too narrow to label at this scale: the tooltip in timeline.html has it
    value = show(c.value)
    text = f"{c.f} {value if len(value) < 24 else value[:22] + '…'}"
    left = max(start, ax.get_xlim()[0])  # a bar that starts left of the window is labelled where it shows
    label = ax.text(left + 0.2, y + 0.12, text, fontsize=7, clip_on=True,
                    color="#d62728" if style == "failing" else "#111",
                    weight="bold" if style == "failing" else "normal")
    label.set_clip_path(bars.patches[0])  # a label never runs over the next bar: it is cut at its own bar's end


def _window_title(failure: Any) -> str:
    from ..explain.sentences import describe
    return (f"Anomaly window: {describe(failure.op)} cannot be linearized (red)\n"
            f"purple: minimal counterexample (dashed: writes of values read) · dotted red: pending · shaded: nemesis")


def cycle_figures(result: Any, out_dir: Path) -> list[Path]:
    """``cycle-<kind>.png`` for the first anomaly of each kind that is a cycle (Elle's G0, G1c, G-single, G2-item
    and their ``-process``/``-realtime`` variants): its transactions round a circle, each edge labelled with the
    key and values that make it (``histcheck.checkers.elle.figure.draw_cycle``)."""
    from ..checkers.elle.figure import draw_cycle
    from .marks import sub_results
    if result is None:
        return []
    drawn: dict[str, Path] = {}
    for sub in sub_results(result):
        for a in getattr(sub, "anomalies", None) or []:
            if a.kind not in drawn and isinstance(a.facts, dict) and a.facts.get("cycle"):
                drawn[a.kind] = draw_cycle(a, Path(out_dir) / f"cycle-{_file_safe(a.kind)}.png")
    return list(drawn.values())


def _file_safe(kind: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in kind)


def draw_all(history: History, result: Any, counterexample: Any, out_dir: Path) -> list[Path]:
    """Every figure into ``out_dir``: the anomaly window (if not linearizable), a cycle figure per kind of cycle
    found, latency (raw, quantiles) and rate."""
    out_dir = Path(out_dir)
    clk = clock(history)
    paths = anomaly_window(history, result, counterexample, out_dir / "anomaly")
    paths += cycle_figures(result, out_dir)
    paths.append(latency_raw(history, out_dir / "latency-raw.png", clk))
    paths.append(latency_quantiles(history, out_dir / "latency-quantiles.png", clk))
    paths.append(rate(history, out_dir / "rate.png", clk))
    paths.append(availability(history, out_dir / "availability.png", clk))
    return paths
