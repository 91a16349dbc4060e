"""``multi-register``: many independent registers, values ``[k v]``, checked key by key as ``cas-register``.

This is Jepsen's ``independent`` register workload: each op names its key in a ``[k v]`` tuple and histcheck splits
the history per key (P-compositionality), so long runs stay cheap to check.
"""
from __future__ import annotations

import random
from typing import Any

from .base import Completion, Workload
from .register import DEFAULT_MIX, register_invoke, register_op


class MultiRegister(Workload):
    name = "multi-register"
    takes_mix = True
    model = "cas-register"
    checker = "cas-register per independent key"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.keys = int(self.options.get("keys", 8))
        self.weights = self.options.get("mix") or DEFAULT_MIX

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        key = rng.randrange(self.keys)
        f, value = register_op(rng, self.weights)
        return f, (key, value)

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        key, inner = value
        kind, out = register_invoke(client, f"{self.prefix}/mr/{key}", f, inner)
        return kind, (key, out)
