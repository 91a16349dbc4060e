"""timeline.html: the whole history on one self-contained page, with the failure in plain sight.

Porcupine showed that one HTML file per check, opened in any browser, beats any amount of text: a lane per
process, a bar per operation from invocation to completion, and the linearization the search found drawn over
them.  This module builds that page from a ``History`` and a ``Result``:

* every call becomes a few integers in column arrays (lane, start, end, status, f, values, indexes, key), and
  values are interned strings, so that the inline JSON stays small (a 100,000-operation history is a few MB);
* the x axis is the event's position in the history (real time as the checker sees it), so that nothing overlaps
  that did not overlap and infinitely-late ``:info`` operations run to the right edge; histories with ``:time``
  also carry each call's start and end in milliseconds, and the page can switch to a time axis;
* the failing operation, the minimal counterexample and the longest partial linearization (as linearization
  points, each inside its operation's bar, in order) are marked by call id;
* where the model can replay the longest linearization, each of its operations carries the state before and after.

The page itself (``timeline.html`` next to this file: inline CSS and JS, no network) draws on a canvas and only
paints what is visible, so scrolling and zooming stay smooth on large histories.
"""
from __future__ import annotations

import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..history import History
from ..values import show

TEMPLATE = Path(__file__).with_name("timeline.html")
STATUS_CODES = {"ok": 0, "fail": 1, "info": 2, "open": 3}
MAX_VALUE_CHARS = 300


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
    procs = sorted({c.process for c in calls}, key=lambda p: (str(type(p)), p))
    lane_of = {p: i for i, p in enumerate(procs)}
    fs, vals = _Interner(), _Interner()
    ops = _columns(calls, lane_of, keys, fs, vals, positions)
    failure = _failure_marks(calls, result, counterexample)
    windows = _nemesis_windows(history)
    nemesis = [w[:4] for w in windows]
    return {
        "title": title or f"histcheck: {Path(history.source).name if history.source else 'history'}",
        "valid": _valid(result), "verdict": _verdict(result), "summary": _summary(result, counterexample),
        "n": len(history.ops), "procs": [show(p) for p in procs], "keys": [show(k) for k in keys],
        "fs": fs.items, "vals": vals.items, "ops": ops, "nemesis": nemesis,
        "nemesis_legend": nemesis_legend(windows), "failure": failure, "time": time_axis(history, ops, nemesis),
        "states": _states(calls, result, model if model is not None else getattr(result, "model", None),
                          init if init is not None else getattr(result, "init", None)),
    }


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
    spans = [[ms[min(a, last)], ms[min(b, last)], label, colour]
             for a, b, label, colour in (nemesis_intervals(history) if nemesis is None else nemesis)]
    return {"t0": t0, "t1": t1, "max": ms[-1] if ms else 0.0, "nemesis": spans}


def _calls_and_keys(history: History) -> tuple[list, list]:
    calls = history.calls(include_failed=True)
    style = history.key_style()
    if style is None:
        return calls, []
    groups = history.split_keys(calls, style)
    return calls, sorted(groups, key=lambda k: (str(type(k)), str(k)))


def _columns(calls: list, lane_of: dict, keys: list, fs: _Interner, vals: _Interner,
             positions: dict[int, int]) -> dict[str, list]:
    key_of = {k: i for i, k in enumerate(keys)}
    cols: dict[str, list] = {name: [] for name in
                             ("lane", "start", "end", "status", "f", "inv", "out", "index", "iidx", "key")}
    for c in calls:
        comp = c.complete
        cols["lane"].append(lane_of[c.process])
        cols["start"].append(c.call_pos)
        cols["end"].append(positions[id(comp)] if comp is not None else -1)
        cols["status"].append(STATUS_CODES.get(c.status, 3))
        cols["f"].append(fs(str(c.f)))
        cols["inv"].append(vals(_clip(show(_inner(c.invoke.value, c.key is not None)))))
        cols["out"].append(vals(_clip(show(c.value if comp is not None and c.status == "ok" else
                                           (comp.value if comp is not None else None)))))
        cols["index"].append(comp.index if comp is not None else c.invoke.index)
        cols["iidx"].append(c.invoke.index)
        cols["key"].append(key_of.get(c.key, -1))
    return cols


def _inner(value: Any, keyed: bool) -> Any:
    return value[1] if keyed and isinstance(value, tuple) and len(value) == 2 else value


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + f"... ({len(text)} chars)"


NEMESIS_GREY = "#888888"


@lru_cache(maxsize=1)
def nemesis_tables() -> tuple[dict[str, str], dict[str, str]]:
    """``(nemesis.colours(), nemesis.windows())``, imported lazily; two empty tables when the nemesis package cannot
    be imported (histcheck then shades every window grey and matches start/stop by name only)."""
    try:
        nemesis = importlib.import_module("histcheck.nemesis")
        return dict(nemesis.colours()), dict(nemesis.windows())
    except Exception:  # not installed, or broken: rendering must not depend on it
        return {}, {}


def nemesis_intervals(history: History) -> list[list]:
    """Fault windows as ``[start, end, label, colour]`` (positions in the history), sorted.

    Each step of a non-client process is an invocation (an ``:invoke``, or an ``:info`` with nothing pending) and
    the next op of the same process with the same ``f`` is its completion, so the ``:info`` pairs histcheck's
    nemeses record (and Jepsen's) are one step each.  A window runs from an opener's invocation to the completion of
    the closer ``nemesis.windows()`` names for it (``start-partition`` -> ``stop-partition``, ``kill`` -> ``restart``,
    ``stop-all`` -> ``recover``, ``leave`` -> ``join``...): every moment the fault may have been in force.  Windows of
    different nemeses overlap freely; an opener repeated while its window is open ends that window and starts
    another.  A known closer with no window of its own open (the final heal runs every stop) is not drawn.
    Names ``windows()`` does not know (and pairs of which one never occurs in the history) fall back to Jepsen's
    conventions: ``stop``/``stop-X`` close ``start``/``start-X``, ``heal``/``recover`` close every such window,
    ``resume`` closes ``pause``, ``start-process``/``restart`` close ``kill``...; such a closer with nothing open
    is drawn as a thin mark.  A window still open at the end runs to the end of the history.  The colour is
    ``nemesis.colours()``'s for the step's ``:nemesis`` field, else for the opener's name, else grey.
    """
    return [w[:4] for w in _nemesis_windows(history)]


def nemesis_legend(windows: list[list]) -> list[list[str]]:
    """``[text, colour]`` per colour used by ``_nemesis_windows``' windows, in order of first use."""
    names: dict[str, list[str]] = {}
    for w in windows:
        got = names.setdefault(w[3], [])
        if w[4] not in got:
            got.append(w[4])
    return [[", ".join(n), colour] for colour, n in names.items()]


def _nemesis_windows(history: History) -> list[list]:
    """``[start, end, label, colour, name]`` per window (``nemesis_intervals`` without the legend name)."""
    colours, table = nemesis_tables()
    steps = _nemesis_steps(history)
    seen = {str(inv.f) for _, _, inv, _ in steps}
    windows = {o: c for o, c in table.items() if o in seen and c in seen}  # else Jepsen's names may mean more
    closes: dict[str, list[str]] = {}
    for opener, closer in windows.items():
        closes.setdefault(closer, []).append(opener)
    n = len(history.ops)
    open_: list[list] = []  # [start, opener f, family, label, colour, name], in opening order
    out: list[list] = []
    for start, end, inv, comp in steps:
        f = str(inv.f)
        label = _label(comp if comp is not None and comp.value is not None else inv, comp)
        if f in closes or _closing_family(f, table) is not None:
            ended = _matching_windows(open_, f, closes, windows, table)
            for w in ended:
                open_.remove(w)
                out.append([w[0], end, w[3], w[4], w[5]])
            if not ended and f not in closes:  # Jepsen's convention: a closer with nothing open is a thin mark
                name = _nemesis_name(inv, comp) or f
                out.append([start, end, label, colours.get(name) or colours.get(f) or NEMESIS_GREY, name])
            continue
        if f in windows:
            same = next((w for w in open_ if w[1] == f), None)
            if same is not None:  # started again while in force: the nemesis stopped the old fault first
                open_.remove(same)
                out.append([same[0], start, same[3], same[4], same[5]])
            family = f
        else:
            family = _FAMILY.get(f) or (f[len("start-"):] if f.startswith("start-") else "*")
            if any(w[2] == family and w[1] not in windows for w in open_):
                continue  # one window per family for names we do not know (Jepsen's start, start, stop, stop)
        name = _nemesis_name(inv, comp)
        colour = (colours.get(name) if name else None) or colours.get(f) or NEMESIS_GREY
        open_.append([start, f, family, label, colour, name or f])
    out += [[w[0], n, w[3], w[4], w[5]] for w in open_]
    return sorted(out, key=lambda w: (w[0], w[1]))


def _nemesis_steps(history: History) -> list[tuple[int, int, Any, Any]]:
    """``(start, end, invocation, completion or None)`` for every step of the non-client processes, by start."""
    pending: dict[str, tuple[int, Any]] = {}
    steps: list[tuple[int, int, Any, Any]] = []
    for pos, op in enumerate(history.ops):
        if op.is_client:
            continue
        who = str(op.process)
        got = pending.pop(who, None)
        if got is not None:
            if op.type != "invoke" and str(op.f) == str(got[1].f):
                steps.append((got[0], pos, got[1], op))
                continue
            steps.append((got[0], got[0], got[1], None))  # unpaired (Jepsen's single :info start, stop...)
        if op.type in ("invoke", "info"):
            pending[who] = (pos, op)
        else:
            steps.append((pos, pos, op, None))
    steps += [(pos, pos, op, None) for pos, op in pending.values()]
    return sorted(steps, key=lambda s: s[0])


def _closing_family(f: str, table: dict[str, str]) -> str | None:
    """The fallback family a closer ends (``*``: one, ``**``: all), or None when ``f`` closes nothing by name."""
    if f in _CLOSERS:
        return _CLOSERS[f]
    if f in table:  # a nemesis's opener, even if its name starts with stop (stop-all)
        return None
    if f.startswith("stop-"):
        return f[len("stop-"):]
    return "*" if f.startswith("stop") else None


def _matching_windows(open_: list[list], f: str, closes: dict[str, list[str]], windows: dict[str, str],
                      table: dict[str, str]) -> list:
    """The open windows closer ``f`` ends: its own opener's first, else by the fallback family (``**``: all)."""
    own = closes.get(f, ())
    for w in open_:
        if w[1] in own:
            return [w]
    if own:  # a known closer ends only its own window (the final heal runs every stop, in force or not)
        return []
    family = _closing_family(f, table)
    if family is None:
        return []
    unknown = [w for w in open_ if w[1] not in windows]  # fallback closers never end a known nemesis's window
    if family == "**":
        return unknown
    if family != "*":
        return [w for w in open_ if w[2] == family][:1]
    return ([w for w in unknown if w[2] == "*"] or unknown)[:1]


def _nemesis_name(inv: Any, comp: Any) -> str | None:
    """A ``:nemesis`` field on the step (its extra keys, or its value's), if it names one."""
    for op in (comp, inv):
        if op is None:
            continue
        for mapping in (op.extra, op.value):
            if isinstance(mapping, dict):
                for k, v in mapping.items():
                    if str(k).lstrip(":") == "nemesis" and isinstance(v, str) and v:
                        return str(v)
    return None


_CLOSERS = {"stop": "*", "heal": "**", "resume": "pause", "start-process": "kill", "restart": "kill",
            "stop-partition": "*", "reset-clock": "clock", "recover": "**"}  # **: heals every fault
_FAMILY = {"pause": "pause", "kill": "kill", "bump-clock": "clock", "strobe-clock": "clock"}


def _label(op: Any, comp: Any = None) -> str:
    text = str(op.f) if op.value is None else f"{op.f} {op.value}"
    error = next((v for k, v in (comp.extra or {}).items() if str(k) == "error"), None) if comp is not None else None
    if error is not None:
        text = f"{op.f} failed: {error}"
    return text[:60]


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
    if result is None:
        return "not checked"
    return {True: "linearizable", False: "NOT linearizable"}.get(result.valid, f"unknown ({result.cause})")


def _summary(result: Any, ce: Any) -> str:
    if result is None or result.failure is None:
        return "" if result is None else result.summary()
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
