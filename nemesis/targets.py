"""Which links a packet-level fault touches: ``one`` (every link of one random node, both directions), ``all``
(every node-to-node link), ``a>b`` (one direction), ``a-b`` (both), or ``leader`` (every link of the leader).

``rules(db, target, rng, **params)`` gives the ``links`` rules (``src``, ``dst`` plus the fault's parameters);
``check_in`` refuses, before the cluster starts, a target naming a node the cluster does not have.
"""
from __future__ import annotations

import random
import re
from typing import Any, Sequence

from histcheck.errors import InputError
from histcheck.run.net import CLIENTS


def _pairs(db: Any, target: str, rng: random.Random) -> list[tuple[str, str]]:
    nodes = list(db.node_names)
    if target in ("one", "leader"):
        x = (db.leader() if target == "leader" else None) or rng.choice(nodes)
        others = [n for n in nodes if n != x] + [CLIENTS]
        return [(o, x) for o in others] + [(x, o) for o in others]
    if target == "all":
        return [(a, b) for a in nodes for b in nodes if a != b]
    for sep, both in ((">", False), ("-", True)):
        if sep in target:
            a, b = (s.strip() for s in target.split(sep, 1))
            if not {a, b} <= set(nodes) | {CLIENTS}:
                break
            return [(a, b), (b, a)] if both else [(a, b)]
    raise InputError(f"unknown link target {target!r}", expected="one, leader, all, n1>n2 or n1-n2")


def check(target: str) -> str:
    """Refuse a bad TARGET when the nemesis is built."""
    if target not in ("one", "leader", "all") and not re.fullmatch(r"[\w]+\s*[>-]\s*[\w]+", target):
        raise InputError(f"unknown link target {target!r}", expected="one, leader, all, n1>n2 or n1-n2")
    return target


def check_in(target: str, nodes: Sequence[str], nemesis: str) -> None:
    """Refuse a link target whose ends are not nodes of the cluster (or ``clients``)."""
    if target in ("one", "leader", "all"):
        return
    ends = [s.strip() for s in re.split(r"[>-]", target, maxsplit=1)]
    unknown = [e for e in ends if e not in nodes and e != CLIENTS]
    if unknown:
        raise InputError(f"nemesis {nemesis!r}: link target {target!r} names {unknown[0]!r}, not a node of this "
                         "cluster", expected=f"one, leader, all, or A>B / A-B among {' '.join(nodes)} {CLIENTS}")


def requires(target: str) -> frozenset[str]:
    return frozenset({"leader"}) if target == "leader" else frozenset()


def rules(db: Any, target: str, rng: random.Random, **params: Any) -> list[dict]:
    return [{"src": a, "dst": b, **params} for a, b in _pairs(db, target, rng)]


def describe(rules_: list[dict]) -> list[str]:
    return [f"{r['src']}>{r['dst']}" for r in rules_]
