"""Small transaction histories written by hand for the Elle checkers' tests."""
from __future__ import annotations

from histcheck.history import History, history_from_dicts
from histcheck.values import Keyword

A, R, W = Keyword("append"), Keyword("r"), Keyword("w")


def _invoke_value(mops):
    return [[f, k, None if f == R else v] for f, k, v in mops]


def txns(*specs, concurrent: bool = True) -> History:
    """A history of transactions ``(process, mops)`` or ``(process, mops, status)``.

    ``concurrent``: every transaction is invoked before any completes (no real-time order between them);
    otherwise each completes before the next is invoked, in the order given.
    """
    specs = [s if len(s) == 3 else (s[0], s[1], "ok") for s in specs]
    invokes = [{"type": "invoke", "process": p, "f": Keyword("txn"), "value": _invoke_value(m)} for p, m, _ in specs]
    completes = []
    for p, m, status in specs:
        if status == "open":
            completes.append(None)
            continue
        value = [list(x) for x in m] if status == "ok" else _invoke_value(m)
        completes.append({"type": status, "process": p, "f": Keyword("txn"), "value": value})
    if concurrent:
        events = invokes + [c for c in completes if c is not None]
    else:
        events = []
        for i, c in zip(invokes, completes):
            events.append(i)
            if c is not None:
                events.append(c)
    for n, e in enumerate(events):
        e["index"] = n
    return history_from_dicts(events, source="test")


def sequence(*groups) -> History:
    """Groups of concurrent transactions, each group completing before the next is invoked."""
    events = []
    for group in groups:
        h = txns(*group, concurrent=True)
        events.extend(op.to_dict() for op in h.ops)
    for n, e in enumerate(events):
        e["index"] = n
    return history_from_dicts(events, source="test")
