"""Jepsen's long-fork checker: reads of a group of keys must be totally ordered by what they saw.

The workload writes each key once (``[[:w k 1]]``) and reads groups of ``group-size`` keys in one transaction
(``[[:r 0 nil] [:r 1 nil] [:r 2 nil]]`` completing as ``[[:r 0 1] [:r 1 1] [:r 2 nil]]``).  Since a key goes from
nil to its one value, a read *dominates* another when it saw every write the other saw; under snapshot isolation
any two reads of one group are comparable.  Two reads each seeing a write the other missed are a *fork*
(parallel snapshot isolation allows it; SI and stronger do not).

As Jepsen does: only ``:ok`` transactions made of reads count, grouped by the set of keys they read; every group
must have ``group-size`` keys (the option; inferred from the reads when they all read as many keys); two writes to
one key make the result unknown (cause ``multiple-writes``), and two reads of different non-nil values for one key
too (cause ``distinct-values``), since the checker assumes one write per key.  Results keep Jepsen's keys
``reads-count``, ``early-read-count`` (reads that saw nothing), ``late-read-count`` (reads that saw everything)
and ``forks`` (pairs of reads).  Operations need no ``:process``: completed reads suffice.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

from ..checker.result import UNKNOWN, Anomaly, Result, op_summary
from ..errors import InputError
from ..history import History, Op
from ..values import freeze
from .base import client_invocations, int_option, take_options

LIMIT = 50


def micro_ops(op: Op) -> list[tuple]:
    value = op.value
    if not isinstance(value, (tuple, list)) or not all(isinstance(m, (tuple, list)) and len(m) == 3
                                                       for m in value):
        return []
    return [tuple(m) for m in value]


def is_read_txn(mops: list[tuple]) -> bool:
    return bool(mops) and all(str(m[0]) == "r" for m in mops)


def is_write_txn(mops: list[tuple]) -> bool:
    return len(mops) == 1 and str(mops[0][0]) == "w"


def compare(a: dict, b: dict) -> int | None:
    """-1 if ``a`` saw more, 1 if ``b`` did, 0 if the same, None if each saw a write the other missed.
    Raises ValueError naming the key when both saw different values for it."""
    result = 0
    for k, va in a.items():
        vb = b[k]
        if va == vb:
            continue
        if vb is None:
            if result > 0:
                return None
            result = -1
        elif va is None:
            if result < 0:
                return None
            result = 1
        else:
            raise ValueError(k)
    return result


class LongFork:
    """Jepsen's long-fork checker (option ``group-size``)."""

    name = "long-fork"
    needs_process = False

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ("group-size",))
        size = int_option(self.name, options, "group-size", minimum=1)
        ops = [op for op in history.ops if op.is_client or op.process is None]
        base = {"analyzer": self.name, "checker": self.name, "ops": client_invocations(history) or
                sum(1 for op in ops if op.type == "invoke")}
        written: dict[Any, Op] = {}
        for op in ops:
            mops = micro_ops(op)
            if op.type == "invoke" and is_write_txn(mops):
                key = freeze(mops[0][1])
                if key in written:
                    return Result(UNKNOWN, self.name, cause="multiple-writes",
                                  cause_message=f"key {key!r} is written twice (indexes {written[key].index} and "
                                                f"{op.index}); the checker assumes one write per key", **base)
                written[key] = op
        reads = [(op, {freeze(m[1]): m[2] for m in mops}) for op in ops
                 if op.type == "ok" and is_read_txn(mops := micro_ops(op))]
        notes = []
        if size is None and reads:
            sizes = {len(r) for _, r in reads}
            if len(sizes) > 1:
                raise InputError(f"reads cover {sorted(sizes)} keys, so the group size cannot be inferred",
                                 path=history.source, expected="--checker-option group-size=N")
            size = sizes.pop()
            notes.append(f"group size {size} inferred from the reads")
        groups: dict[frozenset, list[tuple[Op, dict]]] = {}
        for op, read in reads:
            if len(read) != size:
                raise InputError(f"this read observed {len(read)} keys, not the group size {size}",
                                 path=history.source, line=op.line, expected=f"reads of {size} keys each")
            groups.setdefault(frozenset(read), []).append((op, read))
        forks: list[tuple[Op, dict, Op, dict]] = []
        for members in groups.values():
            for (op_a, a), (op_b, b) in combinations(members, 2):
                try:
                    order = compare(a, b)
                except ValueError as exc:
                    return Result(UNKNOWN, self.name, cause="distinct-values",
                                  cause_message=f"the reads at indexes {op_a.index} and {op_b.index} saw different "
                                                f"values of key {exc.args[0]!r}; the checker assumes one write "
                                                f"per key", notes=notes, **base)
                if order is None:
                    forks.append((op_a, a, op_b, b))
        early = sum(1 for _, r in reads if all(v is None for v in r.values()))
        late = sum(1 for _, r in reads if all(v is not None for v in r.values()))
        anomalies = [Anomaly("long-fork", [op_summary(op_a), op_summary(op_b)], self._facts(a, b))
                     for op_a, a, op_b, b in forks[:LIMIT]]
        details = {"reads-count": len(reads), "early-read-count": early, "late-read-count": late,
                   "forks": [[op_summary(op_a), op_summary(op_b)] for op_a, _, op_b, _ in forks]}
        notes.append(f"{len(reads)} reads in {len(groups)} groups of {size} keys: {len(forks)} forks")
        return Result(not forks, self.name, anomalies=anomalies, details=details, notes=notes, **base)

    @staticmethod
    def _facts(a: dict, b: dict) -> dict:
        """Which writes each read saw that the other missed."""
        return {"first_only": sorted((k for k in a if a[k] is not None and b[k] is None), key=repr),
                "second_only": sorted((k for k in b if b[k] is not None and a[k] is None), key=repr)}

