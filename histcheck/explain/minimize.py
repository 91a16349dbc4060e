"""The minimal counterexample: shrink a failing history until every operation left is needed.

A checker that says "invalid at index 491" of a 590-event history still leaves a person to find which handful
of operations contradict each other.  Delta debugging (Zeller and Hildebrandt's ``ddmin``) does that search
mechanically: split the failing key's operations into chunks, drop a chunk or keep only one, ask the checker
whether what is left is still not linearizable, and refine until no single operation can be removed.

The unit removed is a whole *call*: an invocation together with its completion, so every trial is a well-formed
history, and every event keeps its original ``:index`` so the answer can be found in the original file.  Two
cheap steps run before ``ddmin`` proper: operations invoked after the failing operation completed cannot help
explain it and are cut, and calls that failed (``:fail``, which never took effect) are dropped together.

Each trial runs the real checker (``histcheck.check``, with its default engine), and results are cached by the set of
calls kept.  A trial the checker cannot decide (``unknown``) counts as "not rejected", so the answer is always a
history the checker rejects.  The search stops at a time budget; ``Counterexample.minimal`` says whether it
finished, in which case removing any one call makes the history linearizable (1-minimal).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..history import NO_KEY, Call, History, Op
from ..values import freeze, show, to_plain

Unit = tuple[Op, "Op | None"]
Checker = Callable[..., Any]


@dataclass
class Counterexample:
    """A small sub-history of the failing key that the checker still rejects."""

    key: Any
    ops: list[Op]
    calls: int
    original_calls: int
    checks: int
    seconds: float
    minimal: bool
    note: str = ""
    result: Any = None
    call_indexes: list[int] = field(default_factory=list)
    context: list[Op] = field(default_factory=list)

    def history(self) -> History:
        return History(list(self.ops), source="minimal counterexample")

    @property
    def indexes(self) -> list[int]:
        """The original ``:index`` of every event kept (invocations and completions)."""
        return [op.index for op in self.ops]

    def to_dict(self) -> dict[str, Any]:
        return {"key": to_plain(self.key), "calls": self.calls, "original_calls": self.original_calls,
                "minimal": self.minimal, "checks": self.checks, "seconds": round(self.seconds, 4),
                "note": self.note, "ops": [to_plain(op.to_dict()) for op in self.ops],
                "with_sources": [to_plain(op.to_dict()) for op in self.context]}

    def lines(self) -> list[str]:
        """The counterexample as EDN-ish lines a person can compare with the original file."""
        return [show_op(op) for op in self.ops]


def show_op(op: Op) -> str:
    """An event as Jepsen prints it: ``{:index 491, :type :ok, :process 70, :f :read, :value 0}``."""
    f = f":{op.f}" if isinstance(op.f, str) else show(op.f)
    process = show(op.process) if op.is_client else f":{op.process}"
    key = f", :key {show(op.extra['key'])}" if op.extra and "key" in op.extra else ""
    return f"{{:index {op.index}, :type :{op.type}, :process {process}, :f {f}{key}, :value {show(op.value)}}}"


def minimize(history: History, result: Any, *, model: Any = "cas-register", init: Any = None,
             budget: float = 10.0, check: Checker | None = None, **options: Any) -> Counterexample | None:
    """Shrink ``history`` to a 1-minimal sub-history of the failing key that ``check`` still rejects.

    ``result`` is the invalid ``Result`` of checking ``history``; returns None when it is not invalid.  ``budget`` bounds the
    whole search in seconds; ``options`` go to every trial check (``nil_read``, ``time_limit``...).  It first keeps
    only subsets rejected *at the same operation* (so the answer explains the reported failure), then makes sure
    no single call can be dropped at all.
    """
    if result is None or result.valid is not False or result.failure is None:
        return None
    check = check or _default_check()
    started = time.monotonic()
    deadline = started + budget
    key, units = failing_units(history, result.failure)
    index = (result.failure.op or {}).get("index")
    trial = _Trial(units, check, model, init, options, deadline)
    everything = list(range(len(units)))
    trial.seed(everything, result)  # the key's calls alone fail as the whole history did (P-compositionality)
    same_op = (lambda kept: trial.rejected_at(kept, index)) if trial.rejected_at(everything, index) else \
        trial.rejected
    start = _pre_shrink(units, result.failure, same_op, everything)
    kept, finished = ddmin(start, same_op, deadline)
    if finished:
        kept, finished = _strict(kept, trial.rejected, deadline)
    note = "" if finished else f"the time budget of {budget:g} s ran out: a smaller one may exist"
    return Counterexample(key=key, ops=_ops_of(units, kept), calls=len(kept), original_calls=len(units),
                          checks=trial.checks, seconds=time.monotonic() - started, minimal=finished, note=note,
                          result=trial.results.get(frozenset(kept)),
                          call_indexes=[units[i][0].index for i in kept],
                          context=_with_sources(units, start, kept, same_op, init, deadline))


def _with_sources(units: list[Unit], start: list[int], kept: list[int], same_op: Callable[[list[int]], bool],
                  init: Any, deadline: float) -> list[Op]:
    """A second, more telling counterexample for register-like histories: 1-minimal among those that keep, for
    every value read, an operation that wrote it (a lone "read of 4" is rejected, but says nothing about the
    write of 4 that the read should have been ordered after).  Empty when it would add nothing."""
    writers = _writers(units)
    if not writers or _sourced(units, kept, writers, init):
        return []
    needs = lambda sub: _sourced(units, sub, writers, init) and same_op(sub)  # noqa: E731
    if time.monotonic() > deadline or not needs(start):
        return []
    story, finished = ddmin(start, needs, deadline)
    return _ops_of(units, story) if finished and len(story) > len(kept) else []


_READ_FS = frozenset(("read", "get"))


def _writers(units: list[Unit]) -> dict[Any, set[int]]:
    """Which calls wrote each value (write/put of v, cas [old v]; appends under ``_APPENDS``), by call number."""
    out: dict[Any, set[int]] = {}
    for i, (inv, comp) in enumerate(units):
        if comp is not None and comp.type == "fail":
            continue
        f, value = str(inv.f), inv.value
        if f in ("write", "put"):
            out.setdefault(freeze(value), set()).add(i)
        elif f == "cas" and isinstance(value, tuple) and len(value) == 2:
            out.setdefault(freeze(value[1]), set()).add(i)
        if f in ("put", "append") and isinstance(value, str) and value:
            out.setdefault(_APPENDS, set()).add(i)
    return out


_APPENDS = object()  # the key of string puts and appends, whose values a read sees concatenated


def _sourced(units: list[Unit], kept: Sequence[int], writers: dict[Any, set[int]], init: Any) -> bool:
    chosen = set(kept)
    for i in kept:
        inv, comp = units[i]
        if str(inv.f) not in _READ_FS or comp is None or comp.type != "ok" or comp.value is None:
            continue
        value = freeze(comp.value)
        if value == freeze(init):
            continue
        if value in writers:
            if not writers[value] & chosen:
                return False
        elif isinstance(value, str) and _APPENDS in writers:
            if _covered(units, writers[_APPENDS], value) and not _covered(units, writers[_APPENDS] & chosen, value):
                return False
    return True


def _covered(units: list[Unit], calls: set[int], text: str) -> bool:
    """Whether the puts and appends in ``calls`` that occur in ``text`` add up to all of it."""
    return sum(len(units[i][0].value) for i in calls if units[i][0].value in text) >= len(text)


def _strict(kept: list[int], rejected: Callable[[list[int]], bool], deadline: float) -> tuple[list[int], bool]:
    """Make ``kept`` 1-minimal for plain rejection: if dropping one call still fails elsewhere, shrink on."""
    for i in kept:
        smaller = [j for j in kept if j != i]
        if smaller and rejected(smaller):
            return ddmin(smaller, rejected, deadline)
    return kept, True


def _default_check() -> Checker:
    import histcheck
    return histcheck.check


class _Trial:
    """Runs the checker on a subset of calls, with a cache and a count."""

    def __init__(self, units: list[Unit], check: Checker, model: Any, init: Any, options: dict,
                 deadline: float) -> None:
        self.units, self.check, self.model, self.init = units, check, model, init
        self.options, self.deadline = options, deadline
        self.cache: dict[frozenset, bool] = {}
        self.results: dict[frozenset, Any] = {}
        self.checks = 0

    def rejected(self, kept: Sequence[int]) -> bool:
        token = frozenset(kept)
        if token not in self.cache:
            self.checks += 1
            sub = History(_ops_of(self.units, kept), source="ddmin trial")
            options = dict(self.options)
            left = max(0.05, self.deadline - time.monotonic())  # no single trial may outlive the budget
            options["time_limit"] = min(options.get("time_limit") or left, left)
            try:
                res = self.check(sub, model=self.model, init=self.init, **options)
            except Exception:  # a trial the checker cannot read proves nothing
                res = None
            self.cache[token] = res is not None and res.valid is False
            if self.cache[token]:
                self.results[token] = res
        return self.cache[token]

    def seed(self, kept: Sequence[int], result: Any) -> None:
        """Record a verdict already known, so that the checker is not run again for it."""
        self.cache[frozenset(kept)] = result.valid is False
        self.results[frozenset(kept)] = result

    def rejected_at(self, kept: Sequence[int], index: Any) -> bool:
        """Rejected, and at the operation with this ``:index`` (the failure being explained)."""
        if not self.rejected(kept):
            return False
        failure = getattr(self.results[frozenset(kept)], "failure", None)
        return failure is not None and (failure.op or {}).get("index") == index


def _ops_of(units: list[Unit], kept: Sequence[int]) -> list[Op]:
    events: list[tuple[int, Op]] = []
    for i in kept:
        inv, comp = units[i]
        events.append((_pos(inv), inv))
        if comp is not None:
            events.append((_pos(comp), comp))
    events.sort(key=lambda e: e[0])
    return [op for _, op in events]


def _pos(op: Op) -> int:
    return getattr(op, "_pos", op.index)


# -- choosing the failing key's calls ----------------------------------------------------------------------------

def failing_units(history: History, failure: Any) -> tuple[Any, list[Unit]]:
    """The calls (invocation, completion) of the failing key, keys stripped from tuple values, in order."""
    calls = history.calls(include_failed=True)
    positions = {id(op): pos for pos, op in enumerate(history.ops)}
    style = history.key_style()
    if style is None:
        return failure.key, [_unit(c, positions, None) for c in calls]
    groups = history.split_keys(calls, style)
    key = _match_key(groups, failure.key)
    strip = style == "tuple"
    return key, [_unit(c, positions, c.value if strip else None) for c in groups.get(key, [])]


def _match_key(groups: dict, key: Any) -> Any:
    if key in groups:
        return key
    frozen = freeze(key)
    for k in groups:
        if k is not NO_KEY and (k == frozen or to_plain(k) == to_plain(key) or str(to_plain(k)) == str(key)):
            return k
    return next(iter(groups)) if len(groups) == 1 else key


def _unit(call: Call, positions: dict[int, int], inner: Any) -> Unit:
    inv, comp = call.invoke, call.complete
    if inner is not None or (call.key is not None and isinstance(inv.value, tuple)):
        inv = _copy(inv, _strip(inv.value))
        comp = _copy(comp, _strip(comp.value)) if comp is not None else None
    else:
        inv = _copy(inv, inv.value)
        comp = _copy(comp, comp.value) if comp is not None else None
    inv._pos = positions[id(call.invoke)]  # type: ignore[attr-defined]
    if comp is not None:
        comp._pos = positions[id(call.complete)]  # type: ignore[attr-defined]
    return inv, comp


def _strip(value: Any) -> Any:
    return value[1] if isinstance(value, tuple) and len(value) == 2 else value


class _PosOp(Op):
    """An ``Op`` that also remembers its position in the original history (for ordering trials)."""

    __slots__ = ("_pos",)


def _copy(op: Op, value: Any) -> _PosOp:
    return _PosOp(op.type, op.process, op.f, value, index=op.index, time=op.time, extra=op.extra, line=op.line)


# -- cheap first cuts ----------------------------------------------------------------------------------------------

def _pre_shrink(units: list[Unit], failure: Any, rejected: Callable[[list[int]], bool],
                kept: list[int]) -> list[int]:
    end = _failing_position(units, failure)
    if end is not None:
        before = [i for i in kept if _pos(units[i][0]) <= end]
        if len(before) < len(kept) and rejected(before):
            kept = before
    effective = [i for i in kept if units[i][1] is None or units[i][1].type != "fail"]
    if len(effective) < len(kept) and rejected(effective):
        kept = effective
    return kept


def _failing_position(units: list[Unit], failure: Any) -> int | None:
    index = (failure.op or {}).get("index")
    for inv, comp in units:
        if comp is not None and comp.index == index:
            return _pos(comp)
    for inv, _ in units:
        if inv.index == index:
            return _pos(inv)
    return None


# -- ddmin -------------------------------------------------------------------------------------------------------

def ddmin(items: list[int], rejected: Callable[[list[int]], bool], deadline: float) -> tuple[list[int], bool]:
    """Zeller's ddmin: a subset of ``items`` still ``rejected`` from which no single item can be removed.

    Returns the subset and whether the search finished (False when ``deadline`` passed first).
    """
    current, n = list(items), 2
    while len(current) >= 2:
        if time.monotonic() > deadline:
            return current, False
        chunks = _split(current, n)
        reduced = _reduce(current, chunks, n, rejected, deadline)
        if time.monotonic() > deadline:
            return (reduced[0] if reduced else current), False
        if reduced is None:
            if n >= len(current):
                return current, True
            n = min(len(current), 2 * n)
            continue
        current, n = reduced
    return current, True


def _reduce(current: list[int], chunks: list[list[int]], n: int, rejected: Callable[[list[int]], bool],
            deadline: float) -> tuple[list[int], int] | None:
    for chunk in chunks:
        if time.monotonic() > deadline:
            return None
        if len(chunk) < len(current) and rejected(chunk):
            return chunk, 2
    for chunk in chunks:
        if time.monotonic() > deadline:
            return None
        dropped = set(chunk)
        complement = [i for i in current if i not in dropped]
        if complement and rejected(complement):
            return complement, max(n - 1, 2)
    return None


def _split(items: list[int], n: int) -> list[list[int]]:
    n = min(n, len(items))
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks
