"""``counter``: increments and reads of one counter; Jepsen's counter checker.

``add`` is a read followed by a compare-and-set, retried a bounded number of times (``:fail`` when every try lost
the race).  A read is valid if it lies between the sum of the adds acknowledged before it was invoked and the sum
of every add that may have happened (acknowledged or crashed) before it completed: Jepsen's counter checker,
``histcheck.checkers.counter``.
"""
from __future__ import annotations

import random
from typing import Any

from .base import Completion, Workload

TRIES = 8


class Counter(Workload):
    name = "counter"
    checker_name = "counter"
    checker = "counter (Jepsen's checker/counter: reads within [acknowledged, attempted])"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.key = f"{self.prefix}/counter"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return ("read", None) if rng.random() < 0.3 else ("add", rng.randint(1, 5))

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        if f == "read":
            raw = client.read(self.key)
            return "ok", int(raw) if raw is not None else 0
        for _ in range(TRIES):
            raw = client.read(self.key)
            new = (int(raw) if raw is not None else 0) + value
            if client.cas(self.key, raw, str(new)):
                return "ok", value
        return "fail", value

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("read", None)]


