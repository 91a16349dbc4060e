"""Jepsen's queue checkers: ``queue`` (every dequeue came from somewhere) and ``total-queue`` (what goes in comes
out).

``queue`` walks the history in order as Jepsen's does with an unordered queue: every ``enqueue`` that was invoked
is assumed to have happened (only a ``:fail`` rules it out), every ``:ok`` ``dequeue`` removes its value, and a
dequeue of a value not in the queue at that point is invalid (``unexpected`` when no enqueue of it was ever
invoked, ``duplicated`` when it was, but fewer times than it has been dequeued).  Valid results carry
``final-queue``.

``total-queue`` counts instead, as multisets: ``attempt-count`` (enqueues invoked), ``acknowledged-count``
(enqueues ok), ``ok-count`` (dequeues of attempted values); ``lost`` (acknowledged, never dequeued),
``unexpected`` (dequeued, never attempted), ``duplicated`` (dequeued more often than attempted) and ``recovered``
(dequeued though the enqueue was not acknowledged).  Valid iff nothing is lost or unexpected, as in Jepsen;
duplicates are reported beside.  A ``drain`` that completes ``:ok`` with a list counts as one dequeue per element;
a crashed drain cannot be read and is bad input.  Both only hold if the history drains the queue at the end.
"""
from __future__ import annotations

from collections import Counter as Multiset
from typing import Any

from ..checker.result import Anomaly, Result, op_summary
from ..errors import InputError
from ..history import History, Op
from ..values import freeze
from .base import client_invocations, take_options
from .set import LIMIT, sorted_elements


def dequeued(history: History) -> list[tuple[Op, Any]]:
    """Every value taken out, in order: ok dequeues (an empty one, value nil, takes nothing) and ok drains."""
    out = []
    for op in history.ops:
        if not (op.is_client or op.process is None) or op.type == "invoke":
            continue
        if op.f == "dequeue" and op.type == "ok" and op.value is not None:
            out.append((op, freeze(op.value)))
        elif op.f == "drain":
            if op.type == "info":
                raise InputError("a drain crashed, so which elements it took cannot be known",
                                 path=history.source, line=op.line, expected="drains that complete :ok or :fail")
            if op.type == "ok":
                out.extend((op, freeze(v)) for v in (op.value or ()))
    return out


def _listing(multiset: Multiset) -> list:
    return sorted_elements(multiset.elements())


class Queue:
    """Jepsen's queue checker with an unordered queue: every dequeue must come from an enqueue."""

    name = "queue"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ())
        failed = {c.call_pos for c in history.calls(include_failed=True) if c.status == "fail"}
        taken: dict[int, list] = {}
        for op, value in dequeued(history):
            taken.setdefault(id(op), []).append(value)
        queue: Multiset = Multiset()
        attempted: Multiset = Multiset()
        for pos, op in enumerate(history.ops):
            if op.f == "enqueue" and op.type == "invoke" and op.is_client and pos not in failed:
                queue[freeze(op.value)] += 1
                attempted[freeze(op.value)] += 1
            for value in taken.get(id(op), ()):
                if queue[value] > 0:
                    queue[value] -= 1
                    continue
                kind = "duplicated" if attempted[value] else "unexpected"
                return Result(False, self.name, ops=client_invocations(history), analyzer=self.name,
                              checker=self.name,
                              anomalies=[Anomaly(kind, [op_summary(op)], {"element": value,
                                                                          "enqueued": attempted[value]})],
                              details={"error": f"can't dequeue {value!r}: not in the queue at index {op.index}"})
        return Result(True, self.name, ops=client_invocations(history), analyzer=self.name, checker=self.name,
                      details={"final-queue": _listing(+queue)})


class TotalQueue:
    """Jepsen's total-queue checker: lost, unexpected, duplicated and recovered elements."""

    name = "total-queue"
    needs_process = False

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ())
        attempts: Multiset = Multiset()
        enqueues: Multiset = Multiset()
        first: dict[Any, Op] = {}
        for op in history.ops:
            if op.f == "enqueue" and (op.is_client or op.process is None):
                if op.type == "invoke":
                    attempts[freeze(op.value)] += 1
                elif op.type == "ok":
                    enqueues[freeze(op.value)] += 1
                    first.setdefault(freeze(op.value), op)
        outs = dequeued(history)
        dequeues = Multiset(v for _, v in outs)
        where = {}
        for op, v in outs:
            where.setdefault(v, op)
        ok = dequeues & attempts
        unexpected = Multiset({v: n for v, n in dequeues.items() if v not in attempts})
        duplicated = dequeues - attempts - unexpected
        lost = enqueues - dequeues
        recovered = ok - enqueues
        anomalies = [Anomaly("lost", [op_summary(first[v])], {"element": v, "times": n})
                     for v, n in sorted(lost.items(), key=lambda kv: repr(kv[0]))[:LIMIT]]
        anomalies += [Anomaly(kind, [op_summary(where[v])], {"element": v, "times": n})
                      for kind, group in (("unexpected", unexpected), ("duplicated", duplicated))
                      for v, n in sorted(group.items(), key=lambda kv: repr(kv[0]))[:LIMIT]]
        details = {"attempt-count": sum(attempts.values()), "acknowledged-count": sum(enqueues.values()),
                   "ok-count": sum(ok.values()), "unexpected-count": sum(unexpected.values()),
                   "duplicated-count": sum(duplicated.values()), "lost-count": sum(lost.values()),
                   "recovered-count": sum(recovered.values()), "lost": _listing(lost),
                   "unexpected": _listing(unexpected), "duplicated": _listing(duplicated),
                   "recovered": _listing(recovered)}
        notes = [f"{details['acknowledged-count']} acknowledged enqueues, {sum(dequeues.values())} dequeued: lost "
                 f"{details['lost-count']}, unexpected {details['unexpected-count']}, duplicated "
                 f"{details['duplicated-count']}"]
        return Result(not lost and not unexpected, self.name, ops=client_invocations(history),
                      analyzer=self.name, checker=self.name, anomalies=anomalies, details=details, notes=notes)
