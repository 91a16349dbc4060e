"""Allow N messages, then drop (TiKV's count filter): ``--nemesis count-filter`` lets 50 packets into one random
node from each of its peers and the clients, then drops the rest until the fault stops;
``count-filter:N[:TARGET]``.

In namespaces N counts packets (``numgen inc``); through the proxies N counts forwarded chunks, and a link whose
budget is spent is cut.  Counters restart whenever the fault starts (and whenever another network fault of the
run changes, since the rules are re-applied together).  Recorded as ``:start-count-filter`` /
``:stop-count-filter``.
"""
from __future__ import annotations

from typing import Any

from . import targets
from .link_fault import LinkFault


class CountFilter(LinkFault):
    name = "count-filter"
    colour = "#8e7cc3"
    args = ("count", "target")
    start_f = "start-count-filter"
    stop_f = "stop-count-filter"
    removed = "count filter removed"

    def __init__(self, count: int = 50, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count, self.target = int(count), targets.check(target)
        self.requires = type(self).requires | targets.requires(self.target)

    def rule_params(self) -> dict[str, Any]:
        return {"count": self.count}

    def narrow(self, rules: list[dict], value: dict) -> list[dict]:
        if value["target"] in ("one", "leader"):  # only what flows into the chosen node
            into = rules[0]["dst"]
            return [r for r in rules if r["dst"] == into]
        return rules
