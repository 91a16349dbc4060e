"""A fault switched on and off by a condition (TiKV's conditional filters): ``--nemesis when-leader[:NODE[:HOLD]]``.

Instead of a clock schedule, the nemesis watches the cluster (every 0.2 s) and isolates NODE from the other nodes
whenever NODE leads; once another node leads, and the fault has been in force at least HOLD seconds (1), it heals.
NODE ``first`` (the default) is whoever leads when the run starts, so the fault fires at least once.  Each switch is
recorded as ``:start-partition`` / ``:stop-partition`` with the reason (``"because" "n1 leads"``).  Because it
polls on the nemesis thread, it cannot be combined with other nemeses.
"""
from __future__ import annotations

import random
import time
from typing import Any, Iterator, Sequence

from histcheck.errors import InputError

from .base import Step
from .partition import Partition


class WhenLeader(Partition):
    name = "when-leader"
    colour = "#c27ba0"
    requires = frozenset({"links", "leader"})
    args = ("node", "hold")

    def __init__(self, node: str = "first", hold: float = 1.0, poll: float = 0.2, **kwargs: Any) -> None:
        super().__init__(mode="halves", **kwargs)
        self.requires = type(self).requires
        self.node, self.hold, self.poll = node, float(hold), float(poll)

    def check_cluster(self, nodes: Sequence[str]) -> None:
        if self.node != "first" and self.node not in nodes:
            raise InputError(f"nemesis 'when-leader': {self.node!r} is not a node of this cluster",
                             expected=f"first, or one of {' '.join(nodes)}")

    def check_schedule(self, time_limit: float) -> None:
        """Switched by the cluster, not a clock: any time limit will do."""

    def grouping(self, node: str) -> str:
        others = [n for n in self.db.node_names if n != node]
        return f"[{node}] | [{' '.join(others)}]"

    def schedule(self, rng: random.Random, time_limit: float) -> Iterator[Step]:
        """Steps as the condition changes; the times are when it was seen (so they run at once)."""
        began, on, since = time.monotonic(), False, 0.0
        stop = self.stop_requested
        while (now := time.monotonic() - began) < time_limit and not (stop is not None and stop.is_set()):
            leader = self.db.leader()
            if self.node == "first" and leader is not None:
                self.node = leader
            if not on and leader is not None and leader == self.node:
                on, since = True, now
                yield now, self.start_f, {"mode": self.grouping(leader), "seed": 0, "because": f"{leader} leads"}
            elif on and now - since >= self.hold and leader not in (None, self.node):
                on = False
                yield now, self.stop_f, {"because": f"{leader} leads"}
            time.sleep(self.poll)
