"""Sentences for the Elle checkers' anomalies, written so that a person can check each one against the file.

Transactions are named T1, T2, ... in the order of the anomaly's ``ops`` and introduced with their index and process;
every claim names the key and the values that justify it.  ``EXPLAINERS`` maps an anomaly kind to a function
``anomaly -> list[str]``; ``explain(anomaly)`` picks the right one.
"""
from __future__ import annotations

from typing import Callable

from ...checker.result import Anomaly

CYCLE_MEANING = {
    "G0": "a write cycle (G0): the transactions' writes are interleaved, which no isolation level allows",
    "G1c": "circular information flow (G1c): each transaction saw another's writes, all the way round",
    "G-single": "read skew (G-single): exactly one anti-dependency, so one transaction saw part of another's "
                "effects but missed the rest",
    "G2-item": "an anti-dependency cycle on keys (G2-item, write skew): each transaction missed a write of the next",
}
SUFFIX_MEANING = {
    "-process": " It relies on the order in which one process ran its transactions, so it rules out session "
                "guarantees (strong session models).",
    "-realtime": " It relies on real time (a transaction invoked after another completed), so it rules out "
                 "strict serializability and strong snapshot isolation.",
}


def _show(v) -> str:
    if v is None:
        return "nil"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_show(x) for x in v) + "]"
    return str(v)


def _is_append(anomaly: Anomaly) -> bool:
    return any(isinstance(m, (list, tuple)) and m and m[0] == "append"
               for op in anomaly.ops for m in (op.get("value") or ()))


def _names(anomaly: Anomaly) -> list[str]:
    return [f"T{i + 1}" for i in range(len(anomaly.ops))]


def _introduce(anomaly: Anomaly) -> str:
    parts = []
    for name, op in zip(_names(anomaly), anomaly.ops):
        parts.append(f"{name} (index {op.get('index')}, process {op.get('process')}, {op.get('type')}: "
                     f"{_show(op.get('value'))})")
    return "; ".join(parts) + "."


def _step(step: dict, names: list[str], append: bool) -> str:
    a, b = names[step["from"]], names[step["to"]]
    kind = step["type"]
    k = _show(step.get("key"))
    later = _show(step.get("value'"))
    if kind == "process":
        return f"{a} and {b} ran on process {step.get('process')}, {a} first, so {a} precedes {b} (process)."
    if kind == "realtime":
        return (f"{a} completed (index {step.get('completed-index')}) before {b} was invoked (index "
                f"{step.get('invoked-index')}), so {a} precedes {b} (realtime).")
    if kind == "ww":
        if append:
            return (f"{b} appended {later} to key {k} right after {a}'s "
                    f"append of {_show(step.get('value'))}, so {a} precedes {b} (ww).")
        return (f"{a} wrote key {k} = {_show(step.get('value'))} and {b} wrote {k} = "
                f"{later}, a later version, so {a} precedes {b} (ww).")
    if kind == "wr":
        if append:
            return (f"{b} read key {k} as {_show(step.get('read'))}, which ends with {a}'s append of "
                    f"{_show(step.get('value'))}, so {a} precedes {b} (wr).")
        return f"{b} read key {k} = {_show(step.get('value'))}, which {a} wrote, so {a} precedes {b} (wr)."
    later = later
    if append:
        seen = step.get("read")
        what = "empty" if not seen else f"as {_show(seen)}"
        return (f"{a} read key {k} {what}, without {later}, which {b} appended right after that state, so {a} "
                f"precedes {b} (rw).")
    return (f"{a} read key {k} = {_show(step.get('value'))} and {b} wrote {k} = {later}, a later version, so "
            f"{a} precedes {b} (rw).")


def explain_cycle(anomaly: Anomaly) -> list[str]:
    names = _names(anomaly)
    append = _is_append(anomaly)
    lines = [_introduce(anomaly)]
    lines += [_step(s, names, append) for s in anomaly.facts.get("cycle", ())]
    kind = anomaly.kind
    base, suffix = kind, ""
    for s in SUFFIX_MEANING:
        if kind.endswith(s):
            base, suffix = kind[: -len(s)], s
    loop = " -> ".join(names + names[:1])
    lines.append(f"So {loop}: no order of the transactions puts each before the next. This is "
                 f"{CYCLE_MEANING.get(base, kind)}.{SUFFIX_MEANING.get(suffix, '')}")
    return lines


def explain_g1a(a: Anomaly) -> list[str]:
    verb = "appended" if _is_append(a) else "wrote"
    return [_introduce(a), f"T1 read {_show(a.facts.get('element'))} in key {_show(a.key)}, which only T2 {verb}, "
            f"and T2 failed: an aborted read (G1a)."]


def explain_g1b(a: Anomaly) -> list[str]:
    verb = "appended" if _is_append(a) else "wrote"
    seen = a.facts.get("read", a.facts.get("element"))
    return [_introduce(a), f"T1 read key {_show(a.key)} as {_show(seen)}: the state right after T2 {verb} "
            f"{_show(a.facts.get('element'))}, but T2 later {verb} {_show(a.facts.get('final'))} to the same key, "
            f"so T1 saw a state T2 never committed: an intermediate read (G1b)."]


def explain_internal(a: Anomaly) -> list[str]:
    mop = a.facts.get("mop", [None, a.key, None])
    expected = _show(a.facts.get("expected"))
    if a.facts.get("prefix-known") is False:
        expected = f"a list ending in {expected}"
    return [_introduce(a), f"T1 read key {_show(mop[1])} as {_show(mop[2])}, but its own earlier operations on "
            f"that key mean it should have read {expected}: internal inconsistency."]


def explain_future_read(a: Anomaly) -> list[str]:
    mop = a.facts.get("mop", [None, a.key, None])
    return [_introduce(a), f"T1 read key {_show(mop[1])} as {_show(mop[2])}, which already holds "
            f"{_show(a.facts.get('elements'))}: values T1 itself appends only later (future read)."]


def explain_duplicates(a: Anomaly) -> list[str]:
    dups = ", ".join(f"{_show(e)} ({n} times)" for e, n in (a.facts.get("duplicates") or {}).items())
    return [_introduce(a), f"T1 read key {_show(a.key)} as {_show(a.facts.get('read'))}, which holds {dups}; "
            f"every value is appended once, so a list cannot hold it twice (duplicate elements)."]


def explain_garbage(a: Anomaly) -> list[str]:
    return [_introduce(a), f"T1 read {_show(a.facts.get('element'))} in key {_show(a.key)}, which no transaction "
            f"in the history wrote (garbage read)."]


def explain_incompatible(a: Anomaly) -> list[str]:
    v1, v2 = (a.facts.get("values") or [None, None])[:2]
    return [_introduce(a), f"T1 read key {_show(a.key)} as {_show(v1)} and T2 read it as {_show(v2)}; neither is "
            f"a prefix of the other, so no single order of appends produced both (incompatible order)."]


def explain_dirty_update(a: Anomaly) -> list[str]:
    return [_introduce(a), f"In key {_show(a.key)}, T2's committed append of {_show(a.facts.get('committed'))} "
            f"comes after T1's append of {_show(a.facts.get('aborted'))}, and T1 failed: a committed write built "
            f"on an aborted one (dirty update)."]


def explain_lost_update(a: Anomaly) -> list[str]:
    names = ", ".join(_names(a))
    verb = "appended to" if _is_append(a) else "wrote"
    return [_introduce(a), f"{names} all read key {_show(a.key)} as {_show(a.facts.get('read'))} and then "
            f"{verb} it; in any serial order the later ones would have seen the earlier ones' writes, so all but "
            f"one update was lost (lost update)."]


EXPLAINERS: dict[str, Callable[[Anomaly], list[str]]] = {
    **{kind + suffix: explain_cycle for kind in CYCLE_MEANING for suffix in ("", "-process", "-realtime")},
    "G1a": explain_g1a,
    "G1b": explain_g1b,
    "internal": explain_internal,
    "future-read": explain_future_read,
    "duplicate-elements": explain_duplicates,
    "garbage-read": explain_garbage,
    "incompatible-order": explain_incompatible,
    "dirty-update": explain_dirty_update,
    "lost-update": explain_lost_update,
}


def explain(anomaly: Anomaly) -> list[str]:
    """The sentences for one anomaly of these checkers."""
    return EXPLAINERS[anomaly.kind](anomaly)
