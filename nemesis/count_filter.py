"""Allow N messages, then drop (TiKV's count filter): ``--nemesis count-filter`` lets 50 packets into one random
node from each of its peers and the clients, then drops the rest until the fault stops;
``count-filter:N[:TARGET]``.

In namespaces N counts packets (``numgen inc``); through the proxies N counts forwarded chunks, and a link whose
budget is spent is cut.  Counters restart whenever the fault starts (and whenever another network fault of the
run changes, since the rules are re-applied together).  Recorded as ``:start-count-filter`` /
``:stop-count-filter``.
"""
from __future__ import annotations

import random
from typing import Any

from . import targets
from .base import FaultNemesis
from .links import links_for


class CountFilter(FaultNemesis):
    name = "count-filter"
    colour = "#8e7cc3"
    start_f = "start-count-filter"
    stop_f = "stop-count-filter"

    def __init__(self, count: int = 50, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count, self.target = int(count), targets.check(target)

    def choose(self, rng: random.Random) -> Any:
        return {"count": self.count, "target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        rules = targets.rules(self.db, value["target"], random.Random(value["seed"]), count=value["count"])
        if value["target"] in ("one", "leader"):  # only what flows into the chosen node
            into = rules[0]["dst"]
            rules = [r for r in rules if r["dst"] == into]
        links_for(self.db).set(self.name, rules=rules)
        return {"count": value["count"], "links": targets.describe(rules)}

    def stop(self, value: Any) -> Any:
        links_for(self.db).clear(self.name)
        return "count filter removed"


NEMESIS = CountFilter
