"""``list-append``: Elle's transactional workload, judged by the list-append checker.

Each operation is a transaction ``{:f :txn, :value [[:append 3 17] [:r 4 nil] ...]}`` of 1 to ``max-txn-length``
micro-operations over a few hot keys (``key-count`` of them at a time); every appended value is unique, and a key
that has taken ``max-writes-per-key`` appends is retired for a fresh one, so reads stay short, as Elle's generators
keep them.  The completion fills in each read with the list it saw.

On the key-value interface a transaction is optimistic: read every key it touches in one snapshot
(``read_many``), run the micro-operations against that snapshot, then commit the appended lists with one
``multi_cas`` that also requires every touched key to be unchanged; a conflict retries from the start, and after
``TRIES`` conflicts the transaction fails (it changed nothing).  Read-only transactions are the snapshot alone.
On etcd both are single txn requests, so the workload expects strict serializability: every run should be valid.
A client that has transactions of its own (``transaction(kind, mops)``: PostgreSQL's, one SQL transaction at the
run's ``--isolation``) runs each one natively instead; its errors follow the error rule like any client call.
"""
from __future__ import annotations

import json
import random
import threading
from typing import Any

from histcheck.checker.result import Result
from histcheck.history import History
from histcheck.values import Keyword

from .base import Completion, Workload

TRIES = 8
APPEND, READ = Keyword("append"), Keyword("r")


class ListAppend(Workload):
    name = "list-append"
    checker = "list-append (Elle: dependency cycles between transactions, strict serializable)"
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
        return f"{self.prefix}/list-append/{k}"

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        mops = []
        with self._lock:
            for _ in range(rng.randint(1, self.max_txn_length)):
                k = rng.choice(self._active)
                if rng.random() < 0.5:
                    mops.append([READ, k, None])
                    continue
                self._next_value += 1
                mops.append([APPEND, k, self._next_value])
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
        writes = any(m[0] == APPEND for m in value)
        for _ in range(TRIES):
            snapshot = client.read_many(sorted(set(names.values())))
            lists = {k: json.loads(raw) if raw is not None else [] for k, raw in
                     ((k, snapshot[name]) for k, name in names.items())}
            done = []
            for f_, k, v in value:
                if f_ == APPEND:
                    lists[k] = lists[k] + [v]
                    done.append([APPEND, k, v])
                else:
                    done.append([READ, k, list(lists[k])])
            if not writes:
                return "ok", done
            appended = {names[k] for f_, k, _ in value if f_ == APPEND}
            puts = {names[k]: json.dumps(lists[k]) for k in lists if names[k] in appended}
            if client.multi_cas({name: snapshot[name] for name in set(names.values())}, puts):
                return "ok", done
        return "fail", value

    def check(self, history: History) -> Result:
        from histcheck.checkers.elle.list_append import ListAppend as Checker
        return Checker().check(history)
