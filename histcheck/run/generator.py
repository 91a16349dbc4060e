"""The generator: which operation each worker does next, and when.

Operations come from the workload, drawn with one seeded ``random.Random`` per worker so that a seed reproduces
every worker's sequence of operations.  ``rate`` caps the total invocations per second across workers (0: as fast
as the database answers), spreading them evenly; ``time_limit`` ends the main phase.  A run goes through the
``PHASES`` in order; the generator answers ``None`` once its phase is over or a stop was requested.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any

PHASES = ("setup", "run", "heal", "recover", "final", "teardown", "check")


class Generator:
    def __init__(self, workload: Any, *, concurrency: int, rate: float, time_limit: float, seed: int) -> None:
        self.workload = workload
        self.concurrency = concurrency
        self.rate = rate
        self.time_limit = time_limit
        self.seed = seed
        self.rngs = [random.Random(f"{seed}/worker/{w}") for w in range(concurrency)]
        self.nemesis_rng = random.Random(f"{seed}/nemesis")
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self.deadline = 0.0
        self.phase = "setup"

    def start(self) -> None:
        now = time.monotonic()
        self.deadline = now + self.time_limit
        self._next_slot = now
        self.phase = "run"

    def stop(self) -> None:
        self.stop_event.set()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def next(self, worker: int) -> tuple[str, Any] | None:
        """The next invocation for ``worker``, after waiting for its rate slot; None when the phase is over."""
        if self.stop_event.is_set() or time.monotonic() >= self.deadline:
            return None
        if self.rate > 0:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + 1.0 / self.rate
            wait = min(slot, self.deadline) - time.monotonic()
            if wait > 0 and self.stop_event.wait(wait):
                return None
            if time.monotonic() >= self.deadline:
                return None
        return self.workload.next_op(self.rngs[worker])
