"""The shape shared by faults made of per-link rules (packet loss, latency, the count filter).

Each picks links with ``targets`` (``one``, ``leader``, ``all``, ``n1>n2``...), installs one rule per link through
``links`` (nftables in namespaces, the proxies otherwise) and removes them all when it stops.  What differs is only
the rule's parameters, so a subclass names them in ``rule_params`` and may narrow the links in ``narrow``.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

from . import targets
from .base import FaultNemesis
from .links import links_for


class LinkFault(FaultNemesis):
    """A fault applied as rules on the links its TARGET picks; recorded with its parameters and the links."""

    removed = "rules removed"
    requires = frozenset({"links"})
    target = "one"

    def check_cluster(self, nodes: Sequence[str]) -> None:
        targets.check_in(self.target, nodes, self.name)

    def rule_params(self) -> dict[str, Any]:
        """The rule parameters this fault was configured with (``{"loss": 30.0}``)."""
        raise NotImplementedError

    def narrow(self, rules: list[dict], value: dict) -> list[dict]:
        """Keep only some of the picked links' rules (all by default)."""
        return rules

    def choose(self, rng: random.Random) -> Any:
        return {**self.rule_params(), "target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        params = {name: value[name] for name in self.rule_params()}
        rules = targets.rules(self.db, value["target"], random.Random(value["seed"]), **params)
        rules = self.narrow(rules, value)
        links_for(self.db).set(self.name, rules=rules)
        return {**params, "links": targets.describe(rules)}

    def stop(self, value: Any) -> Any:
        links_for(self.db).clear(self.name)
        return self.removed
