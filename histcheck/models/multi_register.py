"""Several named registers changed together by transactions, as in Knossos's multi-register.

An operation is ``:f :txn`` with a vector of micro-operations, ``[[:read :x 1] [:write :y 2]]``, applied in order
and atomically.  A read of ``nil`` is a read whose value is unknown (Knossos's convention), unless ``--nil-read
absent`` says nil means the register has no value.  The initial value is a map, ``{:x 0 :y 0}``; registers not in
it start as ``nil``.
"""
from __future__ import annotations

from typing import Any, Hashable

from ..history import Call
from ..values import freeze, show
from .base import ANYTHING, Inconsistent, Model


class MultiRegister(Model):
    name = "multi-register"
    operations = {"txn": "apply [[:read k v] [:write k v] ...] atomically; a read of nil learned nothing"}
    default_init: Any = {}

    def init_state(self, init: Any) -> Hashable:
        if init is None:
            return ()
        if not isinstance(init, dict):
            raise ValueError(f"a multi-register starts from a map such as {{:x 0 :y 0}}, not {show(init)}")
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in init.items()), key=repr))

    def prepare(self, call: Call) -> Hashable | None:
        if call.f != "txn":
            raise self.reject(call, f"the operation {show(call.f)}", "txn")
        if not isinstance(call.value, (tuple, list)):
            raise self.reject(call, f"the transaction {show(call.value)}", "a vector of [f k v] micro-ops")
        micro = []
        for m in call.value:
            if not (isinstance(m, (tuple, list)) and len(m) == 3 and m[0] in ("read", "write", "r", "w")):
                raise self.reject(call, f"the micro-op {show(m)}", "[:read k v] or [:write k v]")
            f = "read" if m[0] in ("read", "r") else "write"
            if f == "read":
                v = ANYTHING if call.crashed else self.read_value(freeze(m[2]))
                if v is ANYTHING:
                    continue
                micro.append(("read", freeze(m[1]), v))
            else:
                micro.append(("write", freeze(m[1]), freeze(m[2])))
        if not micro:
            return None
        return ("txn",) + tuple(micro)

    def step(self, state: tuple, op: tuple) -> Any:
        values = dict(state)
        for f, k, v in op[1:]:
            if f == "read":
                if values.get(k) != v:
                    return Inconsistent("can't read {} from {}: it holds {}", v, k, values.get(k))
            else:
                values[k] = v
        return tuple(sorted(values.items(), key=repr))

    def describe(self, state: tuple) -> str:
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in state) + "}"

    def describe_op(self, op: tuple) -> str:
        return "txn [" + " ".join(f"[{f} {show(k)} {show(v)}]" for f, k, v in op[1:]) + "]"

    def is_pure(self, op: tuple) -> bool:
        return all(m[0] == "read" for m in op[1:])
