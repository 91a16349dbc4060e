"""A set: ``add`` inserts an element, ``read`` observes the whole set.

As in Knossos, a read must return exactly the set's contents.  Jepsen's set workload does many adds and one final
read; that check is cheap with a set-specific checker, but a linearizable set also has to explain every
intermediate read, which is what this model checks.
"""
from __future__ import annotations

from typing import Any, Hashable

from ..history import Call
from ..values import freeze, show
from .base import Inconsistent, Model


class SetModel(Model):
    name = "set"
    operations = {"add": "insert :value", "read": "observe the whole set; :value is the set (or a vector)"}
    default_init = frozenset()

    def init_state(self, init: Any) -> Hashable:
        return frozenset(freeze(v) for v in (init or ()))

    def prepare(self, call: Call) -> Hashable | None:
        if call.f == "add":
            return ("add", freeze(call.value))
        if call.f == "read":
            if call.crashed or call.value is None:
                return None
            if not isinstance(call.value, (tuple, list, set, frozenset)):
                raise self.reject(call, f"the read value {show(call.value)}", "a set or vector of elements")
            return ("read", frozenset(freeze(v) for v in call.value))
        raise self.reject(call, f"the operation {show(call.f)}", "add or read")

    def step(self, state: frozenset, op: tuple) -> Any:
        if op[0] == "add":
            return state | {op[1]}
        if op[1] == state:
            return state
        return Inconsistent("can't read {} from set {}", op[1], state)

    def is_pure(self, op: tuple) -> bool:
        return op[0] == "read"
