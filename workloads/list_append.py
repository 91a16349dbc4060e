"""``list-append``: Elle's transactional workload, judged by the list-append checker.

Transactions of ``[:append k v]`` and ``[:r k nil]`` micro-operations (``transactions.py`` says how they are made
and run); each key holds a list, stored as JSON text on the key-value interface, and every appended value is
unique, so the checker recovers each key's version order from the longest read.
"""
from __future__ import annotations

import json
from typing import Any

from histcheck.values import Keyword

from .transactions import TransactionWorkload

APPEND = Keyword("append")


class ListAppend(TransactionWorkload):
    name = "list-append"
    checker_name = "list-append"
    checker = "list-append (Elle: dependency cycles between transactions, strict serializable)"
    write = APPEND

    def decode(self, raw: str | None) -> list:
        return json.loads(raw) if raw is not None else []

    def apply(self, current: list, value: Any) -> list:
        return current + [value]

    def seen(self, current: list) -> list:
        return list(current)

    def encode(self, current: list) -> str:
        return json.dumps(current)
