"""Added latency and jitter: ``--nemesis latency`` (100 ms +- 50 ms on every node-to-node link),
``latency:MS[:JITTER[:TARGET]]``.

This machine's kernel has no ``sch_netem``, so latency cannot be added to the namespaces' veths: the nemesis
detects that, says so, and asks for the TCP proxies (``--network auto`` then picks them; ``--network netns``
fails at the first fault with that message).  Each chunk a dialer sends into the node waits ``MS`` +- ``JITTER``
ms in the proxy.  Recorded as ``:start-latency`` / ``:stop-latency``.
"""
from __future__ import annotations

import random
from typing import Any

from histcheck.run import net

from . import targets
from .base import FaultNemesis
from .links import links_for, netem_available, no_netem_message


class Latency(FaultNemesis):
    name = "latency"
    colour = "#ffd966"
    start_f = "start-latency"
    stop_f = "stop-latency"

    def __init__(self, delay_ms: float = 100, jitter_ms: float = 50, target: str = "all", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_ms, self.jitter_ms = float(delay_ms), float(jitter_ms)
        self.target = targets.check(target)

    def preferred_network(self) -> str | None:
        return "proxy" if net.is_root() and not netem_available() else None

    def notes(self) -> list[str]:
        return [no_netem_message()] if net.is_root() and not netem_available() else []

    def choose(self, rng: random.Random) -> Any:
        return {"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms, "target": self.target,
                "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        if self.db.network.kind != "proxy":
            raise RuntimeError(no_netem_message())
        rules = targets.rules(self.db, value["target"], random.Random(value["seed"]),
                              delay_ms=value["delay_ms"], jitter_ms=value["jitter_ms"])
        links_for(self.db).set(self.name, rules=rules)
        return {"delay_ms": value["delay_ms"], "jitter_ms": value["jitter_ms"], "links": targets.describe(rules)}

    def stop(self, value: Any) -> Any:
        links_for(self.db).clear(self.name)
        return "latency removed"


NEMESIS = Latency
