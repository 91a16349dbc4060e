"""Which consistency models an anomaly rules out, and which anomalies a model forbids.

Two small partial orders carry the whole theory, as in Elle and the literature it draws on (Adya's generalized
isolation levels, Bailis et al.'s highly available transactions, Cerone et al.'s atomic visibility):

* ``STRONGER_THAN``: model -> the weaker models it implies (strict serializable implies serializable, which
  implies repeatable read and snapshot isolation, ...);
* ``IMPLIES``: anomaly -> the more general anomalies it is an instance of (G0 is also a G1c cycle; a G1c is a G1;
  an anomaly seen without process or real-time edges is also one with them allowed).

``FORBIDS`` says which anomalies each model forbids directly; a model forbids everything a weaker model forbids.
From those three tables follow: the anomalies to look for when a user asks for some models (``forbidden_by``), and
Jepsen's ``:not`` / ``:also-not`` for what was found (``boundary``).  Only models whose anomalies these checkers can
detect are listed; predicate anomalies (G2 proper beyond items, G-SIb, G-cursor...) are outside what list-append and
rw-register histories can show.
"""
from __future__ import annotations

from typing import Iterable

from ...errors import InputError

STRONGER_THAN: dict[str, tuple[str, ...]] = {
    "strict-serializable": ("strong-session-serializable", "strong-snapshot-isolation"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation",),
    "strong-session-snapshot-isolation": ("snapshot-isolation",),
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "snapshot-isolation": ("consistent-view", "read-atomic"),
    "repeatable-read": ("cursor-stability",),
    "consistent-view": ("cursor-stability", "monotonic-view"),
    "read-atomic": ("read-committed",),
    "cursor-stability": ("read-committed",),
    "monotonic-view": ("read-committed",),
    "read-committed": ("read-uncommitted",),
    "read-uncommitted": (),
}

# Other names for the same models (Adya's PL levels; "strong" and "strict" serializable are one model).
ALIASES = {
    "PL-SS": "strict-serializable", "strong-serializable": "strict-serializable",
    "PL-3": "serializable", "conflict-serializable": "serializable",
    "PL-SI": "snapshot-isolation", "PL-2.99": "repeatable-read", "PL-2+": "consistent-view",
    "PL-CS": "cursor-stability", "PL-2L": "monotonic-view", "PL-2": "read-committed", "PL-1": "read-uncommitted",
}

FORBIDS: dict[str, tuple[str, ...]] = {
    "read-uncommitted": ("G0", "duplicate-elements", "garbage-read"),
    "read-committed": ("G1",),
    "cursor-stability": ("G1", "lost-update"),
    "monotonic-view": ("G1",),
    "consistent-view": ("G1", "G-single"),
    "read-atomic": ("internal", "G1a", "future-read"),
    "repeatable-read": ("G1", "G2-item", "lost-update"),
    "snapshot-isolation": ("internal", "G1", "G-single"),
    "serializable": ("internal", "G1", "G2"),
    "strong-session-snapshot-isolation": ("G1-process", "G-single-process"),
    "strong-snapshot-isolation": ("G1-realtime", "G-single-realtime"),
    "strong-session-serializable": ("G1-process", "G2-process"),
    "strict-serializable": ("G1", "G1c-realtime", "G2-realtime"),
}

IMPLIES: dict[str, tuple[str, ...]] = {
    "G0": ("G1c", "G0-process"),
    "G0-process": ("G1c-process", "G0-realtime"),
    "G0-realtime": ("G1c-realtime",),
    "G1a": ("G1",),
    "G1b": ("G1",),
    "G1c": ("G1", "G1c-process"),
    "G1c-process": ("G1-process", "G1c-realtime"),
    "G1c-realtime": ("G1-realtime",),
    "G1": ("G1-process",),
    "G1-process": ("G1-realtime",),
    "G1-realtime": (),
    # Our G-single cycles are over items (keys), so each is also a G2-item.
    "G-single": ("G2-item", "G-single-process"),
    "G-single-process": ("G2-item-process", "G-single-realtime"),
    "G-single-realtime": ("G2-item-realtime",),
    "G2-item": ("G2", "G2-item-process"),
    "G2-item-process": ("G2-process", "G2-item-realtime"),
    "G2-item-realtime": ("G2-realtime",),
    "G2": ("G2-process",),
    "G2-process": ("G2-realtime",),
    "G2-realtime": (),
    # Two reads that cannot come from one order of appends: at least one of them saw a state that never was.
    "incompatible-order": ("G1a",),
    # A committed write on top of an aborted one: as bad as reading the aborted one.
    "dirty-update": ("G1a",),
    # Two transactions overwrite the same version: a cycle of two rw edges on one key.
    "lost-update": ("G2-item",),
    # Reading your own later write is a one-transaction wr cycle.
    "future-read": ("G1c",),
    "internal": (),
    "duplicate-elements": (),
    "garbage-read": (),
}

# The cycle anomalies, in the order they are searched for (worst first, as Elle does: data cycles before process
# cycles before real-time cycles, and within each, write cycles before information flow before anti-dependencies).
CYCLE_KINDS = ("G0", "G1c", "G-single", "G2-item",
               "G0-process", "G1c-process", "G-single-process", "G2-item-process",
               "G0-realtime", "G1c-realtime", "G-single-realtime", "G2-item-realtime")

DEFAULT_MODELS = ("strict-serializable",)


def canonical(model: str) -> str:
    return ALIASES.get(model, model)


def parse_models(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """The ``consistency-models`` option: names separated by commas, each known (an InputError names the option)."""
    if text is None:
        return DEFAULT_MODELS
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if canonical(n) not in STRONGER_THAN]
    if unknown or not names:
        raise InputError(f"option consistency-models: unknown model {', '.join(unknown) or '(none given)'}",
                         expected="comma-separated names among " + ", ".join(sorted(STRONGER_THAN)))
    return tuple(canonical(n) for n in names)


def parse_anomalies(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """The ``anomalies`` option: extra anomaly names to look for, separated by commas."""
    if text is None:
        return ()
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in IMPLIES]
    if unknown:
        raise InputError(f"option anomalies: unknown anomaly {', '.join(unknown)}",
                         expected="comma-separated names among " + ", ".join(sorted(IMPLIES)))
    return tuple(names)


def _closure(start: Iterable[str], edges: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        x = stack.pop()
        if x not in seen:
            seen.add(x)
            stack.extend(edges.get(x, ()))
    return seen


def _reverse(edges: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for a, bs in edges.items():
        for b in bs:
            out.setdefault(b, []).append(a)
    return {k: tuple(v) for k, v in out.items()}


_WEAKER_THAN = _reverse(STRONGER_THAN)
_IMPLIED_BY = _reverse(IMPLIES)


def implied(anomalies: Iterable[str]) -> set[str]:
    """The anomalies found, with every more general anomaly they are instances of."""
    return _closure(anomalies, IMPLIES)


def implying(anomalies: Iterable[str]) -> set[str]:
    """Every anomaly that would be an instance of one of ``anomalies`` (what to look for to find them)."""
    return _closure(anomalies, _IMPLIED_BY)


def forbidden_by(models: Iterable[str]) -> set[str]:
    """Every anomaly that cannot occur if all of ``models`` hold (found anomalies in this set make it invalid)."""
    direct = {a for m in _closure(models, STRONGER_THAN) for a in FORBIDS.get(m, ())}
    return implying(direct)


def ruled_out(anomalies: Iterable[str]) -> set[str]:
    """Every model that the anomalies rule out (a model forbidding one of them, and every stronger model)."""
    general = implied(anomalies)
    direct = {m for m, forbidden in FORBIDS.items() if general.intersection(forbidden)}
    return _closure(direct, _WEAKER_THAN)


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """Jepsen's ``:not`` (the weakest models ruled out) and ``:also-not`` (every other model ruled out)."""
    out = ruled_out(anomalies)
    weakest = [m for m in out if not (_closure(STRONGER_THAN[m], STRONGER_THAN) - {m}) & out]
    return sorted(weakest), sorted(out - set(weakest))
