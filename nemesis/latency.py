"""Added latency and jitter: ``--nemesis latency`` (100 ms +- 50 ms on every node-to-node link),
``latency:MS[:JITTER[:TARGET]]``.

This machine's kernel has no ``sch_netem``, so latency cannot be added to the namespaces' veths: the nemesis
detects that, says so, and asks for the TCP proxies (``--network auto`` then picks them; ``--network netns``
fails at the first fault with that message).  Each chunk a dialer sends into the node waits ``MS`` +- ``JITTER``
ms in the proxy.  Recorded as ``:start-latency`` / ``:stop-latency``.
"""
from __future__ import annotations

from typing import Any

from histcheck.run import net

from . import targets
from .link_fault import LinkFault
from .links import netem_available, no_netem_message


class Latency(LinkFault):
    name = "latency"
    colour = "#ffd966"
    args = ("delay_ms", "jitter_ms", "target")
    start_f = "start-latency"
    stop_f = "stop-latency"
    removed = "latency removed"

    def __init__(self, delay_ms: float = 100, jitter_ms: float = 50, target: str = "all", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_ms, self.jitter_ms = float(delay_ms), float(jitter_ms)
        self.target = targets.check(target)
        self.requires = type(self).requires | targets.requires(self.target)

    def preferred_network(self) -> str | None:
        return "proxy" if net.is_root() and not netem_available() else None

    def notes(self) -> list[str]:
        return [no_netem_message()] if net.is_root() and not netem_available() else []

    def rule_params(self) -> dict[str, Any]:
        return {"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms}

    def start(self, value: Any) -> Any:
        if self.db.network.kind == "netns":
            raise RuntimeError(no_netem_message())
        return super().start(value)
