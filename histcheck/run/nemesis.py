"""The thread that plays a nemesis's schedule and records every step, as Jepsen does.

The nemesis itself (its protocol, the faults, their lookup) lives in ``histcheck.nemesis``; this module only plays
one: ``NemesisRunner`` records each step as an ``:info`` invocation and an ``:info`` completion of process
``:nemesis``, keeps going when a step fails (the failure is recorded in the completion's ``error``), and always
runs the final heal.  ``record_event`` writes the same shape for things that happened to the cluster without the
nemesis asking (a node that exited on its own), so the timeline, the scenarios and the checkers see them where
they see faults.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any

from ..values import Keyword

NEMESIS_PROCESS = Keyword("nemesis")
NODE_EXITED = "node-exited"  # the :f of an exit nobody asked for
NODE_EXITED_COLOUR = "#000000"


class NemesisRunner:
    """Plays a nemesis schedule on its own thread, recording each step in the journal."""

    def __init__(self, nemesis: Any, journal: Any, rng: random.Random, time_limit: float) -> None:
        self.nemesis = nemesis
        self.journal = journal
        self.rng = rng
        self.time_limit = time_limit
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="histcheck-nemesis", daemon=True)
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self.nemesis.watch_stop(self.stop_event)  # condition-driven schedules end as soon as the run does
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

    def record_event(self, f: str, value: Any) -> None:
        """Record something that happened to the cluster on its own, shaped like a nemesis step."""
        with self._lock:
            self.journal.record("info", NEMESIS_PROCESS, f, value)
            self.journal.record("info", NEMESIS_PROCESS, f, value)

    def finish(self) -> None:
        """Stop the schedule and run the final heal (always)."""
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)
        for f, value in self.nemesis.heal():
            self.step(f, value)
