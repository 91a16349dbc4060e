"""The nemesis protocol, the ``none`` nemesis, the start/stop fault shape every fault shares, and combination.

A nemesis has ``setup(db)``, a ``schedule(rng, time_limit)`` of ``(at_seconds, f, value)`` steps, ``invoke(f,
value)`` that performs one step on the DB and its network and returns what it did, ``heal()`` steps that undo
everything, ``active()`` describing the faults in force (for the progress line) and a ``colour`` for plots.  It
declares the DB capabilities it needs in ``requires`` (the names of ``histcheck.run.db.CAPABILITIES``) and checks
its targets against the cluster in ``check_cluster``: ``check(db)`` runs both before any node starts, so a fault
the DB cannot take, or a target it does not have, stops the run at once.

A ``FaultNemesis`` subclass names its two operations (``start_f``/``stop_f``, Jepsen's spelling where there is
one), its spec arguments in order (``args``: ``kill:TARGET``), picks a target for each window from the seeded RNG
(``choose``), applies it (``start``) and undoes everything (``stop``, which must also work when nothing or only
half a fault is in force: the final heal calls it unconditionally).  The runner records each start and stop as an
``:info`` invocation and an ``:info`` completion of process ``:nemesis``; the completion's value is what
``start``/``stop`` returned (what was done to which nodes).  ``Combined`` plays several nemeses at once
(``--nemesis partition,kill``).
"""
from __future__ import annotations

import random
import threading
from typing import Any, Iterator, Sequence

from histcheck.errors import InputError

from .schedules import Every, Schedule

Step = tuple[float, str, Any]


class Nemesis:
    """Base class and the ``none`` nemesis: no faults, an empty heal."""

    name = "none"
    colour = "#bbbbbb"
    requires: frozenset[str] = frozenset()
    args: tuple[str, ...] = ()
    start_f = ""
    stop_f = ""
    heal_rank = 0  # order of the final heals when combined: network 0, clock 1, processes 2
    stop_requested: threading.Event | None = None

    def check(self, db: Any) -> None:
        """Refuse, before any node starts, a fault the DB cannot take or a target the cluster does not have."""
        missing = sorted(self.requires - db.capabilities())
        if missing:
            have = ", ".join(sorted(db.capabilities())) or "none"
            raise InputError(f"nemesis {self.name!r} needs the DB capability {missing[0]!r}, which the "
                             f"{db.name} DB does not have", expected=f"a nemesis within its capabilities ({have})")
        self.check_cluster(list(db.node_names))

    def check_cluster(self, nodes: Sequence[str]) -> None:
        """Raise InputError when a target names nodes the cluster lacks (or a shape it cannot have)."""

    def check_schedule(self, time_limit: float) -> None:
        """Raise InputError when the schedule would put no fault within the time limit."""

    def watch_stop(self, event: threading.Event) -> None:
        """The runner's stop request, for schedules that watch the cluster instead of a clock."""
        self.stop_requested = event

    def setup(self, db: Any) -> None:
        self.db = db

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        return iter(())

    def fs(self) -> tuple[str, ...]:
        return tuple(f for f in (self.start_f, self.stop_f) if f)

    def invoke(self, f: str, value: Any) -> Any:
        raise NotImplementedError(f"{self.name} cannot {f}")

    def heal(self) -> list[tuple[str, Any]]:
        return []

    def active(self) -> str:
        return ""

    def describe(self) -> dict:
        return {"nemesis": self.name, "colour": self.colour}

    def notes(self) -> list[str]:
        """Things to say at run time (e.g. that a Go program ignores libfaketime)."""
        return []

    def preferred_network(self) -> str | None:
        """The network this nemesis needs (``proxy`` for latency without netem), or None."""
        return None


class FaultNemesis(Nemesis):
    """A fault with a start and a stop, played on a schedule."""

    name = "fault"
    colour = "#888888"
    start_f = "start"
    stop_f = "stop"

    def __init__(self, schedule: Schedule | None = None, **options: Any) -> None:
        self.plan = schedule or Every()
        self.default_schedule = schedule is None  # the DB may suggest a better default in setup
        self.options = options
        self.in_force: Any = None
        self.lock = threading.Lock()

    def check_schedule(self, time_limit: float) -> None:
        if self.plan.first_start() >= time_limit:
            raise InputError(f"nemesis {self.name!r}: its schedule {self.plan} starts no fault within the "
                             f"{time_limit:g} s time limit", expected="an earlier schedule or a longer --time-limit")

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        steps: list[Step] = []
        for a, b in self.plan.windows(rng, time_limit):
            steps.append((a, self.start_f, self.choose(rng)))
            steps.append((b, self.stop_f, None))
        return iter(steps)

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
                "requires": sorted(self.requires), "schedule": repr(self.plan),
                "options": {k: repr(v) for k, v in self.options.items()}}


class Combined(Nemesis):
    """Several nemeses at once; each step goes to the nemesis that owns its ``f``."""

    def __init__(self, parts: list[Nemesis]) -> None:
        self.parts = parts
        self.name = ",".join(p.name for p in parts)
        self.colour = parts[0].colour
        self.requires = frozenset().union(*(p.requires for p in parts))
        self.owner: dict[str, Nemesis] = {}
        for p in parts:
            for f in p.fs():
                if f in self.owner:
                    raise InputError(f"nemeses {self.owner[f].name!r} and {p.name!r} both record :{f}, so their "
                                     "steps cannot be told apart", expected="each fault kind once")
                self.owner[f] = p

    def check(self, db: Any) -> None:
        for p in self.parts:
            p.check(db)

    def check_schedule(self, time_limit: float) -> None:
        for p in self.parts:
            p.check_schedule(time_limit)

    def watch_stop(self, event: threading.Event) -> None:
        for p in self.parts:
            p.watch_stop(event)

    def setup(self, db: Any) -> None:
        self.db = db
        for p in self.parts:
            p.setup(db)

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        steps: list[Step] = []
        for p in self.parts:
            steps += list(p.schedule(random.Random(rng.random()), time_limit))
        return iter(sorted(steps, key=lambda s: s[0]))

    def fs(self) -> tuple[str, ...]:
        return tuple(self.owner)

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
        return next((w for w in (p.preferred_network() for p in self.parts) if w), None)
