"""What a checker is, how several judge one history, and how one is chosen from the operations.

Jepsen's lesson: a checker is anything with ``check(history) -> result``, and a test composes as many as it likes.
Here a checker is any object with

* ``name``: how the registry and results.json call it (``set``, ``bank``, ``list-append``, ...);
* ``needs_process``: whether it pairs invocations with completions by process (a history of completed reads only,
  as elle-cli writes some, can be judged only by checkers that do not);
* ``check(history, **options) -> Result``: options are plain keyword values (strings from the CLI's
  ``--checker-option KEY=VALUE``); the checker converts them and raises ``InputError`` naming a bad one.

The protocol is structural: a plugin need not import this module.  ``compose`` runs several checkers on one
history and merges their verdicts as Jepsen's ``merge-valid`` does (invalid beats unknown beats valid), keeping
every sub-result.  ``infer`` names the checker a history's operations call for, with the reason, the way
``--model`` is inferred.  This module stays cheap to import: ``histcheck analyze`` reads it on every call.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from ..checker.result import UNKNOWN, Result, op_summary
from ..errors import InputError
from ..history import History, Op

__all__ = ["Checker", "ComposedResult", "Composed", "compose", "merge_valid", "infer", "Inference",
           "get", "check", "client_invocations", "anomaly_ops", "without_process"]


@runtime_checkable
class Checker(Protocol):
    """Anything that judges a history: a name, whether it needs processes, and ``check``."""

    name: str
    needs_process: bool

    def check(self, history: History, **options: Any) -> Result: ...


# -- validity -----------------------------------------------------------------------------------------------

_PRIORITY = {True: 0, UNKNOWN: 1, False: 2}


def merge_valid(valids: Iterable[Any]) -> Any:
    """Jepsen's merge-valid: the most serious verdict wins (False > "unknown" > True); no verdicts is True."""
    merged: Any = True
    for valid in valids:
        if valid not in _PRIORITY:
            raise ValueError(f"{valid!r} is not a verdict (True, False or 'unknown')")
        if _PRIORITY[valid] > _PRIORITY[merged]:
            merged = valid
    return merged


# -- composition --------------------------------------------------------------------------------------------

@dataclass
class ComposedResult(Result):
    """The result of several checkers on one history: the merged verdict, and every checker's own result under
    its name (results.json puts each at the top level under that name, as Jepsen's ``compose`` does)."""

    results: dict[str, Result] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.pop("anomalies", None)       # each sub-result lists its own; the merged kinds stay in anomaly-types
        for name, sub in self.results.items():
            data[name] = sub.to_dict()
        return data


class Composed:
    """Several checkers as one (Jepsen's ``checker/compose``); ``options`` are given to each in turn."""

    name = "compose"

    def __init__(self, checkers: Mapping[str, Any]) -> None:
        if not checkers:
            raise InputError("nothing to compose", expected="at least one checker")
        self.checkers = dict(checkers)
        self.needs_process = any(getattr(c, "needs_process", True) for c in self.checkers.values())

    def check(self, history: History, **options: Any) -> ComposedResult:
        """An option named after one of the checkers holds that checker's own options (a mapping); every other
        option is given to each checker."""
        started = time.monotonic()
        shared = {k: v for k, v in options.items() if k not in self.checkers}
        results = {name: checker.check(history, **{**shared, **dict(options.get(name) or {})})
                   for name, checker in self.checkers.items()}
        return merged_result(results, time.monotonic() - started)


def merged_result(results: Mapping[str, Result], seconds: float = 0.0) -> ComposedResult:
    """One result from several: verdict by merge-valid, anomalies gathered, the first unknown's cause kept."""
    valid = merge_valid(r.valid for r in results.values())
    cause = message = None
    if valid == UNKNOWN:
        first = next(r for r in results.values() if r.valid == UNKNOWN)
        cause, message = first.cause, first.cause_message
    names = "+".join(results)
    return ComposedResult(valid=valid, model=names, ops=max((r.ops for r in results.values()), default=0),
                          cause=cause, cause_message=message, analyzer="compose", seconds=seconds,
                          checker="compose", anomalies=[a for r in results.values() for a in r.anomalies],
                          notes=[f"{name}: {note}" for name, r in results.items() for note in r.notes],
                          results=dict(results))


def compose(checkers: Mapping[str, Any] | Sequence[Any]) -> Composed:
    """A checker running every one of ``checkers`` (a name -> checker map, or checkers named by their ``name``)."""
    if not isinstance(checkers, Mapping):
        checkers = {c.name: c for c in checkers}
    return Composed(checkers)


# -- lookup -------------------------------------------------------------------------------------------------

def get(name: str) -> Any:
    """The registered checker called ``name``, instantiated (checkers take no constructor arguments)."""
    from .. import registry
    obj = registry.get("checkers", name)
    return obj() if isinstance(obj, type) else obj


def check(history: History, checker: str | Any, **options: Any) -> Result:
    """Judge ``history`` with ``checker`` (a registered name or a checker object) and its options."""
    judge = get(checker) if isinstance(checker, str) else checker
    if getattr(judge, "needs_process", True):
        missing = without_process(history)
        if missing is not None:
            raise InputError(f"this operation has no :process, which the {judge.name} checker needs to pair "
                             f"invocations with completions", path=history.source, line=missing.line,
                             expected="a :process on every operation, or a checker that needs none "
                                      "(long-fork)")
    started = time.monotonic()
    result = judge.check(history, **options)
    if not result.seconds:
        result.seconds = time.monotonic() - started
    return result


def without_process(history: History) -> Op | None:
    """The first operation that names no process (elle-cli writes histories of completed reads only)."""
    for op in history.ops:
        if op.process is None:
            return op
    return None


# -- helpers shared by the checkers ----------------------------------------------------------------------------

def client_invocations(history: History) -> int:
    """How many client operations were invoked: the ``ops`` figure of a result."""
    return sum(1 for op in history.ops if op.type == "invoke" and op.is_client)


def anomaly_ops(*calls: Any) -> list[dict]:
    """The ``ops`` of an anomaly: each call or op as ``op_summary`` describes it (None entries skipped)."""
    return [op_summary(c) for c in calls if c is not None]


def take_options(checker: str, options: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The options, once every name is known to the checker (a typo is an input error listing the choices)."""
    allowed = sorted(known)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"the {checker} checker has no option {unknown[0]!r}",
                         expected="one of " + ", ".join(allowed) if allowed else "no options")
    return dict(options)


def int_option(checker: str, options: Mapping[str, Any], name: str, default: Any = None, *,
               minimum: int | None = None) -> Any:
    """An integer option (a string from the CLI, or an int from the API)."""
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InputError(f"option {name}={raw!r} of the {checker} checker is not an integer",
                         expected="an integer") from None
    if minimum is not None and value < minimum:
        raise InputError(f"option {name}={raw!r} of the {checker} checker is below {minimum}",
                         expected=f"an integer of at least {minimum}")
    return value


def choice_option(checker: str, options: Mapping[str, Any], name: str, choices: Mapping[Any, Any],
                  default: Any) -> Any:
    """An option whose text is one of ``choices`` (a map from what may be written to what it means)."""
    raw = options.get(name)
    if raw is None:
        return default
    key = raw.lower() if isinstance(raw, str) else raw
    if key not in choices:
        raise InputError(f"option {name}={raw!r} of the {checker} checker is not one of its choices",
                         expected="one of " + ", ".join(str(c) for c in choices if isinstance(c, str)))
    return choices[key]


BOOLEAN = {"true": True, "yes": True, "1": True, True: True, "false": False, "no": False, "0": False,
           False: False}


# -- inference ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Inference:
    """The checker a history calls for, and why (the sentence becomes the result's first note)."""

    checker: str
    reason: str

    def note(self) -> str:
        return f"checker {self.checker} inferred: {self.reason}"


MICRO_OPS = frozenset(("r", "w", "append"))
SAMPLE = 200          # ops whose values are looked at; inference must stay cheap on long histories


def infer(history: History, fs: Iterable[str] | None = None) -> Inference | None:
    """The checker the operations call for, or None when nothing but the linearizability models could fit.

    The rules, first match wins: transactions of ``[:append k v]``/``[:r k v]`` micro-ops are list-append, of
    ``[:r k v]``/``[:w k v]`` rw-register, and reads of micro-ops by ``:f :read`` (or
    transactions that only write one key each, once, or read groups of keys) long-fork; ``transfer`` with
    ``read`` (or reads only, of maps of numbers) is bank; ``generate`` is unique-ids; ``enqueue``/``dequeue``
    with ``drain`` is total-queue; ``add`` with reads of a collection is set (one read) or set-full (several);
    ``add`` with reads of a number, or adds of repeated numbers and no read, is counter; ``append`` and ``read``
    of ``[k v]`` is the append workload's checker.  Everything else is left to the linearizability models.
    ``fs`` is ``history.fs()`` when the caller has it (one pass over the history, not two); values are looked
    at in the first ``SAMPLE`` operations only.
    """
    fs = frozenset(history.fs() if fs is None else fs)
    if not fs:                              # only operations without a process (elle-cli's completed reads)
        fs = frozenset(str(op.f) for op in history.ops if op.process is None)
    txns = _micro_ops(history)
    if txns is not None:
        if txns.carriers <= {"read", "write"}:
            return Inference("long-fork", "operations :read and :write carry [:r k v]/[:w k v] micro-ops")
        if "append" in txns.mop_fs:
            return Inference("list-append", "transactions of :append and :r micro-ops")
        if txns.long_fork():
            return Inference("long-fork", "transactions that each write one key once or read a group of keys "
                                          "(Jepsen's long-fork workload)")
        return Inference("rw-register", "transactions of :r and :w micro-ops")
    if fs == {"transfer", "read"} or fs == {"transfer"}:
        return Inference("bank", "operations transfer and read")
    if fs == {"read"} and _reads_balances(history):
        return Inference("bank", "reads only, each of a map of numbers (account balances)")
    if fs == {"generate"}:
        return Inference("unique-ids", "operations generate")
    if "drain" in fs and fs <= {"enqueue", "dequeue", "drain"}:
        return Inference("total-queue", "operations enqueue, dequeue and drain")
    if fs == {"add", "read"}:
        return _add_read(history)
    if fs == {"append", "read"} and _keyed(history):
        return Inference("append", "operations append and read of [k v] per-key lists (the append workload)")
    if fs == {"add"}:
        return _adds_only(history)
    return None


@dataclass
class _Txns:
    """What the first valued operations say about transactions (micro-op names, the ``:f`` carrying them, and
    whether they look like Jepsen's long-fork workload: single writes of distinct keys, reads of groups)."""

    mop_fs: set = field(default_factory=set)
    carriers: set = field(default_factory=set)
    written: set = field(default_factory=set)
    long_fork_shape: bool = True
    group_reads: bool = False

    def add(self, f: Any, value: Any, invoke: bool) -> None:
        self.mop_fs.update(str(m[0]) for m in value)
        self.carriers.add("txn" if f is None else str(f))
        if len(value) == 1 and str(value[0][0]) == "w":
            key = repr(value[0][1])
            if invoke and key in self.written:
                self.long_fork_shape = False
            self.written.add(key)
        elif all(str(m[0]) == "r" for m in value):
            self.group_reads = self.group_reads or len(value) > 1
        else:
            self.long_fork_shape = False

    def long_fork(self) -> bool:
        return self.carriers <= {"read", "write"} or (self.long_fork_shape and self.group_reads
                                                       and bool(self.written))


def _micro_ops(history: History) -> _Txns | None:
    """The first valued operations' transactions, when they are transactions."""
    txns = _Txns()
    seen = 0
    for op in history.ops:
        if op.value is None or not (op.is_client or op.process is None):
            continue
        seen += 1
        if seen > SAMPLE:
            break
        value = op.value
        if not (isinstance(value, (tuple, list)) and value and all(_is_mop(m) for m in value)):
            if op.f in ("txn", None):
                return None
            continue
        txns.add(op.f, value, op.type == "invoke")
    return txns if txns.mop_fs else None


def _is_mop(m: Any) -> bool:
    return isinstance(m, (tuple, list)) and len(m) == 3 and isinstance(m[0], str) and str(m[0]) in MICRO_OPS


def _keyed(history: History) -> bool:
    values = [op.value for op in history.ops[:SAMPLE] if op.type == "invoke" and op.is_client]
    return bool(values) and all(isinstance(v, tuple) and len(v) == 2 for v in values)


def _reads_balances(history: History) -> bool:
    reads = [op.value for op in history.ops[:SAMPLE] if op.type == "ok" and op.f == "read"]
    return bool(reads) and all(isinstance(v, dict) and v and all(isinstance(b, (int, float)) and not
                                                                    isinstance(b, bool) for b in v.values())
                               for v in reads)


def _add_read(history: History) -> Inference:
    reads = [op.value for op in history.ops if op.f == "read" and op.type == "ok" and op.is_client]
    if reads and all(isinstance(v, int) and not isinstance(v, bool) for v in reads[:SAMPLE]):
        return Inference("counter", "operations add and read, and reads return numbers")
    if len(reads) > 1:
        return Inference("set-full", f"operations add and read, and {len(reads)} reads return collections "
                                     "(each read is judged)")
    return Inference("set", "operations add and one final read of a collection")


def _adds_only(history: History) -> Inference:
    values = [op.value for op in history.ops if op.f == "add" and op.type == "invoke" and op.is_client]
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if numbers and len(set(values)) < len(values):
        return Inference("counter", "operations add only, of repeated numbers (a set adds each element once)")
    return Inference("set", "operations add only, of distinct elements")
