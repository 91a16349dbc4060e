"""Packet loss on chosen links: ``--nemesis packet`` (30 % on every link of one random node, both directions),
``packet:PCT[:TARGET]`` with TARGET ``one``, ``leader``, ``all``, ``n1>n2`` (one direction) or ``n1-n2``.

In network namespaces each lost packet is a real drop (nftables ``numgen random``); through the proxies a "lost"
chunk is delayed by a TCP retransmission timeout (200 ms), which is what loss costs a TCP stream.  Recorded as
``:start-packet`` (value: the percentage and the links) and ``:stop-packet``.
"""
from __future__ import annotations

import random
from typing import Any

from . import targets
from .base import FaultNemesis
from .links import links_for


class Packet(FaultNemesis):
    name = "packet"
    colour = "#f6b26b"
    start_f = "start-packet"
    stop_f = "stop-packet"

    def __init__(self, loss: float = 30, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loss = float(loss)
        self.target = targets.check(target)

    def choose(self, rng: random.Random) -> Any:
        return {"loss": self.loss, "target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        rules = targets.rules(self.db, value["target"], random.Random(value["seed"]), loss=value["loss"])
        links_for(self.db).set(self.name, rules=rules)
        return {"loss": value["loss"], "links": targets.describe(rules)}

    def stop(self, value: Any) -> Any:
        links_for(self.db).clear(self.name)
        return "packet loss removed"


NEMESIS = Packet
