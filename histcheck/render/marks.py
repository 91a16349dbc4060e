"""What the checker found, in the checker's own words, for the timeline: the verdict badges and the marked operations.

A linearizability check ends in one failing operation (``timeline.py`` draws it with its counterexample); every
other checker ends in anomalies (``Result.anomalies``: a kind, the operations involved, the facts).  A person
opening the timeline of a set run should read "lost writes: 1010" and see the lost adds outlined, not "NOT
linearizable"; one opening a list-append run should read "G2-item" and find the two transactions of the cycle.

* ``badges(result)``: one badge per checker (each sub-result of a composed check), saying what was checked and
  what was found: ``linearizable``, ``NOT linearizable``, ``lost writes: 12``, ``G2-item``, ``valid: set``,
  ``unknown: no-final-read ...``; its tooltip is the explanation's headline.
* ``anomaly_marks(calls, result)``: every anomaly as a mark (its kind, the call ids of its operations, a one-line
  explanation from ``explain_anomaly`` and, for a cycle, its edges), sorted by where its first operation starts,
  so that "jump" goes to the first.  The checkers list at most a few dozen anomalies of each kind but keep every
  lost element in their details (Jepsen's ``:lost``); the adds of those are marked too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..checker.result import UNKNOWN
from ..values import freeze, show

# How the badge names a kind, where Jepsen's word for it is not the kind itself.
LABELS = {"lost": "lost writes", "stale": "stale reads", "negative-value": "negative balances",
          "linearizability": "NOT linearizable"}
# Outline colours by kind; kinds not named here take the next of SPARE, in order of first use.
COLOURS = {"lost": "#d62728", "unexpected": "#e6550d", "duplicated": "#ff7f0e", "stale": "#bcbd22",
           "out-of-bounds": "#d62728", "wrong-total": "#d62728", "negative-value": "#e6550d",
           "long-fork": "#9467bd", "G0": "#8c1aff", "G1c": "#9467bd", "G-single": "#1f77b4", "G2-item": "#0b6e99",
           "G1a": "#e377c2", "G1b": "#c51b8a", "internal": "#8c564b", "lost-update": "#d62728"}
SPARE = ("#17becf", "#7f7f7f", "#393b79", "#637939", "#843c39", "#7b4173", "#5254a3")
# Kinds drawn by the linearizability marks of timeline.py (the failing operation, its counterexample).
DRAWN_ELSEWHERE = frozenset({"linearizability"})
MAX_TEXT = 320          # characters of one explanation line in a tooltip
MAX_BADGE = 64          # characters of a badge (the whole text is in its tooltip)
MAX_EXTRA = 20_000      # lost adds marked from a checker's details beyond its listed anomalies


@dataclass
class Badge:
    """One checker's verdict as the page shows it: ``text`` on the badge, ``valid`` for its colour, ``title`` for
    its tooltip."""

    text: str
    valid: Any
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "valid": self.valid, "title": self.title}


def sub_results(result: Any) -> list[Any]:
    """The results a badge is drawn for: each checker's of a composed check, else the result itself."""
    subs = getattr(result, "results", None)
    return list(subs.values()) if isinstance(subs, dict) and subs else [result]


def badges(result: Any) -> list[Badge]:
    if result is None:
        return [Badge("not checked", None, "no check was run on this history")]
    return [badge(r) for r in sub_results(result)]


def badge(result: Any) -> Badge:
    """The badge of one checker's result."""
    from ..explain.anomalies import headline
    checker = getattr(result, "checker", None) or "linearizable"
    title = headline(result)
    if result.valid == UNKNOWN:
        why = getattr(result, "cause_message", None)
        text = f"unknown: {result.cause}" + (f" ({why})" if why else "")
        return Badge(_clip(text, MAX_BADGE), UNKNOWN, title)
    if checker == "linearizable":
        return Badge("linearizable" if result.valid else "NOT linearizable", result.valid, title)
    if result.valid:
        return Badge(f"valid: {checker}", True, title)
    found = [_found(result, kind) for kind in _kinds_in_order(result.anomalies)]
    return Badge(_clip(", ".join(found) if found else f"NOT valid: {checker}", MAX_BADGE), False,
                 f"{checker}: {title}")


def verdict_text(result: Any) -> str:
    """The badges as one line (``lost writes: 12 · valid: set-full``)."""
    return " \u00b7 ".join(b.text for b in badges(result))


def _kinds_in_order(anomalies: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for a in anomalies:
        seen.setdefault(a.kind, None)
    return list(seen)


def _found(result: Any, kind: str) -> str:
    """``lost writes: 12`` where the checker counts its kind (or found more than one), ``G2-item`` for one."""
    label = LABELS.get(kind, kind)
    listed = sum(1 for a in result.anomalies if a.kind == kind)
    total = anomaly_count(result, kind, listed)
    counted = isinstance(getattr(result, "details", None), dict) and f"{kind}-count" in result.details
    return f"{label}: {total}" if counted or total > 1 else label


def anomaly_count(result: Any, kind: str, listed: int) -> int:
    """The checker's full count of ``kind`` (a set's ``lost-count``, a bank's ``errors``), never below the
    anomalies listed."""
    details = result.details if isinstance(getattr(result, "details", None), dict) else {}
    total = details.get(f"{kind}-count")
    errors = details.get("errors")
    if total is None and isinstance(errors, dict) and isinstance(errors.get(kind), dict):
        total = errors[kind].get("count")
    return total if isinstance(total, int) and total >= listed else listed


# -- marks ------------------------------------------------------------------------------------------------------

class CallFinder:
    """Call ids from the operations an anomaly names (``op_summary`` dicts: the invocation's index and process
    when known, else the index of either event)."""

    def __init__(self, calls: list) -> None:
        self.by_invoke: dict[tuple, int] = {}
        self.by_index: dict[Any, int] = {}
        for i, c in enumerate(calls):
            self.by_invoke[(c.invoke.index, str(c.process))] = i
            self.by_index.setdefault(c.invoke.index, i)
            if c.complete is not None:
                self.by_index[c.complete.index] = i

    def __call__(self, op: dict | None) -> int | None:
        if not op:
            return None
        found = self.by_invoke.get((op.get("invoke_index"), str(op.get("process"))))
        return found if found is not None else self.by_index.get(op.get("index"))


def anomaly_marks(calls: list, result: Any) -> dict[str, Any] | None:
    """The anomalies as the page draws them, or None when there are none to mark.

    ``kinds``: ``[kind, label, colour, count]`` per kind (count: the checker's full count); ``marks``: per anomaly
    ``[kind id, [call ids], text id]``, sorted by the position of their first operation; ``texts``: the tooltip
    lines, interned."""
    if result is None:
        return None
    find = CallFinder(calls)
    kinds: dict[str, int] = {}
    texts: dict[str, int] = {}
    raw: list[tuple[int, list[int], int]] = []
    for sub in sub_results(result):
        anomalies = [a for a in sub.anomalies if a.kind not in DRAWN_ELSEWHERE]
        for a in anomalies:
            ids = _ids(find, a.ops)
            if ids:
                raw.append((_intern(kinds, a.kind), ids, _intern(texts, tooltip_text(a))))
        raw += _lost_from_details(calls, sub, anomalies, find, kinds, texts)
    if not raw:
        return None
    starts = [c.call_pos for c in calls]
    raw.sort(key=lambda m: min(starts[i] for i in m[1]))
    counts = _counts(result)
    colours = _colours(list(kinds))
    return {"kinds": [[k, LABELS.get(k, k), colours[k], counts.get(k, 0)]
                      for k in kinds],
            "marks": [list(m) for m in raw], "texts": list(texts)}


def _intern(table: dict[str, int], text: str) -> int:
    got = table.get(text)
    if got is None:
        got = table[text] = len(table)
    return got


def _ids(find: CallFinder, ops: list[dict]) -> list[int]:
    out: list[int] = []
    for op in ops:
        i = find(op)
        if i is not None and i not in out:
            out.append(i)
    return out


def _counts(result: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sub in sub_results(result):
        for kind in _kinds_in_order(sub.anomalies):
            listed = sum(1 for a in sub.anomalies if a.kind == kind)
            counts[kind] = counts.get(kind, 0) + anomaly_count(sub, kind, listed)
    return counts


def _colours(kinds: list[str]) -> dict[str, str]:
    spare = iter(SPARE * (1 + len(kinds) // len(SPARE)))
    return {k: COLOURS.get(_base_kind(k)) or next(spare) for k in kinds}


def _base_kind(kind: str) -> str:
    """``G2-item-realtime`` is drawn as ``G2-item``."""
    for suffix in ("-process", "-realtime"):
        if kind.endswith(suffix):
            return kind[: -len(suffix)]
    return kind


def tooltip_text(a: Any) -> str:
    """What the tooltip says of one anomaly: its kind, its finding in one line (the last sentence of
    ``explain_anomaly``: Elle's first sentence introduces the transactions, its last states the cycle), and for a
    cycle the edge from each transaction to the next."""
    from ..explain.anomalies import explain_anomaly
    try:
        lines = explain_anomaly(a)
    except Exception as exc:  # an explainer that cannot speak of this anomaly leaves its kind and facts visible
        lines = [f"{a.kind} ({type(exc).__name__} explaining it: {exc})"]
    head = f"{a.kind}: {_clip(lines[-1] if lines else '', MAX_TEXT)}"
    cycle = a.facts.get("cycle") if isinstance(a.facts, dict) else None
    if not cycle:
        return head
    names = [f"T{i + 1}" for i in range(len(a.ops))]
    edges = [f"  {names[s['from']]} \u2192 {names[s['to']]}  {edge_text(s)}" for s in cycle
             if s.get("from", -1) < len(names) and s.get("to", -1) < len(names)]
    return "\n".join([head] + edges[:8])


def edge_text(step: dict) -> str:
    """One edge of a cycle, as the data says it: ``rw key 255: missed 8``."""
    kind = step.get("type")
    if kind == "process":
        return f"process {show(step.get('process'))}: ran first"
    if kind == "realtime":
        return f"realtime: completed at {step.get('completed-index')} before the other's invoke at " \
               f"{step.get('invoked-index')}"
    key, value, later = show(step.get("key")), show(step.get("value")), show(step.get("value'"))
    if kind == "wr":
        return f"wr  key {key}: read its write of {value}"
    if kind == "ww":
        return f"ww  key {key}: wrote {value}, then the other wrote {later}"
    if kind == "rw":
        return f"rw  key {key}: did not see {later}"
    return f"{kind} key {key}"


def _lost_from_details(calls: list, result: Any, anomalies: list, find: CallFinder, kinds: dict[str, int],
                       texts: dict[str, int]) -> list[tuple[int, list[int], int]]:
    """Marks for the lost elements a checker keeps in its details (Jepsen's ``:lost``) beyond the anomalies it
    lists: the add (or enqueue) of each, with the read that every listed lost anomaly shares (the set checker's
    final read)."""
    details = result.details if isinstance(getattr(result, "details", None), dict) else {}
    lost = details.get("lost")
    listed = [a for a in anomalies if a.kind == "lost"]
    if not isinstance(lost, list) or not listed or len(lost) <= len(listed):
        return []
    covered = {freeze(a.facts.get("element")) for a in listed if isinstance(a.facts, dict)}
    shared = set.intersection(*(set(_ids(find, a.ops[1:])) for a in listed))
    wanted = {freeze(e) for e in lost} - covered
    kind = _intern(kinds, "lost")
    out = []
    for i, c in enumerate(calls):
        if len(out) >= MAX_EXTRA:
            break
        if c.f in ("add", "enqueue") and c.status == "ok":
            element = freeze(c.invoke.value)
            if element in wanted:
                wanted.discard(element)
                text = (f"lost: element {show(element)} was acknowledged but the {result.checker} checker lists it "
                        f"as lost (one of {len(lost)}; results.json's lost lists them all)")
                out.append((kind, [i] + sorted(shared - {i}), _intern(texts, text)))
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
