"""Jepsen's ``checker/unique-ids``: every ``:ok`` ``generate`` must return an id no other returned.

Keys as Jepsen's: ``attempted-count``, ``acknowledged-count``, ``duplicated-count``, ``duplicated`` (id -> how many
times it was returned, the most repeated first, at most 48 as Jepsen keeps) and ``range`` (lowest and highest id).
"""
from __future__ import annotations

from typing import Any

from ..checker.result import Anomaly, Result, op_summary
from ..history import History, Op
from ..values import freeze
from .base import client_invocations, take_options
from .set import sorted_elements

LIMIT = 48


class UniqueIds:
    """Jepsen's unique-ids checker."""

    name = "unique-ids"
    needs_process = False

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ())
        generates = [op for op in history.ops if op.f == "generate" and (op.is_client or op.process is None)]
        attempted = sum(1 for op in generates if op.type == "invoke")
        returned: dict[Any, list[Op]] = {}
        for op in generates:
            if op.type == "ok":
                returned.setdefault(freeze(op.value), []).append(op)
        dups = {k: ops for k, ops in returned.items() if len(ops) > 1}
        worst = sorted(dups, key=lambda k: len(dups[k]), reverse=True)[:LIMIT]
        ids = sorted_elements(returned)
        details = {"attempted-count": attempted, "acknowledged-count": sum(len(v) for v in returned.values()),
                   "duplicated-count": len(dups), "duplicated": {_key(k): len(dups[k]) for k in worst},
                   "range": [ids[0], ids[-1]] if ids else None}
        anomalies = [Anomaly("duplicated", [op_summary(op) for op in dups[k]], {"id": k, "times": len(dups[k])})
                     for k in worst]
        notes = [f"{details['acknowledged-count']} ids returned by {attempted} generate calls: "
                 f"{len(dups)} returned more than once"]
        return Result(not dups, self.name, ops=client_invocations(history), analyzer=self.name,
                      checker=self.name, anomalies=anomalies, details=details, notes=notes)


def _key(k: Any) -> Any:
    return k if isinstance(k, (int, str)) else repr(k)
