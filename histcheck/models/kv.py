"""A key-value store of strings, as in Porcupine's kv tests: ``put`` replaces, ``append`` concatenates, ``get``
returns the whole string.

Keys are named by a ``:key`` field on each operation (Porcupine's kv logs) or by Jepsen's independent ``[k v]``
values.  Each key is an independent object, so histcheck normally checks one key at a time
(P-compositionality); the model also works on all keys at once (``partition=False``), where its state is the
map of every key written so far.  Every key starts at the initial value, ``""`` by default.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Hashable

from ..history import Call
from ..values import freeze, show
from .base import Inconsistent, Model, Sentinel


#: The merged state of a key whose string no later ``get`` can return (see ``KV.abstraction``).
UNREAD = Sentinel("<a string no get returns>")


class KV(Model):
    name = "kv"
    operations = {
        "get": "read the key's string; :value is what was read",
        "put": "replace the key's string with :value",
        "append": "append :value to the key's string",
    }
    default_init = ""

    def init_state(self, init: Any) -> Hashable:
        if init is not None and not isinstance(init, str):
            raise ValueError(f"every key starts as a string, such as \"\", not {show(init)}")
        self.initial = "" if init is None else init
        return ()

    def prepare(self, call: Call) -> Hashable | None:
        key = call.key
        if key is None and call.invoke.extra:
            key = freeze(call.invoke.extra.get("key"))
        f = call.f
        if f == "get":
            if call.crashed or call.value is None:
                return None
            if not isinstance(call.value, str):
                raise self.reject(call, f"the value read {show(call.value)}", "a string")
            return ("get", key, call.value)
        if f in ("put", "append"):
            if not isinstance(call.value, str):
                raise self.reject(call, f"the value {show(call.value)}", "a string")
            return (f, key, call.value)
        raise self.reject(call, f"the operation {show(f)}", "get, put or append")

    def step(self, state: tuple, op: tuple) -> Any:
        f, key, value = op
        current = self.initial
        pos = -1
        for i, (k, v) in enumerate(state):
            if k == key:
                current, pos = v, i
                break
        if f == "get":
            if current == value:
                return state
            if current is UNREAD:
                return Inconsistent("can't get {} from key {}: it holds a string that is not a prefix of "
                                    "anything a get returns", value, key)
            return Inconsistent("can't get {} from key {}: it holds {}", value, key, current)
        if f == "put":
            new = value
        else:
            new = UNREAD if current is UNREAD else current + value
        if pos >= 0:
            return state[:pos] + ((key, new),) + state[pos + 1:]
        return tuple(sorted(state + ((key, new),), key=repr))

    def abstraction(self, inputs: list[Hashable]) -> Callable[[Hashable], Hashable] | None:
        """Merge every string that cannot be read again: appending only extends a string, so once a key holds a
        string that is not a prefix of any value a ``get`` of that key returns, no ``get`` can succeed until a
        ``put`` replaces it.  All such strings behave alike, and become the one state ``UNREAD``."""
        gets: dict[Any, list[str]] = {}
        for op in inputs:
            if op[0] == "get":
                gets.setdefault(op[1], []).append(op[2])
        sorted_gets = {k: sorted(set(v)) for k, v in gets.items()}
        empty: list[str] = []

        def readable(key: Any, s: str) -> bool:
            values = sorted_gets.get(key, empty)
            i = bisect_left(values, s)
            return i < len(values) and values[i].startswith(s)

        def canon(state: tuple) -> tuple:
            if all(v is UNREAD or readable(k, v) for k, v in state):
                return state
            return tuple((k, v if v is UNREAD or readable(k, v) else UNREAD) for k, v in state)
        return canon

    def footprint(self, op: tuple) -> Hashable:
        return op[1]

    def describe(self, state: tuple) -> str:
        if not state:
            return "{} (every key " + show(self.initial) + ")"
        return "{" + ", ".join(f"{show(k)} {show(v)}" for k, v in state) + "}"

    def is_pure(self, op: tuple) -> bool:
        return op[0] == "get"
