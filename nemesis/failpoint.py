"""Failpoints: ``--nemesis failpoint:NAME=ACTION[:TARGET]`` switches a named failpoint of the system on for each
fault window and off again (``:set-failpoint`` / ``:clear-failpoint``).

A failpoint is a named place in the system's code that can be told, at run time, to misbehave: the ``fail`` crate
of Rust systems (TiKV's failpoints), gofail in Go, or the in-memory DB's switchable bugs.  ACTION is the ``fail``
crate's spelling: ``return``, ``return(VALUE)``, ``panic``, ``sleep(MS)``, ``delay(MS)``, ``pause``, ``yield``,
``print``, ``off``, each optionally preceded by a probability ``50%`` and a count ``3*``, chained with ``->``
(``50%return``, ``2*sleep(100)->panic``).  TARGET is a process target (``one``, ``leader``, ``minority``,
``majority``, ``all``, ``n1+n2``; default ``all``).  Needs the DB's ``failpoints`` capability
(``set_failpoint(node, name, action)``, ``clear_failpoint(node, name)``); when the DB lists its failpoints
(``known_failpoints()``), NAME is checked against them before any node starts.  The final heal clears the
failpoint on every node.
"""
from __future__ import annotations

import random
import re
from typing import Any, Sequence

from histcheck.errors import InputError

from .base import FaultNemesis
from .process import check_target, check_target_in, pick, target_requires

TASKS = ("off", "return", "sleep", "panic", "print", "pause", "yield", "delay")
_ACTION = re.compile(r"(?:\d+(?:\.\d+)?%)?(?:\d+\*)?(?:" + "|".join(TASKS) + r")(?:\([^()]*\))?")
ACTION_SPELLING = ("[P%][N*]TASK[(ARG)] joined by ->, TASK one of " + ", ".join(TASKS)
                   + " (e.g. return, panic, sleep(100), 50%return)")


def check_action(action: str) -> str:
    """Refuse an ACTION that is not the ``fail`` crate's spelling (before anything starts)."""
    if not action or not all(_ACTION.fullmatch(part) for part in action.split("->")):
        raise InputError(f"failpoint action {action!r} is not a failpoint action", expected=ACTION_SPELLING)
    return action


class Failpoint(FaultNemesis):
    name = "failpoint"
    colour = "#a64d79"
    start_f = "set-failpoint"
    stop_f = "clear-failpoint"
    heal_rank = 1
    requires = frozenset({"failpoints"})
    args = ("point", "target")

    def __init__(self, point: str = "", target: str = "all", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        name, sep, action = point.partition("=")
        if not name or not sep:
            raise InputError(f"failpoint {point!r} is not NAME=ACTION", expected="e.g. failpoint:stale-read=return")
        self.point, self.action = name.strip(), check_action(action.strip())
        self.target = check_target(target)
        self.requires = type(self).requires | target_requires(self.target)
        self.on: list[str] = []

    def check(self, db: Any) -> None:
        super().check(db)
        known = db.known_failpoints()
        if known is not None and self.point not in known:
            raise InputError(f"the {db.name} DB has no failpoint {self.point!r}",
                             expected="one of " + ", ".join(sorted(known)))

    def check_cluster(self, nodes: Sequence[str]) -> None:
        check_target_in(self.target, nodes, self.name)

    def choose(self, rng: random.Random) -> Any:
        return {"failpoint": self.point, "action": self.action, "target": self.target,
                "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        nodes = pick(self.db, value["target"], random.Random(value["seed"]))
        for node in nodes:
            self.db.set_failpoint(node, value["failpoint"], value["action"])
            self.on.append(node)
        return {"failpoint": value["failpoint"], "action": value["action"], "nodes": nodes}

    def stop(self, value: Any) -> Any:
        """Clear it everywhere (also where a half-done start may have set it)."""
        for node in self.db.node_names:
            self.db.clear_failpoint(node, self.point)
        cleared, self.on = sorted(set(self.on)), []
        return {"failpoint": self.point, "cleared": cleared}

    def active(self) -> str:
        return f"failpoint {self.point}={self.action} on {' '.join(self.on)}" if self.on else ""
