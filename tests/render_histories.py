"""Histories built for the rendering tests: a set run that lost some adds, a list-append run with one write skew."""
from __future__ import annotations

import random

from histcheck.history import History, Op, history_from_dicts
from histcheck.values import Keyword

A, R = Keyword("append"), Keyword("r")


def lost_set(n_adds: int = 60, lost: tuple = (7, 19, 23), processes: int = 5, seed: int = 3) -> History:
    """Adds of 0..n_adds-1 by ``processes`` overlapping processes, all acknowledged, then one final read that
    misses the elements ``lost``."""
    rng = random.Random(seed)
    ops: list[Op] = []
    pending: dict[int, int] = {}
    for element in range(n_adds):
        p = rng.randrange(processes)
        if p in pending:
            ops.append(Op("ok", p, "add", pending.pop(p), index=len(ops)))
        ops.append(Op("invoke", p, "add", element, index=len(ops)))
        pending[p] = element
    for p, element in sorted(pending.items()):
        ops.append(Op("ok", p, "add", element, index=len(ops)))
    read = tuple(e for e in range(n_adds) if e not in lost)
    ops.append(Op("invoke", 0, "read", None, index=len(ops)))
    ops.append(Op("ok", 0, "read", read, index=len(ops)))
    return History(ops, source="lost-set.edn")


def write_skew_list_append(before: int = 30, after: int = 30, keys: int = 4, seed: int = 5) -> History:
    """Serial list-append transactions (each reads one key and appends a unique value to another, seeing every
    earlier append), with one concurrent pair in the middle that each read the key the other appends to before
    either append: G2-item (write skew), and nothing else."""
    rng = random.Random(seed)
    state: dict[int, list[int]] = {k: [] for k in range(keys)}
    events: list[dict] = []
    counter = iter(range(1, 10 ** 6))

    def serial(p: int) -> None:
        r, a = rng.sample(range(keys), 2)
        v = next(counter)
        events.append(_txn("invoke", p, [[R, r, None], [A, a, v]]))
        events.append(_txn("ok", p, [[R, r, list(state[r])], [A, a, v]]))
        state[a].append(v)

    for n in range(before):
        serial(n % 3)
    v1, v2 = next(counter), next(counter)
    events.append(_txn("invoke", 3, [[R, 0, None], [A, 1, v1]]))
    events.append(_txn("invoke", 4, [[R, 1, None], [A, 0, v2]]))
    events.append(_txn("ok", 3, [[R, 0, list(state[0])], [A, 1, v1]]))
    events.append(_txn("ok", 4, [[R, 1, list(state[1])], [A, 0, v2]]))
    state[1].append(v1)
    state[0].append(v2)
    for n in range(after):
        serial(n % 3)
    events.append(_txn("invoke", 0, [[R, k, None] for k in range(keys)]))
    events.append(_txn("ok", 0, [[R, k, list(state[k])] for k in range(keys)]))
    for i, e in enumerate(events):
        e["index"] = i
    return history_from_dicts(events, source="write-skew.edn")


def _txn(kind: str, p: int, value: list) -> dict:
    return {"type": kind, "process": p, "f": Keyword("txn"), "value": value}
