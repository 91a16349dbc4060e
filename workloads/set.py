"""``set``: unique elements added concurrently, one final read; Jepsen's set checker.

Each ``add`` writes its own key (``hc/set/<e>``), so adds never conflict; the final read lists the prefix.  The
checker is Jepsen's ``checker/set``: every acknowledged add must be in the final read (else it was *lost*), and
nothing may be read that was never added (*unexpected*); adds that crashed may go either way (*recovered* when
present).
"""
from __future__ import annotations

import itertools
import random
import threading
from typing import Any

from histcheck.checker.result import Result
from histcheck.history import History

from .base import Completion, Workload


class SetWorkload(Workload):
    name = "set"
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

    def check(self, history: History) -> Result:
        return check_set(history)


def check_set(history: History) -> Result:
    """Lost, unexpected and recovered elements, judged against the last ok read."""
    calls = history.calls(include_failed=True)
    adds = {c.value: c.status for c in calls if c.f == "add"}
    reads = [c for c in calls if c.f == "read" and c.status == "ok"]
    if not reads:
        return Result("unknown", "set", ops=len(calls), cause="interrupted",
                      notes=["no final read completed, so nothing can be said about the set"])
    final = set(reads[-1].value or ())
    ok = {v for v, s in adds.items() if s == "ok"}
    lost = sorted(ok - final)
    unexpected = sorted(final - set(adds))
    recovered = sorted(v for v in final if adds.get(v) in ("info", "open"))
    notes = [f"{len(ok)} acknowledged adds, {len(final)} elements read, lost {len(lost)}: {lost[:20]}",
             f"unexpected {len(unexpected)}: {unexpected[:20]}", f"recovered {len(recovered)}"]
    return Result(not lost and not unexpected, "set", ops=len(calls), analyzer="set", notes=notes)
