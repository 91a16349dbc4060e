"""``register``: one key read, written and compare-and-set, checked as a linearizable ``cas-register``.

Operations are Knossos's: ``{:f :read, :value nil}`` (the value read on completion), ``{:f :write, :value 3}`` and
``{:f :cas, :value [2 4]}``; values are small integers so that cas often succeeds.  A cas whose expected value is
not there completes ``:fail``.
"""
from __future__ import annotations

import random
from typing import Any

from .base import Completion, Workload, mix

DEFAULT_MIX = {"read": 2, "write": 1, "cas": 1}


def decode(raw: str | None) -> int | None:
    return None if raw is None else int(raw)


def register_op(rng: random.Random, weights: dict[str, float], values: int = 5) -> tuple[str, Any]:
    f = mix(rng, weights)
    if f == "read":
        return f, None
    if f == "write":
        return f, rng.randrange(values)
    return f, (rng.randrange(values), rng.randrange(values))


def register_invoke(client: Any, key: str, f: str, value: Any) -> Completion:
    if f == "read":
        return "ok", decode(client.read(key))
    if f == "write":
        client.write(key, str(value))
        return "ok", value
    old, new = value
    return ("ok" if client.cas(key, str(old), str(new)) else "fail"), value


class Register(Workload):
    name = "register"
    takes_mix = True
    model = "cas-register"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.weights = self.options.get("mix") or DEFAULT_MIX
        self.key = f"{self.prefix}/register"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        return register_op(rng, self.weights)

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        return register_invoke(client, self.key, f, value)
