"""What each fault did to availability: how long until the cluster served again, what failed meanwhile, how slow.

A Jepsen test says whether the history is consistent; the first thing people ask next is what the faults cost.
These are pure functions of a ``History`` and its fault windows (``render.faults.fault_windows``: each window from
the invocation of the step that opened a fault to the completion of the step that closed it, paired by
``nemesis.windows()``).  Every figure can be checked by hand against the history:

* times are seconds since the first event when the history records ``:time`` (else event positions, and
  ``unit`` says ``events``); latencies are milliseconds (or events);
* a *write* is any client operation whose ``f`` is not a read (``READ_FS``); reads are the rest;
* ``first_ok_write.after_open`` is the time from the window's opening to the completion of the first write that was
  invoked at or after the opening and completed ``:ok`` (``after_close``: the same from the closing: the recovery);
  ``null`` when no such write exists in the history (``invoked_after_close`` says whether any was tried);
* ``inside`` counts the client operations invoked while the window was open by outcome (``info`` includes
  operations that never completed); ``error_rate`` is ``(fail + info) / total``;
* ``latency_ms`` gives quantiles of the ``:ok`` operations invoked ``before`` the window (since the last moment any
  fault was in force, or the start), ``inside`` it, and ``after`` it (until the next fault of any kind, or the end).
  A span with no operations has ``n`` 0 and ``null`` quantiles.

``summary_lines`` turns the windows of each fault kind into one sentence.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from .history import History

READ_FS = frozenset({"read", "get", "r", "read-all", "list", "range", "query", "contains", "size"})
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}


@dataclass
class Timed:
    """A client call with its times on the report's axis."""

    f: str
    status: str          # ok, fail, info (crashed or never completed)
    start: float
    end: float | None    # None: never completed
    latency_ms: float | None

    @property
    def is_read(self) -> bool:
        return self.f in READ_FS


def clock(history: History) -> tuple[np.ndarray, str]:
    """Each event's place on the axis (seconds since the first event, or positions) and the unit's name."""
    from .render.figures import clock as figure_clock
    clk = figure_clock(history)
    return clk.at, "s" if clk.timed else "events"


def timed_calls(history: History, at: np.ndarray, unit: str) -> list[Timed]:
    """Every client call, with times from ``at``."""
    pos = {id(op): i for i, op in enumerate(history.ops)}
    scale = 1000.0 if unit == "s" else 1.0
    out = []
    for c in history.calls(include_failed=True):
        start = float(at[pos[id(c.invoke)]])
        end = float(at[pos[id(c.complete)]]) if c.complete is not None else None
        status = c.status if c.status in ("ok", "fail") else "info"
        out.append(Timed(str(c.f), status, start, end, None if end is None else (end - start) * scale))
    return out


def quantiles(latencies: list[float]) -> dict[str, Any]:
    """``n`` and the ``QUANTILES`` (linear interpolation, as numpy computes them), rounded to microseconds."""
    if not latencies:
        return {"n": 0, **{name: None for name in QUANTILES}}
    values = np.asarray(latencies, dtype=float)
    return {"n": len(latencies), **{name: round(float(np.quantile(values, q)), 3) for name, q in QUANTILES.items()}}


def first_ok(calls: list[Timed], since: float, *, reads: bool) -> float | None:
    """Time from ``since`` to the completion of the first ok call of the kind invoked at or after ``since``."""
    done = [c.end for c in calls if c.status == "ok" and c.is_read == reads and c.start >= since and c.end is not None]
    return round(min(done) - since, 6) if done else None


def _calm_bounds(spans: list[tuple[float, float]], start: float, end: float, first: float,
                 last: float) -> tuple[float, float]:
    """The calm before ``start`` (since the last moment another window was in force, or the first event) and
    after ``end`` (until another window opens, or the last event); empty when another window overlaps."""
    before = max([min(b, start) for a, b in spans if a < start] + [first])
    after = min([max(a, end) for a, b in spans if b > end] + [last])
    return before, after


def _span_quantiles(calls: list[Timed], lo: float, hi: float, *, closed: bool = False) -> dict[str, Any]:
    """Latency quantiles of the ok calls invoked in ``[lo, hi)`` (``[lo, hi]`` when ``closed``)."""
    return quantiles([c.latency_ms for c in calls if c.status == "ok" and c.latency_ms is not None
                      and lo <= c.start and (c.start <= hi if closed else c.start < hi)])


def windows(history: History) -> list[dict[str, Any]]:
    """One entry per fault window, in order of opening (see the module docstring for each field)."""
    from .render.faults import fault_windows
    found = fault_windows(history)
    if not found:
        return []
    at, unit = clock(history)
    calls = timed_calls(history, at, unit)
    last_pos = len(at) - 1
    first, last = (float(at[0]), float(at[-1])) if len(at) else (0.0, 0.0)
    spans = [(float(at[min(w.start, last_pos)]), float(at[min(w.end, last_pos)])) for w in found]
    out = []
    for w, (start, end) in zip(found, spans):
        inside = [c for c in calls if start <= c.start < end]
        counts = {s: sum(c.status == s for c in inside) for s in ("ok", "fail", "info")}
        total = len(inside)
        before, after = _calm_bounds([s for s in spans if s != (start, end)], start, end, first, last)
        out.append({
            "kind": w.kind, "f": w.f, "label": w.label, "start": round(start, 6), "end": round(end, 6),
            "duration": round(end - start, 6), "closed": w.end < len(history.ops),
            "inside": {**counts, "total": total,
                       "error_rate": round((counts["fail"] + counts["info"]) / total, 4) if total else None},
            "first_ok_write": {"after_open": first_ok(calls, start, reads=False),
                               "after_close": first_ok(calls, end, reads=False)},
            "first_ok_read": {"after_open": first_ok(calls, start, reads=True),
                              "after_close": first_ok(calls, end, reads=True)},
            "invoked_after_close": {"writes": sum(not c.is_read and c.start >= end for c in calls),
                                    "reads": sum(c.is_read and c.start >= end for c in calls)},
            "latency_ms": {"before": _span_quantiles(calls, before, start),
                           "inside": _span_quantiles(calls, start, end),
                           "after": _span_quantiles(calls, end, after, closed=after == last)},
        })
    return out


def by_kind(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per fault kind: how many windows, the recovery times (median and worst over the windows that recovered,
    and how many never did), and the share of operations inside its windows that failed or crashed."""
    kinds: dict[str, list[dict]] = {}
    for e in entries:
        kinds.setdefault(e["kind"], []).append(e)
    out = {}
    for kind, group in kinds.items():
        total = sum(e["inside"]["total"] for e in group)
        bad = sum(e["inside"]["fail"] + e["inside"]["info"] for e in group)
        out[kind] = {"windows": len(group),
                     "writes_resumed": _spread(group, "first_ok_write", "writes"),
                     "reads_resumed": _spread(group, "first_ok_read", "reads"),
                     "operations_inside": total, "error_rate": round(bad / total, 4) if total else None}
    return out


def _spread(group: list[dict[str, Any]], first: str, what: str) -> dict[str, Any]:
    """Median and worst recovery over the windows that recovered; ``never``: windows after which some were
    invoked and none succeeded; ``untried``: windows still open at the end, or after which none was invoked."""
    tried = [e for e in group if e.get("closed", True) and e.get("invoked_after_close", {}).get(what, 1)]
    got = [e[first]["after_close"] for e in tried if e[first]["after_close"] is not None]
    return {"median": round(statistics.median(got), 6) if got else None, "worst": max(got) if got else None,
            "never": len(tried) - len(got), "untried": len(group) - len(tried)}


def section(history: History) -> dict[str, Any] | None:
    """results.json's ``availability``: the unit, one entry per window, and the figures per kind; None when the
    history has no fault window."""
    entries = windows(history)
    if not entries:
        return None
    return {"unit": clock(history)[1], "windows": entries, "kinds": by_kind(entries)}


def summary_lines(history: History) -> list[str]:
    """One sentence per fault kind, e.g. ``partition (4 windows): writes resumed after 1.9 s median, 3.4 s worst;
    reads after 0.2 s median, 0.4 s worst; 12 % of operations failed or crashed inside``."""
    data = section(history)
    if data is None:
        return []
    return [_line(kind, figures, data["unit"]) for kind, figures in data["kinds"].items()]


def _line(kind: str, figures: dict[str, Any], unit: str) -> str:
    n = figures["windows"]
    parts = [_resumed("writes", figures["writes_resumed"], n, unit),
             _resumed("reads", figures["reads_resumed"], n, unit)]
    rate = figures["error_rate"]
    tail = (f"{_percent(rate)} of operations failed or crashed inside" if rate is not None
            else "no operation was invoked inside")
    return f"{kind} ({n} window{'s' if n != 1 else ''}): " + "; ".join(parts + [tail])


def _resumed(what: str, spread: dict[str, Any], n: int, unit: str) -> str:
    tried = n - spread.get("untried", 0)
    if tried == 0:
        return f"no {what[:-1]} was tried after {'it' if n == 1 else 'them'}"
    if spread["median"] is None:
        return f"{what} never resumed after {'it' if tried == 1 else f'any of the {tried} windows'}"
    if tried - spread["never"] == 1:
        text = f"{what} resumed after {_amount(spread['worst'], unit)}"
    else:
        text = (f"{what} resumed after {_amount(spread['median'], unit)} median, "
                f"{_amount(spread['worst'], unit)} worst")
    if spread["never"]:
        text += f" (never after {spread['never']} of {tried})"
    if spread.get("untried"):
        text += f" (none tried after {spread['untried']} of {n})"
    return text


def _amount(value: float, unit: str) -> str:
    if unit != "s":
        return f"{value:g} events"
    return f"{value:.1f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def _percent(rate: float) -> str:
    return f"{rate * 100:.0f} %" if rate >= 0.01 or rate == 0 else f"{rate * 100:.1g} %"
