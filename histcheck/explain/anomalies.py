"""Anomalies in sentences, chosen by the anomaly's kind (Elle's lesson: the analyzer finds, the explainer speaks).

``EXPLAINERS`` maps an ``Anomaly.kind`` to a function giving the sentences for one anomaly; every sentence names
operations by process, what they did and their ``:index``, so that a person holding the history file can check
it ("element 17 was added by process 3 (invoked at index 87, ok at index 88) but is absent from the final read
...").  ``explain_anomaly(a)`` speaks for one anomaly, ``explain_result(result)`` for a whole verdict of any
checker.  The transactional kinds (G0, G1c, G-single, ...) are explained by ``histcheck.checkers.elle.explain``,
whose ``EXPLAINERS`` are read the first time such a kind is met.  A kind nobody explains (a plugin's) is told
from its facts, plainly.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from ..values import show
from .sentences import action, span

Explainer = Callable[[Any], list[str]]
ELLE_EXPLAINERS = "histcheck.checkers.elle.explain"
PER_KIND = 10           # anomalies of one kind spelled out in an explanation; the rest are counted


def _op(a: Any, i: int = 0) -> dict | None:
    return a.ops[i] if len(a.ops) > i else None


def _who(op: dict | None) -> str:
    """``process 3's add 17 (invoked at index 87, ok at index 88)``; ``the read of ... (index 3)`` when the file
    names no process."""
    if not op:
        return "an operation not in the file"
    what = action(op) if "elements" not in op else f"{op.get('f')} of {op['elements']} elements"
    if op.get("process") is None:
        return f"the {what} ({span(op)})"
    return f"process {show(op.get('process'))}'s {what} ({span(op)})"


def lost(a: Any) -> list[str]:
    f, add = a.facts, _op(a)
    element = show(f.get("element"))
    if "last_absent_index" in f:           # set-full: judged over every read
        seen = (f"the last read to show it was invoked at index {f['last_present_index']}"
                if f.get("last_present_index") is not None else "no read ever showed it")
        latency = f.get("lost-latency") if f.get("last_present_index") is not None else None
        return [f"Element {element} was added by {_who(add)}, so it was known from index {f.get('known_index')}; "
                f"{seen}, and the read invoked at index {f['last_absent_index']} and every later one miss it: "
                f"lost" + (f" {latency} ms after it was known." if latency is not None else ".")]
    if "read_index" in f:                  # set: judged against the final read
        return [f"Element {element} was added by {_who(add)} but is absent from the final read, "
                f"{_who(_op(a, 1))}."]
    return [f"Element {element} was enqueued by {_who(add)}"
            + (f" ({f['times']} times)" if f.get("times", 1) > 1 else "") + " but never dequeued."]


def unexpected(a: Any) -> list[str]:
    f, where = a.facts, _op(a)
    element = show(f.get("element"))
    if "read_index" in f:
        return [f"Element {element} appears in {_who(where)}, but no add of {element} was ever invoked."]
    return [f"Value {element} was dequeued by {_who(where)}, but no enqueue of it was ever invoked."]


def duplicated(a: Any) -> list[str]:
    f = a.facts
    if "id" in f:
        returns = "; ".join(_who(op) for op in a.ops[:6])
        return [f"Id {show(f['id'])} was returned {f['times']} times: {returns}."]
    if "read_index" in f:
        return [f"Element {show(f['element'])} appears {f['times']} times in {_who(_op(a))}."]
    if "enqueued" in f:
        return [f"Value {show(f['element'])} was dequeued by {_who(_op(a))} although every one of its "
                f"{f['enqueued']} enqueues had already been dequeued."]
    return [f"Value {show(f['element'])} was dequeued {f.get('times', 1)} more time(s) than it was enqueued; "
            f"the first dequeue is {_who(_op(a))}."]


def stale(a: Any) -> list[str]:
    f = a.facts
    return [f"Element {show(f['element'])} was known from index {f.get('known_index')} ({_who(_op(a))}), yet "
            f"{_who(_op(a, 1))} began after that and missed it; reads showed it for good only "
            f"{f.get('stable-latency')} ms later (a stale read)."]


def out_of_bounds(a: Any) -> list[str]:
    f = a.facts
    return [f"{_capital(_who(_op(a)))} is out of bounds: the counter could only be between {f['lower']} (the "
            f"adds acknowledged before the read was invoked) and {f['upper']} (every add invoked before it "
            f"completed, failed ones excepted), not {show(f['value'])}."]


def wrong_total(a: Any) -> list[str]:
    return [f"{_capital(_who(_op(a)))} shows balances summing to {show(a.facts['total'])}, not the total "
            f"{show(a.facts.get('expected'))}."]


def negative_value(a: Any) -> list[str]:
    accounts = a.facts.get("accounts") or []
    return [f"{_capital(_who(_op(a)))} shows negative balances {show(a.facts['negative'])}"
            + (f" (accounts {show(accounts)})" if accounts else "")
            + "; pass negative-balances=allowed if the system permits overdrafts."]


def unexpected_key(a: Any) -> list[str]:
    return [f"{_capital(_who(_op(a)))} shows accounts {show(a.facts['unexpected'])} that are not among the "
            f"accounts checked (the first read's, unless option accounts= says otherwise)."]


def nil_balance(a: Any) -> list[str]:
    return [f"{_capital(_who(_op(a)))} has no balance (nil) for accounts {show(list(a.facts['nils']))}."]


def long_fork(a: Any) -> list[str]:
    first, second = _op(a), _op(a, 1)
    f = a.facts
    return [f"The reads {_who(first)} and {_who(second)} fork: the first saw the writes of keys "
            f"{show(f['first_only'])}, which the second missed, and the second saw those of keys "
            f"{show(f['second_only'])}, which the first missed; under snapshot isolation one of them must have "
            f"seen everything the other saw."]


def linearizability(a: Any) -> list[str]:
    f = a.facts
    key = f" on key {show(a.key)}" if a.key is not None else ""
    lines = [f"{_capital(_who(_op(a)))} cannot be linearized for the {f.get('model')} model{key}."]
    if len(a.ops) > 1:
        lines.append(f"The last :ok operation before it is {_who(_op(a, 1))}.")
    for reason in f.get("reasons", [])[:3]:
        lines.append(f"Every order of the pending operations fails, e.g.: {reason}.")
    return lines


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


EXPLAINERS: dict[str, Explainer] = {
    "lost": lost,
    "unexpected": unexpected,
    "duplicated": duplicated,
    "stale": stale,
    "out-of-bounds": out_of_bounds,
    "wrong-total": wrong_total,
    "negative-value": negative_value,
    "unexpected-key": unexpected_key,
    "nil-balance": nil_balance,
    "long-fork": long_fork,
    "linearizability": linearizability,
}

_elle_loaded = False


def explainer(kind: str) -> Explainer:
    """The explainer of ``kind``; the transactional kinds' are read from the elle package on first need."""
    global _elle_loaded
    if kind not in EXPLAINERS and not _elle_loaded:
        _elle_loaded = True
        module = importlib.import_module(ELLE_EXPLAINERS)
        for name, fn in module.EXPLAINERS.items():
            EXPLAINERS.setdefault(name, fn)
    return EXPLAINERS.get(kind, plain)


def plain(a: Any) -> list[str]:
    """A kind nobody explains: its name, its facts and its operations, as they are."""
    facts = ", ".join(f"{k} {show(v)}" for k, v in a.facts.items())
    ops = "; ".join(_who(op) for op in a.ops[:6])
    return [f"{a.kind}" + (f": {facts}" if facts else "") + (f"; operations: {ops}" if ops else "") + "."]


def explain_anomaly(a: Any) -> list[str]:
    """The sentences for one anomaly."""
    return explainer(a.kind)(a)


def headline(result: Any) -> str:
    checker = result.checker
    if result.valid is True:
        return f"Valid: the {checker} checker found nothing wrong in {result.ops} operations."
    if result.valid is False:
        counts = {}
        for a in result.anomalies:
            counts[a.kind] = counts.get(a.kind, 0) + 1
        found = ", ".join(f"{_count(result, kind, n)} {kind}" for kind, n in counts.items())
        return (f"INVALID: the {checker} checker found {found or 'errors'} in {result.ops} operations.")
    why = result.cause_message or f"the check gave up ({result.cause})"
    return f"Unknown: the {checker} checker could not decide the {result.ops} operations: {why}."


def _count(result: Any, kind: str, listed: int) -> int:
    """The full count where the checker's details have it (a set's ``lost-count``), else the anomalies'."""
    details = result.details if isinstance(result.details, dict) else {}
    total = details.get(f"{kind}-count")
    errors = details.get("errors")
    if total is None and isinstance(errors, dict) and isinstance(errors.get(kind), dict):
        total = errors[kind].get("count")       # the bank checker counts its errors by type, as Jepsen does
    return total if isinstance(total, int) and total >= listed else listed


def explain_result(result: Any) -> list[str]:
    """The verdict and each anomaly in sentences, at most ``PER_KIND`` of each kind."""
    lines = [headline(result)]
    shown: dict[str, int] = {}
    for a in result.anomalies:
        shown[a.kind] = shown.get(a.kind, 0) + 1
        if shown[a.kind] <= PER_KIND:
            lines += ["  " + line for line in explain_anomaly(a)]
    for kind, n in shown.items():
        total = _count(result, kind, n)
        if total > PER_KIND:
            lines.append(f"  ... and {total - PER_KIND} more {kind} (results.json lists them).")
    return lines
