"""Packet loss on chosen links: ``--nemesis packet`` (30 % on every link of one random node, both directions),
``packet:PCT[:TARGET]`` with TARGET ``one``, ``leader``, ``all``, ``n1>n2`` (one direction) or ``n1-n2``.

In network namespaces each lost packet is a real drop (nftables ``numgen random``); through the proxies a "lost"
chunk is delayed by a TCP retransmission timeout (200 ms), which is what loss costs a TCP stream.  Recorded as
``:start-packet`` (value: the percentage and the links) and ``:stop-packet``.
"""
from __future__ import annotations

from typing import Any

from . import targets
from .link_fault import LinkFault


class Packet(LinkFault):
    name = "packet"
    colour = "#f6b26b"
    args = ("loss", "target")
    start_f = "start-packet"
    stop_f = "stop-packet"
    removed = "packet loss removed"

    def __init__(self, loss: float = 30, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loss = float(loss)
        self.target = targets.check(target)
        self.requires = type(self).requires | targets.requires(self.target)

    def rule_params(self) -> dict[str, Any]:
        return {"loss": self.loss}
