"""Jepsen's ``checker/set``: adds of unique elements, then one final read of the whole set.

Judged against the last ``:ok`` read (Jepsen's definitions, key names as Jepsen spells them):

* ``lost``: acknowledged (``:ok``) adds absent from the final read;
* ``unexpected``: elements in the final read that no add ever attempted;
* ``recovered``: elements of the final read whose add was not acknowledged (``:info`` or never completed), which
  is allowed: such an add may have taken effect;
* ``ok``: elements of the final read that some add attempted.

Valid iff nothing is lost and nothing unexpected.  No completed read at all is unknown with cause
``no-final-read``: nothing can be said about what the set holds.
"""
from __future__ import annotations

from typing import Any

from ..checker.result import UNKNOWN, Anomaly, Result, op_summary
from ..errors import InputError
from ..history import Call, History
from ..values import freeze
from .base import client_invocations, take_options

LIMIT = 50          # anomalies listed per kind; the details keep every element


def sorted_elements(elements: Any) -> list:
    """Elements in order (mixed types ordered by their text), for lists a person can scan."""
    items = list(elements)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def element_ops(*calls: Call | None) -> list[dict]:
    """The operations of an anomaly, reads without their elements (a read of the whole set, repeated in every
    anomaly, would make results.json as long as the set times the anomalies): ``elements`` counts them."""
    out = []
    for call in calls:
        if call is None:
            continue
        summary = op_summary(call)
        if call.f == "read" and isinstance(summary.get("value"), list):
            summary["elements"] = len(summary.pop("value"))
        out.append(summary)
    return out


def read_elements(call: Call, path: str | None, checker: str) -> list:
    """A read's elements as hashable values; a read of something that is not a collection is bad input."""
    value = call.value
    if value is None:
        return []
    if isinstance(value, (dict, str)) or not hasattr(value, "__iter__"):
        raise InputError(f"the {checker} checker needs reads of a collection, but this read returned "
                         f"{value!r}", path=path, line=call.complete.line if call.complete else None,
                         expected="a vector or set of elements, e.g. [1 2 3]")
    return [freeze(v) for v in value]


class SetChecker:
    """Jepsen's set checker: lost, unexpected and recovered elements of one final read."""

    name = "set"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ())
        calls = history.calls(include_failed=True)
        attempts: dict[Any, Call] = {}
        acknowledged: dict[Any, Call] = {}
        final: Call | None = None
        for call in calls:
            if call.f == "add":
                element = freeze(call.invoke.value)
                attempts.setdefault(element, call)
                if call.status == "ok":
                    acknowledged.setdefault(element, call)
            elif call.f == "read" and call.status == "ok":
                if final is None or call.return_pos > final.return_pos:
                    final = call
        ops = client_invocations(history)
        if final is None:
            return Result(UNKNOWN, self.name, ops=ops, analyzer=self.name, checker=self.name,
                          cause="no-final-read",
                          cause_message=f"no read of the set completed ok, so whether the {len(acknowledged)} "
                                        f"acknowledged adds survived cannot be told; run a final read",
                          details={"attempt-count": len(attempts), "acknowledged-count": len(acknowledged)})
        read = set(read_elements(final, history.source, self.name))
        ok = read & set(attempts)
        unexpected = read - set(attempts)
        lost = set(acknowledged) - read
        recovered = ok - set(acknowledged)
        lost_list, unexpected_list = sorted_elements(lost), sorted_elements(unexpected)
        anomalies = [Anomaly("lost", element_ops(acknowledged[e], final),
                             {"element": e, "read_index": final.index, "add_index": acknowledged[e].index})
                     for e in lost_list[:LIMIT]]
        anomalies += [Anomaly("unexpected", element_ops(final), {"element": e, "read_index": final.index})
                      for e in unexpected_list[:LIMIT]]
        details = {"attempt-count": len(attempts), "acknowledged-count": len(acknowledged), "ok-count": len(ok),
                   "lost-count": len(lost), "recovered-count": len(recovered),
                   "unexpected-count": len(unexpected), "ok": sorted_elements(ok), "lost": lost_list,
                   "unexpected": unexpected_list, "recovered": sorted_elements(recovered)}
        notes = [f"{len(acknowledged)} acknowledged adds, {len(read)} elements in the final read at index "
                 f"{final.index}: lost {len(lost)}, unexpected {len(unexpected)}, recovered {len(recovered)}"]
        notes += capped(lost, unexpected) + shape_notes(attempts, read)
        return Result(not lost and not unexpected, self.name, ops=ops, analyzer=self.name, checker=self.name,
                      anomalies=anomalies, details=details, notes=notes)


def shape_notes(attempted: Any, read: Any) -> list[str]:
    """A note when every element added is a ``[k v]`` pair but the reads hold none: the history may be of
    independent keys, which a plain set checker compares as whole pairs (so every pair is lost)."""
    attempted, read = list(attempted), list(read)
    if attempted and read and all(isinstance(e, tuple) and len(e) == 2 for e in attempted) \
            and not any(isinstance(e, tuple) for e in read):
        return ["every element added is a [k v] pair but no read returns pairs: elements are compared whole, "
                "as Jepsen does, so none of the pairs is found in the reads"]
    return []


def capped(*groups: set) -> list[str]:
    """A note when some anomalies were left out of the list (every element stays in the details)."""
    if any(len(g) > LIMIT for g in groups):
        return [f"at most {LIMIT} anomalies of each kind are listed; the lost/unexpected lists hold them all"]
    return []
