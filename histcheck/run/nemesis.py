"""The plumbing every nemesis plugs into: the protocol, the ``none`` nemesis, and the thread that runs a schedule.

A nemesis (``nemesis/<name>.py`` exposes ``NEMESIS``, a class) has ``setup(db)``, a ``schedule(rng, time_limit)``
of ``(at_seconds, f, value)`` steps, ``invoke(f, value)`` that performs one step on the DB and its network and
returns what it did, ``heal()`` steps that undo everything, ``active()`` describing the faults in force (for the
progress line) and a ``colour`` for plots.  ``NemesisRunner`` plays the schedule and records every step as Jepsen
does: an ``:info`` invocation and an ``:info`` completion of process ``:nemesis``.  The final heal always runs.
"""
from __future__ import annotations

import importlib
import random
import threading
import time
from typing import Any, Iterator

from ..errors import InputError
from ..values import Keyword

NEMESIS_PROCESS = Keyword("nemesis")
Step = tuple[float, str, Any]


class Nemesis:
    """Base class and the ``none`` nemesis: no faults, an empty heal."""

    name = "none"
    colour = "#bbbbbb"

    def setup(self, db: Any) -> None:
        self.db = db

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        return iter(())

    def invoke(self, f: str, value: Any) -> Any:
        raise NotImplementedError(f"{self.name} cannot {f}")

    def heal(self) -> list[tuple[str, Any]]:
        return []

    def active(self) -> str:
        return ""

    def describe(self) -> dict:
        return {"nemesis": self.name, "colour": self.colour}


def get(name: str, options: dict | None = None) -> Nemesis:
    """``none``, or the nemesis in ``nemesis/<name>.py`` (its ``NEMESIS`` class)."""
    if name in ("none", "", None):
        return Nemesis()
    try:  # the fault nemeses of issue 6: registry names, combinations (``partition,kill``), ``name:option``
        from nemesis import build
    except ImportError:
        build = None
    if build is not None:
        found = build(name, options)
        if found is not None:
            return found
    try:
        module = importlib.import_module(f"nemesis.{name.replace('-', '_')}")
    except ImportError:
        raise InputError(f"unknown nemesis {name!r}", expected="none (the fault nemeses arrive with issue 6)")
    cls = getattr(module, "NEMESIS", None)
    if cls is None:
        raise InputError(f"nemesis module {name!r} has no NEMESIS class", expected="a nemesis package")
    return cls(**(options or {}))


class NemesisRunner:
    """Plays a nemesis schedule on its own thread, recording each step in the journal."""

    def __init__(self, nemesis: Nemesis, journal: Any, rng: random.Random, time_limit: float) -> None:
        self.nemesis = nemesis
        self.journal = journal
        self.rng = rng
        self.time_limit = time_limit
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="histcheck-nemesis", daemon=True)
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self.nemesis.stop_requested = self.stop_event  # lets condition-driven schedules (issue 6) end at once
        self.thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        for at, f, value in self.nemesis.schedule(self.rng, self.time_limit):
            delay = start + at - time.monotonic()
            if delay > 0 and self.stop_event.wait(delay):
                return
            if self.stop_event.is_set() or at >= self.time_limit:
                return
            self.step(f, value)

    def step(self, f: str, value: Any) -> None:
        """Perform one step and record it (``:info`` invoke, ``:info`` completion)."""
        with self._lock:
            self.journal.record("info", NEMESIS_PROCESS, f, value)
            try:
                done = self.nemesis.invoke(f, value)
                self.journal.record("info", NEMESIS_PROCESS, f, done)
            except Exception as exc:  # a failed fault is recorded, never fatal to the run
                self.errors.append(f"{f}: {exc}")
                self.journal.record("info", NEMESIS_PROCESS, f, value, error=f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """Stop the schedule and run the final heal (always)."""
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        for f, value in self.nemesis.heal():
            self.step(f, value)
