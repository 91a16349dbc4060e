"""Fault windows: when each fault was in force, what it did (in EDN), its kind, and one colour per kind.

The timeline, the figures and the availability figures all need the same windows and the same colours, so that a
partition shaded on ``rate.png`` is the partition band on ``timeline.html`` and the ``partition`` line of the
summary.  A window runs from the invocation of a nemesis step that opens a fault to the completion of the step
that closes it (``nemesis.windows()``: ``start-partition`` -> ``stop-partition``, ``kill`` -> ``restart``...), every
moment the fault may have been in force.

Colours come from ``nemesis.colours()``, made distinct per kind: two kinds whose colours a reader cannot tell
apart in a faint band (the same hue: kill's dark red beside partition's light red) get the later one replaced by
the first colour of a colour-blind-safe palette that is far from every colour already taken.  The choice runs once
over every kind the nemesis package knows, in its order, so a kind has the same colour in every history.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..history import History
from ..values import show

GREY = "#888888"
LABEL_CHARS = 60
DETAIL_CHARS = 400
# Okabe and Ito's colour-blind-safe palette, then a few more saturated hues: the replacements for clashing colours
PALETTE = ("#7b3294", "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#f0e442", "#1b7837",
           "#5e3c99")
HUE_DEGREES = 20.0  # closer hues than this look alike at the timeline's 16 % opacity


@dataclass
class FaultWindow:
    """One fault in force: positions in the history, what it did, its kind and its colour."""

    start: int
    end: int
    label: str      # short EDN: ``start-partition [["n1"] ["n2" "n3"]]``
    detail: str     # the step's whole completion value in EDN, for tooltips
    colour: str
    kind: str       # the nemesis name (``partition``, ``kill``) or, for names nemesis does not know, the opener's f
    f: str          # the opening step's f

    def row(self) -> list:
        """``[start, end, label, colour]``: the form the timeline's JSON and older callers use."""
        return [self.start, self.end, self.label, self.colour]


@lru_cache(maxsize=1)
def nemesis_tables() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``(colours, windows, kinds)``: the nemesis package's colour per name and per step, its opener -> closer
    table, and the nemesis name of every step it records; three empty tables when they cannot be read (a broken plugin)
    (then every window is grey and start/stop are matched by name only)."""
    try:
        from .. import nemesis, registry
        colours, windows = dict(nemesis.colours()), dict(nemesis.windows())
        names = registry.names("nemeses")
        kinds: dict[str, str] = {}
        for name in names:
            cls = nemesis.nemesis_class(name)
            kinds.setdefault(cls.start_f, name)
            kinds.setdefault(cls.stop_f, name)
    except Exception:  # a broken plugin nemesis: rendering must not depend on it
        return {}, {}, {}
    return _distinct(colours, names, kinds), windows, kinds


def _hls(colour: str) -> tuple[float, float, float] | None:
    text = colour.lstrip("#")
    if len(text) != 6:
        return None
    r, g, b = (int(text[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return colorsys.rgb_to_hls(r, g, b)


def alike(a: str, b: str) -> bool:
    """Whether two colours look the same as a faint band: both saturated with nearly the same hue, or the same."""
    if a.lower() == b.lower():
        return True
    ha, hb = _hls(a), _hls(b)
    if ha is None or hb is None or ha[2] < 0.25 or hb[2] < 0.25:
        return False  # greys are told apart by being grey
    return _hue_gap(a, b) < HUE_DEGREES


def _distinct(colours: dict[str, str], names: list[str], kinds: dict[str, str]) -> dict[str, str]:
    """``colours`` with every nemesis name's colour (and its steps') unlike every earlier name's.  A clashing
    colour is replaced by the palette colour nearest in hue that is unlike every colour taken and every later
    name's own, so one replacement never pushes out another."""
    out = dict(colours)
    taken: list[str] = []
    for i, name in enumerate(names):
        base = colours.get(name, GREY)
        if any(alike(base, t) for t in taken):
            later = [colours.get(n, GREY) for n in names[i + 1:]]
            free = [p for p in PALETTE if not any(alike(p, t) for t in taken + later)]
            base = min(free, key=lambda p: _hue_gap(p, base)) if free else base
        taken.append(base)
        out[name] = base
        out.update({step: base for step, kind in kinds.items() if kind == name})
    return out


def _hue_gap(a: str, b: str) -> float:
    ha, hb = _hls(a), _hls(b)
    if ha is None or hb is None:
        return 360.0
    gap = abs(ha[0] - hb[0]) * 360.0
    return min(gap, 360.0 - gap)


def kind_colours() -> dict[str, str]:
    """The colour of every fault kind and step name the nemesis package knows (distinct per kind)."""
    return dict(nemesis_tables()[0])


def fault_windows(history: History) -> list[FaultWindow]:
    """Every fault window of ``history``, by start.

    Each step of a non-client process is an invocation (an ``:invoke``, or an ``:info`` with nothing pending) and
    the next op of the same process with the same ``f`` is its completion, so the ``:info`` pairs histcheck's
    nemeses record (and Jepsen's) are one step each.  Windows of different nemeses overlap freely; an opener
    repeated while its window is open ends that window and starts another.  A known closer with no window of its
    own open (the final heal runs every stop) is not drawn.  Names ``nemesis.windows()`` does not know (and pairs
    of which one never occurs in the history) fall back to Jepsen's conventions: ``stop``/``stop-X`` close
    ``start``/``start-X``, ``heal``/``recover`` close every such window, ``resume`` closes ``pause``,
    ``start-process``/``restart`` close ``kill``...; such a closer with nothing open is a thin window.  A window
    still open at the end runs to the end of the history.
    """
    colours, table, kinds = nemesis_tables()
    steps = _nemesis_steps(history)
    seen = {str(inv.f) for _, _, inv, _ in steps}
    windows = {o: c for o, c in table.items() if o in seen and c in seen}  # else Jepsen's names may mean more
    closes: dict[str, list[str]] = {}
    for opener, closer in windows.items():
        closes.setdefault(closer, []).append(opener)
    n = len(history.ops)
    open_: list[tuple[int, str, str, FaultWindow]] = []  # (start, opener f, family, window), in opening order
    out: list[FaultWindow] = []
    for start, end, inv, comp in steps:
        f = str(inv.f)
        if f in closes or _closing_family(f, table) is not None:
            ended = _matching_windows(open_, f, closes, windows, table)
            for w in ended:
                open_.remove(w)
                w[3].end = end
                out.append(w[3])
            if not ended and f not in closes:  # Jepsen's convention: a closer with nothing open is a thin mark
                out.append(_window(start, end, inv, comp, colours, kinds))
            continue
        if f in windows:
            same = next((w for w in open_ if w[1] == f), None)
            if same is not None:  # started again while in force: the nemesis stopped the old fault first
                open_.remove(same)
                same[3].end = start
                out.append(same[3])
            family = f
        else:
            family = _FAMILY.get(f) or (f[len("start-"):] if f.startswith("start-") else "*")
            if any(w[2] == family and w[1] not in windows for w in open_):
                continue  # one window per family for names we do not know (Jepsen's start, start, stop, stop)
        open_.append((start, f, family, _window(start, n, inv, comp, colours, kinds)))
    out += [w[3] for w in open_]
    return sorted(out, key=lambda w: (w.start, w.end))


def _window(start: int, end: int, inv: Any, comp: Any, colours: dict, kinds: dict) -> FaultWindow:
    f = str(inv.f)
    name = _nemesis_name(inv, comp)
    kind = name or kinds.get(f) or f
    colour = colours.get(kind) or colours.get(f) or GREY
    done = comp if comp is not None and comp.value is not None else inv
    label, detail = fault_label(done, comp)
    return FaultWindow(start, end, label, detail, colour, kind, f)


def fault_label(op: Any, comp: Any = None) -> tuple[str, str]:
    """``(label, detail)`` in EDN: the step's f and the gist of what it did (a partition's groups, the nodes a
    kill hit), then the whole value for tooltips; a failed step says so."""
    error = next((v for k, v in (comp.extra or {}).items() if str(k).lstrip(":") == "error"), None) \
        if comp is not None else None
    if error is not None:
        text = f"{op.f} failed: {error}"
        return _clip(text, LABEL_CHARS), _clip(text, DETAIL_CHARS)
    if op.value is None:
        return str(op.f), str(op.f)
    label = f"{op.f} {show(_gist(op.value))}"
    return _clip(label, LABEL_CHARS), _clip(f"{op.f} {show(op.value)}", DETAIL_CHARS)


def _gist(value: Any) -> Any:
    """What a person wants to read of a step's value: a map's ``groups`` or ``nodes`` when it has them."""
    if isinstance(value, dict):
        named = {str(k).lstrip(":"): v for k, v in value.items()}
        for field in ("groups", "nodes", "node", "targets"):
            if named.get(field) not in (None, [], ()):
                return named[field]
    return value


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "\u2026"


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


def _matching_windows(open_: list, f: str, closes: dict[str, list[str]], windows: dict[str, str],
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


def legend(windows: list[FaultWindow]) -> list[list[str]]:
    """``[text, colour]`` per colour used, in order of first use; the text names the kinds drawn in it."""
    names: dict[str, list[str]] = {}
    for w in windows:
        got = names.setdefault(w.colour, [])
        if w.kind not in got:
            got.append(w.kind)
    return [[", ".join(n), colour] for colour, n in names.items()]
