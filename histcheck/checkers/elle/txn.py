"""Transactions as the Elle checkers read them: one record per ``:txn`` call, its micro-operations normalised.

A history's calls become ``Txn`` records numbered from 0 in invocation order (the number is the vertex of the
dependency graph).  ``:ok`` transactions took effect with the values they returned; ``:fail`` ones did not (they are
kept, because reading what a failed transaction wrote is an anomaly, G1a); ``:info`` and never-completed ones may
have taken effect, so their writes are possible but their reads unknown (their value is the invocation's).
Micro-operations are ``(f, key, value)`` triples with ``f`` a plain string (``append``, ``r``, ``w``): EDN keywords
and JSON strings read alike, and keys are frozen so that ``[1 2]`` keys can index dicts.
"""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import HistoryError
from ...history import Call, History
from ...values import Keyword, freeze

TXN_FS = (None, "txn")


class Txn:
    """One transaction: its call, its status (``ok``, ``info``, ``fail``) and its micro-operations."""

    __slots__ = ("id", "call", "status", "mops")

    def __init__(self, id: int, call: Call, status: str, mops: tuple) -> None:
        self.id = id
        self.call = call
        self.status = status
        self.mops = mops

    @property
    def process(self) -> Any:
        return self.call.process

    @property
    def index(self) -> int:
        return self.call.index

    def __repr__(self) -> str:
        return f"Txn({self.id}, {self.status}, index {self.index}, {self.mops!r})"


def read_txns(history: History, allowed: Sequence[str]) -> list[Txn]:
    """Every client call of ``history`` as a Txn (failed ones included), checking each micro-operation's shape.

    A call whose ``f`` is not ``:txn`` (or absent, as in Elle's own example files), or a micro-operation that is not
    ``[f key value]`` with ``f`` among ``allowed``, is bad input naming the line: these checkers cannot say anything
    about an operation they cannot read.
    """
    txns: list[Txn] = []
    allowed_set = frozenset(allowed)
    for call in history.calls(include_failed=True):
        if call.f not in TXN_FS:
            raise HistoryError(f"operation {call.f} of process {call.process} is not a transaction",
                               path=history.source, line=call.invoke.line,
                               expected=":f :txn with a value like [[:append 1 2] [:r 1 nil]]")
        status = "info" if call.status == "open" else call.status
        value = call.value if status == "ok" else call.invoke.value
        txns.append(Txn(len(txns), call, status, _mops(value, call, history.source, allowed_set)))
    return txns


def _mops(value: Any, call: Call, source: str | None, allowed: frozenset) -> tuple:
    op = call.complete if call.status == "ok" else call.invoke
    if not isinstance(value, (tuple, list)):
        raise HistoryError(f"transaction of process {call.process} has value {value!r}", path=source,
                           line=op.line if op is not None else None,
                           expected="a vector of micro-operations [f key value]")
    out = []
    for mop in value:
        if not (isinstance(mop, (tuple, list)) and len(mop) == 3 and str(mop[0]) in allowed):
            raise HistoryError(f"micro-operation {mop!r} of process {call.process} cannot be read",
                               path=source, line=op.line if op is not None else None,
                               expected="[f key value] with f one of " + ", ".join(f":{a}" for a in sorted(allowed)))
        f, k, v = mop
        # Parsed histories hold tuples of atoms already; only lists (histories built in Python) need freezing.
        if k.__class__ not in _ATOMS:
            k = freeze(k)
        if v.__class__ is not tuple and v.__class__ not in _ATOMS:
            v = freeze(v)
        out.append((_F.get(f) or str.__str__(f), k, v))
    return tuple(out)


_ATOMS = frozenset((int, str, Keyword, type(None)))
_F = {name: name for name in ("append", "r", "w")}
