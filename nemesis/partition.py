"""Partitions: random halves, an explicit grouping, one node isolated, the leader isolated, majorities ring, bridge.

``--nemesis partition`` cuts random halves (Jepsen's ``partition-random-halves``); ``partition:MODE`` picks a mode:
``halves``, ``one`` (a random node alone), ``leader`` (whoever leads when the fault starts), ``follower`` (a
random node that does not lead), ``ring`` (every
node sees a majority, no two the same one: Jepsen's ``partition-majorities-ring``), ``bridge`` (two halves that
share one node), ``cycle`` (every mode in turn), or an explicit grouping ``[n1] | [n2 n3]`` (``clients`` may be
named in a group).  The clients keep every link unless named; ``+clients`` after a mode (``leader+clients``) puts
them on the side of the first group: that is how the Redis test isolates its primary together with the writers.
A DB may suggest its own default mode and schedule (``DB.fault_defaults["partition"]``: Redis's is
``leader+clients``, held 8 s every 3 s); an explicit mode or schedule wins.  Needs the DB's ``links`` (and
``leader`` for the ``leader`` and ``follower`` modes); a grouping's names are checked against the cluster before it
starts.  Recorded as ``:start-partition`` (value: the mode, then the groups and the cut links) and
``:stop-partition``.
"""
from __future__ import annotations

import random
import re
from typing import Any, Sequence

from histcheck.errors import InputError
from histcheck.run.net import CLIENTS

from .base import FaultNemesis
from .links import links_for, pairs_of
from .schedules import parse as parse_schedule

MODES = ("halves", "one", "leader", "ring", "bridge")


def parse_grouping(text: str) -> list[list[str]]:
    """``[n1] | [n2 n3]`` (brackets optional, ``|`` between groups) as lists of names."""
    groups = [re.findall(r"[\w-]+", part) for part in text.split("|")]
    if len(groups) < 2 or not all(groups):
        raise InputError(f"partition grouping {text!r} needs two or more non-empty groups",
                         expected="e.g. '[n1] | [n2 n3]'")
    return groups


def halves(nodes: list[str], rng: random.Random) -> list[list[str]]:
    shuffled = rng.sample(nodes, len(nodes))
    cut = len(nodes) // 2
    return [shuffled[:cut], shuffled[cut:]]


def ring(nodes: list[str]) -> set[frozenset[str]]:
    """Each node keeps links to the majority centred on it (for 3 nodes: nobody is cut; use 5)."""
    n, keep = len(nodes), len(nodes) // 2
    ok = {frozenset((nodes[i], nodes[(i + d) % n])) for i in range(n) for d in range(1, keep // 2 + keep % 2 + 1)}
    everything = {frozenset((a, b)) for i, a in enumerate(nodes) for b in nodes[i + 1:]}
    return everything - ok


def bridge(nodes: list[str], rng: random.Random) -> tuple[list[list[str]], set[frozenset[str]]]:
    shuffled = rng.sample(nodes, len(nodes))
    mid = len(nodes) // 2
    left, middle, right = shuffled[:mid], shuffled[mid], shuffled[mid + 1:]
    return [left + [middle], [middle] + right], pairs_of([left, right])


class Partition(FaultNemesis):
    name = "partition"
    colour = "#e06666"
    start_f = "start-partition"
    stop_f = "stop-partition"
    requires = frozenset({"links"})
    args = ("mode",)

    def __init__(self, mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_mode(mode or "halves")
        self.default_mode = mode is None
        self.turn = 0

    def check(self, db: Any) -> None:
        """Take the DB's suggested defaults (before the checks, so that they are checked too)."""
        suggested = db.fault_defaults.get(self.name, {})
        if self.default_mode and "mode" in suggested:
            self.set_mode(suggested["mode"])
        if self.default_schedule and "schedule" in suggested:
            self.plan = parse_schedule(suggested["schedule"])
        super().check(db)

    def check_cluster(self, nodes: Sequence[str]) -> None:
        if "|" in self.mode:
            unknown = [n for g in parse_grouping(self.mode) for n in g if n not in nodes and n != CLIENTS]
            if unknown:
                raise InputError(f"partition grouping {self.mode!r} names {unknown[0]!r}, not a node of this "
                                 "cluster", expected=f"groups of {' '.join(nodes)} (and {CLIENTS})")
        elif self.mode == "ring" and len(nodes) < 4:
            raise InputError(f"partition:ring cuts no link on {len(nodes)} nodes (each already sees a majority)",
                             expected="5 nodes (--nodes 5) or another mode")
        elif len(nodes) < 2 or (self.mode == "bridge" and len(nodes) < 3):
            raise InputError(f"partition:{self.mode} needs more than {len(nodes)} node(s)",
                             expected="--nodes 3 or more")

    def set_mode(self, mode: str) -> None:
        self.mode, _, extra = mode.partition("+")
        self.with_clients = extra == "clients"
        if self.mode not in MODES + ("cycle", "follower") and "|" not in self.mode:
            raise InputError(f"unknown partition mode {mode!r}",
                             expected=f"{', '.join(MODES)}, follower, cycle, or a grouping like '[n1] | [n2 n3]'")
        if "|" in self.mode:
            parse_grouping(self.mode)
        needs_leader = self.mode in ("leader", "follower", "cycle")
        self.requires = type(self).requires | ({"leader"} if needs_leader else set())

    def choose(self, rng: random.Random) -> Any:
        mode = self.mode
        if mode == "cycle":
            mode, self.turn = MODES[self.turn % len(MODES)], self.turn + 1
        return {"mode": mode, "seed": rng.randrange(1 << 30)}

    def groups(self, mode: str, rng: random.Random) -> tuple[list[list[str]], set[frozenset[str]]]:
        nodes = list(self.db.node_names)
        if "|" in mode:
            groups = parse_grouping(mode)
        elif mode == "halves":
            groups = halves(nodes, rng)
        elif mode == "one":
            lone = rng.choice(nodes)
            groups = [[lone], [n for n in nodes if n != lone]]
        elif mode == "leader":
            lone = self.db.leader() or rng.choice(nodes)
            groups = [[lone], [n for n in nodes if n != lone]]
        elif mode == "follower":
            leader = self.db.leader()
            lone = rng.choice([n for n in nodes if n != leader] or nodes)
            groups = [[lone], [n for n in nodes if n != lone]]
        elif mode == "ring":
            return [], ring(nodes)
        else:
            return bridge(nodes, rng)
        if self.with_clients:
            groups[0] = groups[0] + [CLIENTS]
        return groups, pairs_of(groups)

    def start(self, value: Any) -> Any:
        value = value or {"mode": self.mode if self.mode != "cycle" else "halves", "seed": 0}
        groups, cut = self.groups(value["mode"], random.Random(value["seed"]))
        links_for(self.db).set(self.name, cut=cut)
        return {"mode": value["mode"], "groups": groups, "cut": sorted(sorted(p) for p in cut)}

    def stop(self, value: Any) -> Any:
        links_for(self.db).clear(self.name)
        return "network healed" if value != "final-heal" else "final heal: network healed"

    def active(self) -> str:
        state = self.in_force if isinstance(self.in_force, dict) else {}
        if state.get("groups"):
            return "partition " + " | ".join(" ".join(g) for g in state["groups"])
        return f"partition {state.get('mode', '')} ({len(state.get('cut', []))} links cut)" if state else ""
