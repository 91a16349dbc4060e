"""What Elle's transactional workloads share: transactions of micro-operations over a few hot keys, and how a
client without transactions of its own runs one.

Each operation is ``{:f :txn, :value [[W 3 17] [:r 4 nil] ...]}`` of 1 to ``max-txn-length`` micro-operations over
``key-count`` hot keys at a time, half reads and half writes (``W`` is the workload's write: ``:append`` or
``:w``).  Every written value is unique, so a read names the writes it saw, and a key that has taken
``max-writes-per-key`` writes is retired for a fresh one, as Elle's generators keep reads short.  The completion
fills in each read with what it saw.

A client with transactions of its own (``transaction(kind, mops)``: PostgreSQL's, one SQL transaction at the run's
``--isolation``) runs each one natively.  On the key-value interface a transaction is optimistic: one snapshot of
every key it touches (``read_many``), the micro-operations against it, then one ``multi_cas`` of the written keys
that requires every touched key to be unchanged; a conflict retries from the start, and after ``TRIES`` conflicts
the transaction fails (it changed nothing).  Read-only transactions are the snapshot alone.  On etcd both are
single txn requests, so the workloads expect strict serializability there.
"""
from __future__ import annotations

import random
import threading
from typing import Any

from histcheck.values import Keyword

from .base import Completion, Workload

TRIES = 8
READ = Keyword("r")


class TransactionWorkload(Workload):
    """Subclasses set ``name``, ``checker_name``, ``write`` (the write micro-operation's keyword) and say how a
    key's stored text becomes a value (``decode``), what a write does to it (``apply``), and how it is stored
    again (``encode``)."""

    write = Keyword("w")
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
        return f"{self.prefix}/{self.name}/{k}"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        mops = []
        with self._lock:
            for _ in range(rng.randint(1, self.max_txn_length)):
                k = rng.choice(self._active)
                if rng.random() < 0.5:
                    mops.append([READ, k, None])
                    continue
                self._next_value += 1
                mops.append([self.write, k, self._next_value])
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
        written = {k for f_, k, _ in value if f_ == self.write}
        for _ in range(TRIES):
            snapshot = client.read_many(touched)
            state = {k: self.decode(snapshot[name]) for k, name in names.items()}
            done = []
            for f_, k, v in value:
                if f_ == self.write:
                    state[k] = self.apply(state[k], v)
                    done.append([self.write, k, v])
                else:
                    done.append([READ, k, self.seen(state[k])])
            if not written:
                return "ok", done
            puts = {names[k]: self.encode(state[k]) for k in written}
            if client.multi_cas({name: snapshot[name] for name in touched}, puts):
                return "ok", done
        return "fail", value

    def decode(self, raw: str | None) -> Any:
        raise NotImplementedError

    def apply(self, current: Any, value: Any) -> Any:
        raise NotImplementedError

    def seen(self, current: Any) -> Any:
        """What a read of ``current`` returns (a copy, so later writes in the transaction do not change it)."""
        return current

    def encode(self, current: Any) -> str:
        raise NotImplementedError
