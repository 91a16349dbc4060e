"""``append``: per-key lists that only grow; reads must agree on one order and keep every acknowledged append.

``{:f :append, :value [k e]}`` appends a unique element to key ``k``'s list with a compare-and-set loop;
``{:f :read, :value [k nil]}`` completes with ``[k [e1 e2 ...]]``.  The checker (a list-append check in the spirit
of Elle's, per key and without transactions): every read of a key is a prefix of the longest read of it, no
element appears twice or without an append, and every append acknowledged before a read was invoked is in that
read.
"""
from __future__ import annotations

import itertools
import json
import random
import threading
from typing import Any

from histcheck.checker.result import Result
from histcheck.history import History

from .base import Completion, Workload

TRIES = 8


class Append(Workload):
    name = "append"
    checker_name = "append"
    checker = "list-append (per key: reads are prefixes of one order, acknowledged appends never lost)"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.keys = int(self.options.get("keys", 4))
        self._next = itertools.count()
        self._lock = threading.Lock()

    def key(self, k: int) -> str:
        return f"{self.prefix}/append/{k}"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        k = rng.randrange(self.keys)
        if rng.random() < 0.4:
            return "read", (k, None)
        with self._lock:
            return "append", (k, next(self._next))

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        k, element = value
        if f == "read":
            raw = client.read(self.key(k))
            return "ok", (k, json.loads(raw) if raw is not None else [])
        for _ in range(TRIES):
            raw = client.read(self.key(k))
            items = json.loads(raw) if raw is not None else []
            if client.cas(self.key(k), raw, json.dumps(items + [element])):
                return "ok", value
        return "fail", value

    def final_ops(self) -> list[tuple[str, Any]]:
        return [("read", (k, None)) for k in range(self.keys)]



class AppendChecker:
    """The append workload's checker, registered as ``append`` so that ``histcheck analyze`` re-judges its runs."""

    name = "append"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        from histcheck.checkers.base import take_options
        take_options(self.name, options, ())
        return check_append(history)


def check_append(history: History) -> Result:
    errors: list[str] = []
    appended: dict[Any, set] = {}
    acked: list[tuple[int, Any, Any]] = []  # (completion position, key, element)
    reads: list[tuple[int, int, Any, list]] = []  # (invoke position, index, key, list)
    invoked_at: dict[Any, int] = {}
    for pos, op in enumerate(history):
        if not op.is_client:
            continue
        k = op.value[0] if isinstance(op.value, (tuple, list)) else None
        if op.type == "invoke":
            invoked_at[op.process] = pos
            if op.f == "append":
                appended.setdefault(k, set()).add(op.value[1])
        elif op.type == "ok" and op.f == "append":
            acked.append((pos, k, op.value[1]))
        elif op.type == "ok" and op.f == "read":
            reads.append((invoked_at.get(op.process, pos), op.index, k, list(op.value[1])))
    longest: dict[Any, list] = {}
    for _, index, k, items in reads:
        if len(items) != len(set(items)):
            errors.append(f"read of key {k} at index {index} has a duplicate element: {items}")
        if set(items) - appended.get(k, set()):
            errors.append(f"read of key {k} at index {index} has elements never appended: {items}")
        if len(items) >= len(longest.get(k, [])):
            longest[k] = items
    for _, index, k, items in reads:
        if longest[k][:len(items)] != items:
            errors.append(f"read of key {k} at index {index} ({items}) is not a prefix of {longest[k]}")
    for start, index, k, items in reads:
        missing = [e for pos, key, e in acked if key == k and pos < start and e not in items]
        if missing:
            errors.append(f"read of key {k} at index {index} misses acknowledged appends {missing[:10]}")
    notes = [f"{len(reads)} reads and {len(acked)} acknowledged appends checked"] + errors[:20]
    ops = sum(1 for op in history if op.is_client and op.type == "invoke")
    return Result(not errors, "append", ops=ops, analyzer="append", checker="append", notes=notes)
