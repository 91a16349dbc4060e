"""``rw-register``: Elle's read-write register transactions, judged by the rw-register checker.

Transactions of ``[:w k v]`` and ``[:r k nil]`` micro-operations (``transactions.py`` says how they are made and
run); each key holds one integer.  Every written value is unique, so a read names the one write it saw, and a
retired key's successor starts at nil again: every version follows nil, which is where the checker's
anti-dependencies come from when it does not assume that writes follow reads.
"""
from __future__ import annotations

from typing import Any

from histcheck.values import Keyword

from .transactions import TransactionWorkload

WRITE = Keyword("w")


class RwRegister(TransactionWorkload):
    name = "rw-register"
    checker_name = "rw-register"
    checker = "rw-register (Elle: dependency cycles between transactions, strict serializable)"
    write = WRITE

    def decode(self, raw: str | None) -> int | None:
        return None if raw is None else int(raw)

    def apply(self, current: int | None, value: Any) -> int:
        return value

    def encode(self, current: int | None) -> str:
        return str(current)
