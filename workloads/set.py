"""``set``: unique elements added concurrently, one final read; Jepsen's set checker.

Each ``add`` writes its own key (``hc/set/<e>``), so adds never conflict; the final read lists the prefix.  The
checker is Jepsen's ``checker/set`` (``histcheck.checkers.set``): every acknowledged add must be in the final read
(else it was *lost*), and nothing may be read that was never added (*unexpected*); adds that crashed may go either
way (*recovered* when present).
"""
from __future__ import annotations

import itertools
import random
import threading
from typing import Any

from .base import Completion, Workload


class SetWorkload(Workload):
    name = "set"
    checker_name = "set"
    checker = "set (Jepsen's checker/set: no lost, no unexpected elements)"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._next = itertools.count()
        self._lock = threading.Lock()

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        with self._lock:
            return "add", next(self._next)

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        if f == "add":
            client.write(f"{self.prefix}/set/{value:08d}", str(value))
            return "ok", value
        return "ok", sorted(int(v) for v in client.read_prefix(f"{self.prefix}/set/").values())

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("read", None)]


