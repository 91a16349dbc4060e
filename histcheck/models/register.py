"""Registers: the single-value cells most Jepsen tests check.

``register`` holds one value, changed by ``write`` and observed by ``read``.  ``cas-register`` adds
compare-and-set, ``cas [from to]``, which writes ``to`` only if the register holds ``from``.

The one subtle point is what a read of ``nil`` means, and the two checkers histcheck is measured against disagree:

* Knossos reads ``nil`` as *the read's value is unknown* (a read that returned nothing useful): it matches every
  state.  That is right for Knossos's own data, where registers start at 0 and ``nil`` is never stored.
* Porcupine's etcd model reads ``nil`` as *the key is absent*: the register starts empty, and a read of ``nil`` is
  only legal while nothing has been written.  That is right for etcd, whose keys start absent, and it is strictly
  stronger: it catches a read of an absent key after a write was acknowledged.

histcheck picks ``absent`` when the initial value is ``nil`` and ``unknown`` otherwise; ``--nil-read`` overrides.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

from ..history import Call
from ..values import freeze, show
from .base import ANYTHING, Inconsistent, Model


_UNSEEN = object()


def _all_ints(values: tuple) -> bool:
    for v in values:
        if v.__class__ is not int:
            return False
    return True


class Register(Model):
    """A read/write register."""

    name = "register"
    operations = {
        "read": "read the value; the completion's :value is what was read (nil: see --nil-read)",
        "write": "write :value",
    }
    default_init = None

    def prepare(self, call: Call) -> Hashable | None:
        f = call.f
        if f == "read":
            if call.crashed:
                return None
            value = self.read_value(freeze(call.value))
            return None if value is ANYTHING else ("read", value)
        if f == "write":
            return ("write", freeze(call.value))
        return self.prepare_other(call)

    def prepare_other(self, call: Call) -> Hashable | None:
        raise self.reject(call, f"the operation {show(call.f)}", "read or write")

    def prepare_calls(self, calls: list[Call]) -> list[Hashable | None]:
        """``prepare`` of each call, each distinct (operation, status, value) worked out once.  Only values whose
        equality is their identity as EDN are remembered (integers, strings, nil, and tuples of integers):
        ``true == 1`` in Python, and a read of true is not a read of 1.  A subclass whose ``prepare`` reads more
        of a call than that should set ``prepare_calls = Model.prepare_calls``."""
        memo: dict[tuple, Hashable | None] = {}
        out = []
        prepare = self.prepare
        for call in calls:
            value = call.value
            cls = value.__class__
            if cls is int or cls is str or value is None or (cls is tuple and _all_ints(value)):
                key = (call.f, call.status, cls, value)
                op = memo.get(key, _UNSEEN)
                if op is _UNSEEN:
                    op = memo[key] = prepare(call)
            else:
                op = prepare(call)
            out.append(op)
        return out

    def step(self, state: Any, op: tuple) -> Any:
        kind = op[0]
        if kind == "read":
            if op[1] == state:
                return state
            return Inconsistent("can't read {} from register {}", op[1], state)
        if kind == "write":
            return op[1]
        return self.step_other(state, op)

    def step_other(self, state: Any, op: tuple) -> Any:
        raise ValueError(f"unknown register input {op!r}")

    def is_pure(self, op: tuple) -> bool:
        return op[0] == "read"

    def blind(self, op: tuple) -> bool:
        return op[0] == "write"

    def useless_if_crashed(self, inputs: list) -> Callable[[tuple], bool]:
        """A crashed write (or cas) whose new value no read and no cas ever expects: in the state it leaves, only
        writes succeed, and they succeed from any state, so leaving it out never loses a linearization."""
        observed = {op[1] for op in inputs if op[0] in ("read", "cas")}

        def useless(op: tuple) -> bool:
            if op[0] == "write":
                return op[1] not in observed
            if op[0] == "cas":
                return op[2] not in observed
            return False
        return useless


class CasRegister(Register):
    """A register with compare-and-set."""

    name = "cas-register"
    operations = dict(Register.operations, cas="if the value is `from`, set it to `to`; :value is [from to]")

    def prepare_other(self, call: Call) -> Hashable | None:
        if call.f != "cas":
            raise self.reject(call, f"the operation {show(call.f)}", "read, write or cas")
        value = call.value
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise self.reject(call, f"the cas value {show(value)}", "a pair [from to]")
        return ("cas", freeze(value[0]), freeze(value[1]))

    def step_other(self, state: Any, op: tuple) -> Any:
        if op[0] == "cas":
            if state == op[1]:
                return op[2]
            return Inconsistent("can't CAS {} from {} to {}", state, op[1], op[2])
        raise ValueError(f"unknown cas-register input {op!r}")
