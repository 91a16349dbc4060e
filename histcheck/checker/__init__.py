"""Checking a history: split it by key, search each key, and assemble one Result.

Linearizability is compositional (Herlihy and Wing's locality; Porcupine's P-compositionality): a history over
independent keys is linearizable exactly when each key's sub-history is.  So ``check`` pairs the history's events
into calls, groups them by key, asks the model for each call's input, and runs one search per key, smallest
first within the shared time budget.  The verdict is invalid if any key is invalid, unknown if any key gave up
(with the cause), valid otherwise.  For the first key that fails, ``failure.build_failure`` turns the search's
findings into the report described in ``result.py``.

Two engines run the same search: ``kernel`` (numba, the default) and ``reference`` (plain Python, the
specification the kernel is tested against).
"""
from __future__ import annotations

import time
from typing import Any

from ..errors import InputError
from ..history import NO_KEY, History
from ..models import Model, get as get_model
from .encode import make_partition
from .failure import build_failure
from .reference import SearchOutcome, search_reference
from .result import UNKNOWN, KeyResult, Result

DEFAULT = object()
DEFAULT_MEMORY_LIMIT = 2 << 30

__all__ = ["check", "DEFAULT", "Result"]


def check(history: History, model: str | Model = "cas-register", init: Any = DEFAULT, *,
          time_limit: float | None = None, memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
          nil_read: str = "auto", partition: bool = True, engine: str = "kernel") -> Result:
    """Decide whether ``history`` is linearizable for ``model`` starting from ``init``.

    ``init`` defaults to the model's own initial value; pass ``None`` for nil.  ``nil_read`` says what a read of
    nil means (``absent``, ``unknown``, or ``auto``: absent when the register starts at nil).  ``partition=False``
    checks all keys as one object.  The result is unknown, with its cause, when ``time_limit`` (seconds) or
    ``memory_limit`` (bytes, for the search's memo and tables) is reached, or on Ctrl-C.
    """
    started = time.monotonic()
    deadline = started + time_limit if time_limit is not None else None
    base = get_model(model)
    init_value = base.default_init if init is DEFAULT else init
    m = base.configure(nil_read=nil_read, init=init_value)
    try:
        init_state = m.init_state(init_value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad initial value for {m.name}: {exc}") from None
    calls = history.calls()
    style = history.key_style() if partition else None
    groups = history.split_keys(calls, style)
    for group in groups.values():
        for call in group:
            _locate(history, call)
    parts = []
    for key, group in groups.items():
        try:
            parts.append(make_partition(None if key is NO_KEY else key, group, m))
        except InputError as exc:
            raise exc.located(history.source) from None
    parts.sort(key=lambda p: len(p.calls))
    search = _engine(engine)
    results: list[KeyResult] = []
    failures = []
    cause = None
    try:
        for part in parts:
            t0 = time.monotonic()
            outcome = search(part, m, init_state, deadline=deadline, memory_limit=memory_limit)
            results.append(_key_result(part, outcome, time.monotonic() - t0))
            if outcome.valid is None:
                cause = cause or outcome.cause
                if outcome.cause == "time":
                    break
            elif outcome.valid is False:
                failures.append((outcome.fail_pos, part, outcome))
    except KeyboardInterrupt:
        cause = "interrupted"
    valid: Any = True
    if failures:
        valid = False
    elif cause is not None or len(results) < len(parts):
        valid = UNKNOWN
        cause = cause or "time"
    failure = None
    if failures:
        failures.sort(key=lambda f: f[0])
        _, part, outcome = failures[0]
        failure = build_failure(part, outcome, m)
    order = {id(p): i for i, p in enumerate(parts)}
    del order
    return Result(valid=valid, model=m.name, init=init_value, ops=len(calls), cause=cause if valid == UNKNOWN
                  else None, failure=failure, keys=results, analyzer=f"wgl-{engine}",
                  seconds=time.monotonic() - started, notes=_notes(m, style, parts))


def _engine(name: str):
    if name == "reference":
        def run(part, m, init_state, *, deadline=None, memory_limit=None) -> SearchOutcome:
            return search_reference(part, m, init_state, deadline=deadline)
        return run
    if name == "kernel":
        from .search import search_kernel
        return search_kernel
    raise InputError(f"unknown engine {name!r}", expected="kernel or reference")


def _key_result(part, outcome: SearchOutcome, seconds: float) -> KeyResult:
    valid = UNKNOWN if outcome.valid is None else outcome.valid
    return KeyResult(key=part.key, valid=valid, ops=len(part.all_calls), cause=outcome.cause,
                     states=outcome.states, explored=outcome.explored, seconds=seconds, analyzer=outcome.engine)


def _locate(history: History, call) -> None:
    """Calls remember no path; errors raised while preparing them get the history's source."""
    return None


def _notes(m: Model, style: str | None, parts) -> list[str]:
    notes = []
    if style is not None and len(parts) > 1:
        notes.append(f"checked {len(parts)} independent keys separately ({style} keys)")
    if hasattr(m, "nil_read") and m.name in ("register", "cas-register", "multi-register"):
        notes.append(f"a read of nil means the value is {m.nil_read}")
    return notes
