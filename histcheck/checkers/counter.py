"""Jepsen's ``checker/counter``: a counter starting at 0, ``add`` of non-negative amounts, ``read`` of its value.

At every read the value must lie between the sum of the adds acknowledged before the read was invoked (the
*lower* bound: they certainly took effect) and the sum of every add invoked before the read completed, except
those that failed (the *upper* bound: they may have).  Failed adds never count; crashed ones (``:info``) may.
Jepsen's keys: ``reads`` and ``errors`` are lists of ``[lower value upper]``.  Decrements are not allowed: the
bounds assume the counter only grows.
"""
from __future__ import annotations

from typing import Any

from ..checker.result import Anomaly, Result
from ..errors import InputError
from ..history import History
from .base import anomaly_ops, client_invocations, take_options

LIMIT = 50


class Counter:
    """Jepsen's counter checker: every read within [acknowledged, attempted] at its time."""

    name = "counter"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ())
        calls = history.calls(include_failed=True)
        failed = {c.call_pos for c in calls if c.status == "fail"}
        by_invoke = {c.call_pos: c for c in calls}
        by_return = {int(c.return_pos): c for c in calls if c.status in ("ok", "fail")}
        lower = upper = 0
        pending: dict[Any, int] = {}
        reads: list[list[int]] = []
        anomalies: list[Anomaly] = []
        errors: list[list[int]] = []
        for pos, op in enumerate(history.ops):
            if not op.is_client or pos in failed:
                continue
            if op.f == "add" and op.type == "invoke":
                upper += self._amount(by_invoke[pos], history)
            elif op.f == "add" and op.type == "ok":
                lower += self._amount(by_return[pos], history)
            elif op.f == "read" and op.type == "invoke":
                pending[op.process] = lower
            elif op.f == "read" and op.type == "ok":
                low = pending.pop(op.process, 0)
                read = [low, op.value, upper]
                reads.append(read)
                if not (isinstance(op.value, int) and low <= op.value <= upper):
                    errors.append(read)
                    if len(anomalies) < LIMIT:
                        anomalies.append(Anomaly("out-of-bounds", anomaly_ops(by_return[pos]),
                                                 {"lower": low, "value": op.value, "upper": upper,
                                                  "read_index": op.index}))
        notes = [f"{len(reads)} reads checked; acknowledged total {lower}, attempted total {upper}"]
        return Result(not errors, self.name, ops=client_invocations(history), analyzer=self.name,
                      checker=self.name, anomalies=anomalies, notes=notes,
                      details={"reads": reads, "errors": errors})

    @staticmethod
    def _amount(call: Any, history: History) -> int:
        """The add's amount (the invocation's, as Jepsen pairs completions with their invocations)."""
        value = call.invoke.value
        if value is None and call.complete is not None:
            value = call.complete.value
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InputError(f"the counter checker needs adds of non-negative integers, not {value!r}",
                             path=history.source, line=call.invoke.line,
                             expected="an :add of a number >= 0 (decrements break the bounds)")
        return value
