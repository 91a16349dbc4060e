"""timeline.html: the whole history on one self-contained page, with the failure in plain sight.

Porcupine showed that one HTML file per check, opened in any browser, beats any amount of text: a lane per
process, a bar per operation from invocation to completion, and the linearization the search found drawn over
them.  Jepsen's timeline draws a lane per *worker* instead (``process mod concurrency``: a worker whose operation
crashed goes on as a new process), which keeps a run with hundreds of retired processes at a handful of lanes;
so does this one (``lanes.worker_lanes``), with a lane above them for the nemesis (``faults.fault_windows``).
This module builds that page from a ``History`` and a ``Result``:

* every call becomes a few integers in column arrays (lane, start, end, status, f, values, indexes, key), and
  values are interned strings, so that the inline JSON stays small (a 100,000-operation history is a few MB);
* the x axis is the event's position in the history (real time as the checker sees it), so that nothing overlaps
  that did not overlap and infinitely-late ``:info`` operations run to the right edge; histories with ``:time``
  also carry each call's start and end in milliseconds, and the page can switch to a time axis;
* the failing operation, the minimal counterexample and the longest partial linearization (as linearization
  points, each inside its operation's bar, in order) are marked by call id;
* where the model can replay the longest linearization, each of its operations carries the state before and after;
* every other checker's findings are drawn in its own words (``marks``): a badge per checker ("lost writes: 12",
  "G2-item", "valid: set") and each anomaly's operations outlined in its kind's colour, with the explanation in
  their tooltip; "jump" goes to the first anomaly, "next" to the following ones;
* values are EDN (``clipped.clipped_edn``): whole in the tooltip up to ``value_limit`` characters, cut at an
  element boundary on the bar's label, so that a transaction or a read of a whole set stays readable and a long
  list-append history, whose reads grow with the run, still makes a page of a few MB.

The page itself (``timeline.html`` next to this file: inline CSS and JS, no network) draws on a canvas and only
paints what is visible, so scrolling and zooming stay smooth on large histories.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from ..errors import HistoryError
from ..history import Call, History, Op
from ..values import show
from .faults import FaultWindow, fault_windows, legend
from .lanes import worker_lanes
from .clipped import clipped_edn
from .marks import anomaly_marks, badges, sub_results, verdict_text

TEMPLATE = Path(__file__).with_name("timeline.html")
STATUS_CODES = {"ok": 0, "fail": 1, "info": 2, "open": 3}
MAX_VALUE_CHARS = 4000     # a value's EDN in the tooltip; longer ones are cut, saying what was left out
MIN_VALUE_CHARS = 160      # ... but never below this, however long the history
VALUE_BUDGET = 16_000_000  # characters of values in one page: long histories get shorter tooltips, not huge pages
LABEL_CHARS = 48           # a value's EDN on its bar's label


class _Interner:
    """Strings to small integers, so that repeated values are stored once."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        got = self.ids.get(text)
        if got is None:
            got = self.ids[text] = len(self.items)
            self.items.append(text)
        return got


def render_timeline(history: History, result: Any = None, counterexample: Any = None, *,
                    model: Any = None, init: Any = None, title: str | None = None) -> str:
    """The complete HTML page as a string."""
    data = timeline_data(history, result, counterexample, model=model, init=init, title=title)
    blob = json.dumps(data, separators=(",", ":"), default=str).replace("</", "<\\/")
    page = TEMPLATE.read_text(encoding="utf-8")
    return page.replace("__TITLE__", _html(data["title"])).replace("__DATA__", blob)


def write_timeline(path: str | Path, history: History, result: Any = None, counterexample: Any = None,
                   **kwargs: Any) -> Path:
    path = Path(path)
    path.write_text(render_timeline(history, result, counterexample, **kwargs), encoding="utf-8")
    return path


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def timeline_data(history: History, result: Any = None, counterexample: Any = None, *, model: Any = None,
                  init: Any = None, title: str | None = None) -> dict[str, Any]:
    """The JSON the page draws: column arrays of calls, nemesis intervals (coloured, with a legend entry per colour),
    and the failure's marks."""
    calls, keys = _calls_and_keys(history)
    positions = {id(op): pos for pos, op in enumerate(history.ops)}
    lanes = worker_lanes(history)
    procs = sorted({c.process for c in calls}, key=lambda p: (str(type(p)), p))
    proc_of = {p: i for i, p in enumerate(procs)}
    fs, vals = _Interner(), _Interner()
    lane_of, lane_names = dict(lanes.lane_of), _lane_names(lanes)
    if any(c.process is None for c in calls):
        lane_of[None] = len(lane_names)
        lane_names.append({"name": "no :process", "procs": ["nil"]})
    ops = _columns(calls, lane_of, proc_of, keys, fs, vals, positions)
    failure = _failure_marks(calls, _linearizability(result), counterexample)
    windows = fault_windows(history)
    nemesis = [w.row() + [w.detail, w.kind] for w in windows]
    return {
        "title": title or f"histcheck: {Path(history.source).name if history.source else 'history'}",
        "valid": _valid(result), "verdict": _verdict(result), "badges": [b.to_dict() for b in badges(result)],
        "summary": _summary(result, counterexample), "anomalies": anomaly_marks(calls, result),
        "n": len(history.ops), "procs": [show(p) for p in procs], "keys": [show(k) for k in keys],
        "lanes": lane_names, "concurrency": lanes.concurrency, "lane_source": lanes.source,
        "fs": fs.items, "vals": vals.items, "ops": ops, "nemesis": nemesis,
        "nemesis_legend": nemesis_legend(windows), "failure": failure, "time": time_axis(history, ops, nemesis),
        "states": _states(calls, _linearizability(result),
                          model if model is not None else getattr(result, "model", None),
                          init if init is not None else getattr(result, "init", None)),
    }


def _linearizability(result: Any) -> Any:
    """The (sub-)result that carries a linearizability ``Failure``, if any: the result itself, or the
    ``linearizable`` checker's of a composed check."""
    if result is None or getattr(result, "failure", None) is not None:
        return result
    return next((r for r in sub_results(result) if getattr(r, "failure", None) is not None), result)


def _lane_names(lanes: Any) -> list[dict[str, Any]]:
    """``{"name", "procs"}`` per lane: ``worker 3`` and the processes it held, or ``process 7`` alone."""
    out = []
    for held in lanes.held:
        if lanes.concurrency is None:
            out.append({"name": f"process {show(held[0])}", "procs": [show(held[0])]})
        else:
            out.append({"name": f"worker {held[0] % lanes.concurrency}", "procs": [show(p) for p in held]})
    return out


def time_axis(history: History, ops: dict[str, list], nemesis: list[list] | None = None) -> dict | None:
    """Milliseconds since the first event for every call's start and end, when the history records ``:time``."""
    from .figures import clock
    clk = clock(history)
    if not clk.timed:
        return None
    ms = [round(float(t) * 1000.0, 3) for t in clk.at]
    t0 = [ms[p] for p in ops["start"]]
    t1 = [ms[p] if p >= 0 else -1 for p in ops["end"]]
    last = len(ms) - 1
    rows = nemesis if nemesis is not None else [w.row() + [w.detail, w.kind] for w in fault_windows(history)]
    spans = [[ms[min(a, last)], ms[min(b, last)], *rest] for a, b, *rest in rows]
    return {"t0": t0, "t1": t1, "max": ms[-1] if ms else 0.0, "nemesis": spans}


def _calls_and_keys(history: History) -> tuple[list, list]:
    """The calls, and the independent keys when the whole history is of ``[k v]`` values.  Some checkers'
    histories look keyed without being so (set-full's adds of ``[k v]`` pairs with reads of plain elements): those
    are drawn as one object, as their checker judged them."""
    calls = history.calls(include_failed=True) + processless_calls(history)
    style = history.key_style()
    if style is None:
        return calls, []
    try:
        groups = history.split_keys(calls, style)
    except HistoryError:
        return history.calls(include_failed=True) + processless_calls(history), []  # split_keys rewrote some
    return calls, sorted(groups, key=lambda k: (str(type(k)), str(k)))


def processless_calls(history: History) -> list[Call]:
    """The operations without a ``:process`` (elle-cli writes long-fork and bank histories of completed reads
    only), which ``History.calls`` leaves out, as calls on a lane of their own: each completion with the
    invocation just before it when that is one of the same ``:f`` (such files are written one operation at a
    time), else on its own."""
    out: list[Call] = []
    pending: tuple[int, Op] | None = None
    for pos, op in enumerate(history.ops):
        if op.process is not None:
            continue
        if op.type == "invoke":
            pending = (pos, op)
            continue
        start, invoke = pending if pending is not None and pending[1].f == op.f else (pos, op)
        pending = None
        status = op.type if op.type in ("ok", "fail", "info") else "ok"
        out.append(Call(id=-1 - len(out), process=None, f=op.f, value=op.value if status == "ok" else invoke.value,
                        status=status, invoke=invoke, complete=op, call_pos=start, return_pos=pos))
    return out


def _columns(calls: list, lane_of: dict, proc_of: dict, keys: list, fs: _Interner, vals: _Interner,
             positions: dict[int, int]) -> dict[str, list]:
    key_of = {k: i for i, k in enumerate(keys)}
    cols: dict[str, list] = {name: [] for name in ("lane", "proc", "start", "end", "status", "f", "inv", "out",
                                                   "label", "index", "iidx", "key")}
    limit = value_limit(len(calls))
    for c in calls:
        comp = c.complete
        cols["lane"].append(lane_of[c.process])
        cols["proc"].append(proc_of[c.process])
        cols["start"].append(c.call_pos)
        cols["end"].append(positions[id(comp)] if comp is not None else -1)
        cols["status"].append(STATUS_CODES.get(c.status, 3))
        cols["f"].append(fs("" if c.f is None else str(c.f)))   # elle-cli's transactions have no :f
        out = c.value if comp is not None and c.status == "ok" else (comp.value if comp is not None else None)
        cols["inv"].append(vals(clipped_edn(_inner(c.invoke.value, c.key is not None), limit)))
        out_id = vals(clipped_edn(out, limit))
        cols["out"].append(out_id)
        long = len(vals.items[out_id]) > LABEL_CHARS
        cols["label"].append(vals(clipped_edn(out, LABEL_CHARS)) if long else out_id)
        cols["index"].append(comp.index if comp is not None else c.invoke.index)
        cols["iidx"].append(c.invoke.index)
        cols["key"].append(key_of.get(c.key, -1))
    return cols


def _inner(value: Any, keyed: bool) -> Any:
    return value[1] if keyed and isinstance(value, tuple) and len(value) == 2 else value


def value_limit(calls: int) -> int:
    """Characters of each value in the tooltips: the whole up to ``MAX_VALUE_CHARS`` while the page stays within
    ``VALUE_BUDGET`` (two values per call), less in longer histories."""
    return max(MIN_VALUE_CHARS, min(MAX_VALUE_CHARS, VALUE_BUDGET // max(1, 2 * calls)))


def nemesis_intervals(history: History) -> list[list]:
    """Fault windows as ``[start, end, label, colour]`` (positions in the history), sorted; see
    ``faults.fault_windows`` for how steps pair into windows."""
    return [w.row() for w in fault_windows(history)]


def nemesis_legend(windows: list[FaultWindow]) -> list[list[str]]:
    """``[text, colour]`` per colour used by the windows, in order of first use."""
    return legend(windows)


def _failure_marks(calls: list, result: Any, ce: Any) -> dict | None:
    failure = getattr(result, "failure", None)
    if failure is None:
        return None
    by_invoke = {(c.invoke.index, _pkey(c.process)): i for i, c in enumerate(calls)}
    by_index = {c.index: i for i, c in enumerate(calls)}
    op = failure.op or {}
    failing = by_invoke.get((op.get("invoke_index"), _pkey(op.get("process"))), by_index.get(op.get("index"), -1))
    ce_ids = [i for i in (by_invoke.get((inv.index, _pkey(inv.process))) for inv in _ce_invokes(ce))
              if i is not None]
    lin = [by_invoke.get((d.get("invoke_index"), _pkey(d.get("process"))), by_index.get(d.get("index")))
           for d in (failure.longest[0] if failure.longest else [])]
    ctx_ids = [i for i in (by_invoke.get((op.index, _pkey(op.process))) for op in getattr(ce, "context", None) or []
                           if op.type == "invoke") if i is not None and i not in ce_ids]
    return {"op": failing, "ce": ce_ids, "ctx": ctx_ids, "lin": _points(calls, [i for i in lin if i is not None]),
            "reason": _first_reason(failure), "states": sorted({c.state for c in failure.configs})[:8],
            "pending": _pending(failure, by_invoke, failing)}


def _pending(failure: Any, by_invoke: dict, failing: int) -> list[int]:
    """Calls still pending in some candidate state when the failing operation returned (the "why" operations)."""
    ids = {by_invoke.get((d.get("invoke_index"), _pkey(d.get("process"))))
           for config in failure.configs for d in config.pending}
    return sorted(i for i in ids if i is not None and i != failing)


def _pkey(process: Any) -> str:
    return str(process)


def _ce_invokes(ce: Any) -> list:
    return [op for op in (ce.ops if ce is not None else []) if op.type == "invoke"]


def _points(calls: list, order: list[int]) -> list[list]:
    """A linearization point for each call, in order, each within its call's interval."""
    out, prev = [], -1.0
    for i in order:
        c = calls[i]
        end = c.return_pos if c.return_pos != float("inf") else float(10 ** 12)
        point = max(prev + 0.02, c.call_pos + 0.5)
        point = min(point, end - 0.01) if end > c.call_pos else point
        out.append([i, round(point, 3)])
        prev = point
    return out


def _first_reason(failure: Any) -> str | None:
    for path in failure.final_paths or []:
        last = path[-1] if path else None
        reason = getattr(last, "reason", None) if last is not None else None
        if reason:
            return reason
    return None


def _states(calls: list, result: Any, model: Any, init: Any) -> dict[int, list[str]]:
    """Model state before and after each operation of the longest linearization, where the model can say."""
    failure = getattr(result, "failure", None)
    if failure is None or not failure.longest or model is None:
        return {}
    try:
        return _replay(calls, failure, model, init)
    except Exception:  # a model that cannot replay this history simply gets no states in the tooltips
        return {}


def _replay(calls: list, failure: Any, model: Any, init: Any) -> dict[int, list[str]]:
    from ..models import get
    from ..models.base import Inconsistent
    from ..checker import DEFAULT
    base = get(model)
    init = base.default_init if init is DEFAULT else init
    m = base.configure(init=init)
    state = m.init_state(init)
    by_invoke = {(c.invoke.index, _pkey(c.process)): i for i, c in enumerate(calls)}
    out: dict[int, list[str]] = {}
    for d in failure.longest[0]:
        i = by_invoke.get((d.get("invoke_index"), _pkey(d.get("process"))))
        if i is None:
            break
        op = m.prepare(calls[i])
        if op is None:
            continue
        nxt = m.step(state, op)
        if isinstance(nxt, Inconsistent):
            break
        out[i] = [m.describe(state), m.describe(nxt)]
        state = nxt
    return out


def _valid(result: Any) -> Any:
    return None if result is None else result.valid


def _verdict(result: Any) -> str:
    """Every checker's badge on one line: what was checked and what was found."""
    return verdict_text(result)


def _summary(result: Any, ce: Any) -> str:
    if result is None:
        return ""
    if result.failure is None:
        return _findings(result)
    from ..explain.sentences import describe
    text = f"{result.summary()}\nFirst error: {describe(result.failure.op)}"
    if ce is not None:
        text += (f"\nMinimal counterexample: {ce.calls} operation{'s' if ce.calls != 1 else ''} (outlined in "
                 f"purple), invoked at index{'es' if ce.calls != 1 else ''} "
                 + ", ".join(str(i) for i in ce.call_indexes))
        writers = [op.index for op in getattr(ce, "context", None) or [] if op.type == "invoke"
                   and op.index not in ce.call_indexes]
        if writers:
            text += "; the writes of the values it read (dashed) at " + ", ".join(str(i) for i in writers)
    return text


FINDINGS_SHOWN = 3     # anomalies spelled out in the summary above the lanes; the tooltips have every one


def _findings(result: Any) -> str:
    """The explanation's headline per checker, and its first anomalies in sentences."""
    from ..explain.anomalies import explain_anomaly, headline
    lines = []
    for sub in sub_results(result):
        lines.append(headline(sub) if sub.failure is None else sub.summary())
        for a in sub.anomalies[:FINDINGS_SHOWN]:
            lines += ["  " + line for line in explain_anomaly(a)]
        if len(sub.anomalies) > FINDINGS_SHOWN:
            lines.append(f"  ... {len(sub.anomalies) - FINDINGS_SHOWN} more listed in explanation.txt and "
                         f"results.json, and outlined below: \"next\" goes from one to the next")
    return "\n".join(lines)
