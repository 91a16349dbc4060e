"""A mutex (lock): ``acquire`` takes it if free, ``release`` gives it back if held.

The model does not track *who* holds the lock, as Knossos's does not: a lock service that lets two clients hold
the lock at once already shows up as two acquires with no release between them.
"""
from __future__ import annotations

from typing import Any, Hashable

from ..history import Call
from ..values import show
from .base import Inconsistent, Model


class Mutex(Model):
    name = "mutex"
    operations = {"acquire": "take the lock; fails if it is held", "release": "give the lock back"}
    default_init = False

    def init_state(self, init: Any) -> Hashable:
        if init in (None, False, "free", 0):
            return False
        if init in (True, "held", 1):
            return True
        raise ValueError(f"a mutex starts free (false) or held (true), not {show(init)}")

    def prepare(self, call: Call) -> Hashable | None:
        if call.f in ("acquire", "release"):
            return (call.f,)
        raise self.reject(call, f"the operation {show(call.f)}", "acquire or release")

    def step(self, state: bool, op: tuple) -> Any:
        if op[0] == "acquire":
            return True if not state else Inconsistent("can't acquire a mutex that is held")
        return False if state else Inconsistent("can't release a mutex that is free")

    def describe(self, state: bool) -> str:
        return "held" if state else "free"
