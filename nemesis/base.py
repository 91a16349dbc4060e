"""What every fault nemesis shares: start/stop steps on a schedule, an idempotent final heal, and combination.

A ``FaultNemesis`` subclass names its two operations (``start_f``/``stop_f``, Jepsen's spelling where there is
one), picks a target for each window from the seeded RNG (``choose``), applies it (``start``) and undoes
everything (``stop``, which must also work when nothing or only half a fault is in force: the final heal calls it
unconditionally).  Each start and stop is recorded by the runner as an ``:info`` invocation and an ``:info``
completion of process ``:nemesis``; the completion's value is what ``start``/``stop`` returned (what was done to
which nodes).  ``Combined`` plays several nemeses at once (``--nemesis partition,kill``).
"""
from __future__ import annotations

import random
import threading
from typing import Any, Iterator

from histcheck.run.nemesis import Nemesis, Step

from .schedules import Every, Schedule


class FaultNemesis(Nemesis):
    """A fault with a start and a stop, played on a schedule."""

    name = "fault"
    colour = "#888888"
    start_f = "start"
    stop_f = "stop"
    heal_rank = 0  # order of the final heals when combined: network 0, clock 1, processes 2

    def __init__(self, schedule: Schedule | None = None, **options: Any) -> None:
        self.plan = schedule or Every()
        self.default_schedule = schedule is None  # a nemesis may pick a better default for its DB in setup
        self.options = options
        self.in_force: Any = None
        self.lock = threading.Lock()

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        steps: list[Step] = []
        for a, b in self.plan.windows(rng, time_limit):
            steps.append((a, self.start_f, self.choose(rng)))
            steps.append((b, self.stop_f, None))
        return iter(steps)

    def fs(self) -> tuple[str, ...]:
        return (self.start_f, self.stop_f)

    def choose(self, rng: random.Random) -> Any:
        """The start step's value: which fault on which targets (drawn when the schedule is made)."""
        return None

    def invoke(self, f: str, value: Any) -> Any:
        with self.lock:
            if f == self.start_f:
                if self.in_force is not None:
                    self.stop(None)
                self.in_force = value if value is not None else True
                done = self.start(value)
                self.in_force = done
                return done
            if f == self.stop_f:
                done = self.stop(value)
                self.in_force = None
                return done
        return super().invoke(f, value)

    def start(self, value: Any) -> Any:
        raise NotImplementedError

    def stop(self, value: Any) -> Any:
        raise NotImplementedError

    def heal(self) -> list[tuple[str, Any]]:
        """Always one stop step (it is idempotent), whatever the nemesis believes is in force."""
        return [(self.stop_f, "final-heal")]

    def active(self) -> str:
        return f"{self.name}" if self.in_force is not None else ""

    def describe(self) -> dict:
        return {"nemesis": self.name, "colour": self.colour, "fs": list(self.fs()),
                "schedule": repr(self.plan), "options": {k: repr(v) for k, v in self.options.items()}}

    def notes(self) -> list[str]:
        """Things to say at run time (e.g. that a Go program ignores libfaketime)."""
        return []


class Combined(Nemesis):
    """Several nemeses at once; each step goes to the nemesis that owns its ``f``."""

    def __init__(self, parts: list[FaultNemesis]) -> None:
        self.parts = parts
        self.name = ",".join(p.name for p in parts)
        self.colour = parts[0].colour
        self.owner = {f: p for p in parts for f in p.fs()}

    def setup(self, db: Any) -> None:
        self.db = db
        for p in self.parts:
            p.setup(db)

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        steps: list[Step] = []
        for p in self.parts:
            steps += list(p.schedule(random.Random(rng.random()), time_limit))
        return iter(sorted(steps, key=lambda s: s[0]))

    def invoke(self, f: str, value: Any) -> Any:
        return self.owner[f].invoke(f, value)

    def heal(self) -> list[tuple[str, Any]]:
        """Network first, then clocks, then processes (a restarted node must be able to reach its peers)."""
        ordered = sorted(self.parts, key=lambda p: p.heal_rank)
        return [step for p in ordered for step in p.heal()]

    def active(self) -> str:
        return ", ".join(a for a in (p.active() for p in self.parts) if a)

    def describe(self) -> dict:
        return {"nemesis": self.name, "colour": self.colour, "parts": [p.describe() for p in self.parts]}

    def notes(self) -> list[str]:
        return [n for p in self.parts for n in p.notes()]

    def preferred_network(self) -> str | None:
        return next((w for w in (getattr(p, "preferred_network", lambda: None)() for p in self.parts) if w), None)
