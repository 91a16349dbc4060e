"""``rw-register``: Elle's read-write register transactions, judged by the rw-register checker.

Each operation is a transaction ``{:f :txn, :value [[:w 3 17] [:r 4 nil] ...]}`` of 1 to ``max-txn-length``
micro-operations over a few hot keys (``key-count`` of them at a time), half reads and half writes; every written
value is unique (so a read names the one write it saw), and a key that has taken ``max-writes-per-key`` writes is
retired for a fresh one, whose first reads see nil again (every version follows nil: that is where the checker's
anti-dependencies come from when it does not assume that writes follow reads).  The completion fills in each
read with the value it saw.

A client with transactions of its own (``transaction(kind, mops)``: PostgreSQL's, one SQL transaction at the
run's ``--isolation``) runs each one natively.  On the key-value interface a transaction is optimistic, as in
``list-append``: one snapshot of every key it touches (``read_many``), the micro-operations against it, then one
``multi_cas`` of the written keys that requires every touched key to be unchanged; a conflict retries from the
start, and after ``TRIES`` conflicts the transaction fails (it changed nothing).
"""
from __future__ import annotations

import random
import threading
from typing import Any

from histcheck.values import Keyword

from .base import Completion, Workload

TRIES = 8
WRITE, READ = Keyword("w"), Keyword("r")


class RwRegister(Workload):
    name = "rw-register"
    checker_name = "rw-register"
    checker = "rw-register (Elle: dependency cycles between transactions, strict serializable)"
    reads: frozenset[str] = frozenset()

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.key_count = int(self.options.get("key-count", 3))
        self.max_txn_length = int(self.options.get("max-txn-length", 4))
        self.max_writes_per_key = int(self.options.get("max-writes-per-key", 32))
        self._lock = threading.Lock()
        self._active = list(range(self.key_count))
        self._next_key = self.key_count
        self._writes = {k: 0 for k in self._active}
        self._next_value = 0

    def key(self, k: int) -> str:
        return f"{self.prefix}/rw-register/{k}"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        mops = []
        with self._lock:
            for _ in range(rng.randint(1, self.max_txn_length)):
                k = rng.choice(self._active)
                if rng.random() < 0.5:
                    mops.append([READ, k, None])
                    continue
                self._next_value += 1
                mops.append([WRITE, k, self._next_value])
                self._writes[k] += 1
                if self._writes[k] >= self.max_writes_per_key:
                    self._active[self._active.index(k)] = self._next_key
                    self._writes[self._next_key] = 0
                    self._next_key += 1
        return "txn", mops

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        if hasattr(client, "transaction"):
            return "ok", client.transaction(self.name, value)
        names = {k: self.key(k) for _, k, _ in value}
        touched = sorted(set(names.values()))
        for _ in range(TRIES):
            snapshot = client.read_many(touched)
            registers = {k: None if snapshot[name] is None else int(snapshot[name]) for k, name in names.items()}
            done = []
            for f_, k, v in value:
                if f_ == WRITE:
                    registers[k] = v
                    done.append([WRITE, k, v])
                else:
                    done.append([READ, k, registers[k]])
            written = {k for f_, k, _ in value if f_ == WRITE}
            if not written:
                return "ok", done
            puts = {names[k]: str(registers[k]) for k in written}
            if client.multi_cas({name: snapshot[name] for name in touched}, puts):
                return "ok", done
        return "fail", value
