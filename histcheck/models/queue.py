"""Queues: ``enqueue`` adds a value, ``dequeue`` takes one out and returns it.

``fifo-queue`` must hand values out in the order they went in; ``unordered-queue`` may hand them out in any order
but never invents or duplicates one.  A dequeue that crashed may or may not have taken the head, so it is checked
as "took whatever was at the head" when it is linearized at all.
"""
from __future__ import annotations

from typing import Any, Hashable

from ..history import Call
from ..values import freeze, show
from .base import ANYTHING, Inconsistent, Model


class FifoQueue(Model):
    name = "fifo-queue"
    operations = {"enqueue": "add :value at the tail", "dequeue": "take the head; :value is what was taken"}
    default_init = ()

    def init_state(self, init: Any) -> Hashable:
        return tuple(freeze(v) for v in (init or ()))

    def prepare(self, call: Call) -> Hashable | None:
        if call.f == "enqueue":
            return ("enqueue", freeze(call.value))
        if call.f == "dequeue":
            if call.crashed or call.value is None:
                return ("dequeue", ANYTHING)
            return ("dequeue", freeze(call.value))
        raise self.reject(call, f"the operation {show(call.f)}", "enqueue or dequeue")

    def step(self, state: tuple, op: tuple) -> Any:
        if op[0] == "enqueue":
            return state + (op[1],)
        if not state:
            return Inconsistent("can't dequeue from an empty queue")
        if op[1] is ANYTHING or state[0] == op[1]:
            return state[1:]
        return Inconsistent("can't dequeue {} from queue {}: the head is {}", op[1], state, state[0])


class UnorderedQueue(FifoQueue):
    name = "unordered-queue"
    operations = {"enqueue": "add :value", "dequeue": "take any one value; :value is what was taken"}

    def init_state(self, init: Any) -> Hashable:
        return tuple(sorted((freeze(v) for v in (init or ())), key=repr))

    def prepare(self, call: Call) -> Hashable | None:
        # Taking a value out never helps a later operation succeed in an unordered queue, so the best
        # linearization never includes a crashed dequeue: drop it.
        if call.f == "dequeue" and (call.crashed or call.value is None):
            return None
        return super().prepare(call)

    def step(self, state: tuple, op: tuple) -> Any:
        if op[0] == "enqueue":
            return tuple(sorted(state + (op[1],), key=repr))
        if not state:
            return Inconsistent("can't dequeue from an empty queue")
        if op[1] is ANYTHING:
            return state[1:]
        if op[1] in state:
            items = list(state)
            items.remove(op[1])
            return tuple(items)
        return Inconsistent("can't dequeue {}: the queue holds {}", op[1], state)
