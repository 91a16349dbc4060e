"""Which lane of the timeline each process is drawn in: one lane per worker, as Jepsen's timeline draws them.

A Jepsen test (and ``histcheck run``) has ``concurrency`` workers; worker ``w`` starts as process ``w`` and, each
time an operation crashes (``:info``), goes on as process ``p + concurrency``.  So ``process mod concurrency`` is
the worker, and a ``partition,kill`` run with hundreds of retired processes still has five lanes, each listing
the processes it held.

The concurrency is the test's own when it was recorded (``test.json``'s ``options.concurrency`` beside the history
file, as the store keeps it); otherwise it is inferred: the smallest count, from the most processes ever open at
once upwards, for which no two processes of one lane were ever active at the same time (a worker runs one process
at a time).  When no count fits (a history whose processes are not numbered this way) every process has a lane.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..history import History

MAX_TRIED = 1024  # worker counts past this are not tried (a lane per process then)


@dataclass
class Lanes:
    """Lane of every client process, the processes each lane held (in order of first use), and where the
    concurrency came from (``test.json``, ``inferred`` or ``one lane per process``)."""

    concurrency: int | None
    source: str
    lane_of: dict[Any, int] = field(default_factory=dict)
    held: list[list[Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.held)


def recorded_concurrency(history: History) -> int | None:
    """``options.concurrency`` of the ``test.json`` beside the history file, when there is one."""
    if not history.source:
        return None
    path = Path(history.source).with_name("test.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value = (data.get("options") or {}).get("concurrency", data.get("concurrency"))
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def activity(history: History) -> dict[Any, tuple[int, int]]:
    """First and last position at which each client process appears."""
    spans: dict[Any, list[int]] = {}
    for pos, op in enumerate(history.ops):
        if op.is_client:
            got = spans.get(op.process)
            if got is None:
                spans[op.process] = [pos, pos]
            else:
                got[1] = pos
    return {p: (a, b) for p, (a, b) in spans.items()}


def most_open(history: History) -> int:
    """The most client processes with an operation open at one moment (invoked, not yet completed)."""
    open_: set = set()
    best = 0
    for op in history.ops:
        if not op.is_client:
            continue
        if op.type == "invoke":
            open_.add(op.process)
            best = max(best, len(open_))
        else:
            open_.discard(op.process)
    return best


def fits(spans: dict[Any, tuple[int, int]], concurrency: int) -> bool:
    """Whether every lane of ``process mod concurrency`` holds processes active one after another."""
    by_lane: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, span in spans.items():
        by_lane[p % concurrency].append(span)
    for spans_ in by_lane.values():
        spans_.sort()
        if any(b[0] <= a[1] for a, b in zip(spans_, spans_[1:])):
            return False
    return True


def infer_concurrency(history: History, spans: dict[Any, tuple[int, int]] | None = None) -> int | None:
    """The smallest worker count that explains the process ids (see the module docstring), or None."""
    spans = activity(history) if spans is None else spans
    if not spans or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in spans):
        return None
    low = max(1, most_open(history))
    for c in range(low, min(len(spans), MAX_TRIED) + 1):
        if fits(spans, c):
            return c
    return None


def worker_lanes(history: History) -> Lanes:
    """The lanes of ``history``'s client processes (see the module docstring)."""
    spans = activity(history)
    recorded = recorded_concurrency(history)
    concurrency, source = None, "one lane per process"
    integral = all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in spans)
    if recorded is not None and integral:
        concurrency, source = recorded, "test.json"
    elif integral:
        concurrency = infer_concurrency(history, spans)
        source = "inferred" if concurrency is not None else source
    order = sorted(spans, key=lambda p: (spans[p][0], str(p)))
    if concurrency is None:
        ranked = sorted(spans, key=lambda p: (str(type(p)), p))
        return Lanes(None, source, {p: i for i, p in enumerate(ranked)}, [[p] for p in ranked])
    workers = sorted({p % concurrency for p in spans})
    index = {w: i for i, w in enumerate(workers)}
    held: list[list[Any]] = [[] for _ in workers]
    lane_of = {}
    for p in order:
        lane_of[p] = index[p % concurrency]
        held[lane_of[p]].append(p)
    return Lanes(concurrency, source, lane_of, held)
