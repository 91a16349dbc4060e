"""Checking a history: split it by key, search each key, and assemble one Result.

Linearizability is compositional (Herlihy and Wing's locality; Porcupine's P-compositionality): a history over
independent keys is linearizable exactly when each key's sub-history is.  So ``check`` pairs the history's events
into calls, groups them by key, asks the model for each call's input, and runs one search per key, smallest
first within the shared time budget.  The verdict is invalid if any key is invalid, unknown if any key gave up
(with the cause), valid otherwise.  For the first key that fails, ``failure.build_failure`` turns the search's
findings into the report described in ``result.py``.

Two engines run the same search: ``kernel`` (numba) and ``reference`` (plain Python, the specification the kernel
is tested against).  The default, ``auto``, picks one per key: the reference on small keys for as long as it has
spent less than starting the kernel costs (it decides a small history before numba would have finished
importing, so a small history never loads numpy or numba), the kernel for everything else (see ``_auto``).
"""
from __future__ import annotations

import os
import signal
import time
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator, Protocol

from ..errors import InputError
from ..gcpause import paused_gc
from ..history import NO_KEY, History
from ..models import Model, get as get_model
from .encode import Partition, make_partition
from .failure import build_failure, narrow_failure
from .reference import SearchOutcome, is_compositional, search_reference
from .result import UNKNOWN, KeyResult, Result

DEFAULT = object()
DEFAULT_MEMORY_LIMIT = 2 << 30

__all__ = ["check", "search_key", "KeySpread", "DEFAULT", "Result"]


class KeySpread(Protocol):
    """Where the keys' searches run when not in this process's threads (``histcheck.dask_backend``: a Dask
    cluster).  It appends ``(part, outcome, seconds)`` to ``outcomes`` in the order of ``parts``, each search
    calling ``search_key`` with the whole ``memory_limit``; on Ctrl-C it stops its searches and re-raises."""

    def search_keys(self, parts: list[Partition], m: Model, init_state: Any, *, engine: str,
                    deadline: float | None, memory_limit: int | None, outcomes: list) -> None: ...


def check(history: History, model: str | Model = "cas-register", init: Any = DEFAULT, *,
          time_limit: float | None = None, memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
          nil_read: str = "auto", partition: bool = True, engine: str = "auto",
          workers: int | None = None, spread: KeySpread | None = None) -> Result:
    """Decide whether ``history`` is linearizable for ``model`` starting from ``init``.

    ``init`` defaults to the model's own initial value; pass ``None`` for nil.  ``nil_read`` says what a read of
    nil means (``absent``, ``unknown``, or ``auto``: absent when the register starts at nil).  ``partition=False``
    checks all keys as one object.  The result is unknown, with its cause, when ``time_limit`` (seconds) or
    ``memory_limit`` (bytes, for the search's memo and tables, shared by the workers) is reached, or on Ctrl-C.
    ``workers`` threads search keys in parallel (the kernel releases the GIL); default: one per core when there
    are many keys; a ``spread`` runs them elsewhere instead (a Dask cluster).  ``engine`` is ``auto`` (by size,
    see ``_auto``), ``kernel`` or ``reference``.
    """
    with paused_gc():       # the calls, inputs and records a check makes hold no cycles (see gcpause)
        return _check(history, model, init, time_limit=time_limit, memory_limit=memory_limit,
                      nil_read=nil_read, partition=partition, engine=engine, workers=workers, spread=spread)


def _check(history: History, model: str | Model = "cas-register", init: Any = DEFAULT, *,
           time_limit: float | None = None, memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
           nil_read: str = "auto", partition: bool = True, engine: str = "kernel",
           workers: int | None = None, spread: KeySpread | None = None) -> Result:
    """The check itself, with the garbage collector paused (see ``check``)."""
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
    style = history.key_style()
    if not partition:
        if style == "tuple":
            raise InputError("this history's values are Jepsen independent [key value] pairs, which only a check "
                             "per key can read", path=history.source,
                             expected="--partition (the default), or a model that reads keys itself such as kv")
        style = None
    signature = m.signature()
    if signature is None:
        parts = _partitions(history, calls, style, m)
    else:         # the same history checked again with the same model: its calls are already grouped and prepared
        parts = list(history.derived(("partitions", signature, style), lambda: _partitions(history, calls, style, m)))
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if len(parts) >= PARALLEL_FROM_KEYS else 1
    workers = max(1, min(workers, len(parts)))
    budget = memory_limit // max(1, workers) if memory_limit is not None else None
    search = _engine(engine)
    cancel = Cancel()
    outcomes: list[tuple[Partition, SearchOutcome, float]] = []
    cause = None
    try:
        if spread is not None:
            spread.search_keys(parts, m, init_state, engine=engine, deadline=deadline, memory_limit=memory_limit,
                               outcomes=outcomes)
        else:
            runner = _run_parallel if workers > 1 else _run_serial
            runner(parts, lambda part: _timed(search, part, m, init_state, deadline, budget, cancel), outcomes,
                   workers, cancel)
    except KeyboardInterrupt:
        cancel.set()
        cause = "interrupted"
    outcomes = [(part, _narrowed(part, outcome, search, m, init_state, deadline, memory_limit, cancel), seconds)
                for part, outcome, seconds in outcomes]
    return _assemble(m, init_value, calls, parts, outcomes, cause, _analyzer(engine, outcomes), started, style)


PARALLEL_FROM_KEYS = 8


class Cancel:
    """Set once, to stop every search of a check at its next slice (Ctrl-C, or a failed worker): a flag, as
    cheap to make as a check of a tiny history needs (``threading.Event`` costs more than such a check's search)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


def _partitions(history: History, calls, style: str | None, m: Model) -> list[Partition]:
    """One partition per independent key, smallest first (cheap keys answer quickly under a time limit)."""
    parts = []
    for key, group in history.split_keys(calls, style).items():
        try:
            parts.append(make_partition(None if key is NO_KEY else key, group, m))
        except InputError as exc:
            raise exc.located(history.source) from None
    parts.sort(key=lambda p: len(p.calls))
    return parts


def _narrowed(part: Partition, outcome: SearchOutcome, search, m: Model, init_state, deadline, memory_limit,
              cancel) -> SearchOutcome:
    """A compositional search's failure, located by its footprints' own searches (``failure.narrow_failure``)."""
    if outcome.valid is not False or outcome.blame < 0 or cancel.is_set():
        return outcome
    return narrow_failure(part, outcome, search, m, init_state, deadline=deadline, memory_limit=memory_limit,
                          cancel=cancel)


def search_key(part: Partition, m: Model, init_state, *, engine: str = "auto", deadline: float | None = None,
               memory_limit: int | None = None, cancel=None) -> tuple[Partition, SearchOutcome, float]:
    """Search one key with ``engine`` (what a worker of a ``KeySpread`` runs): the key, its outcome, seconds."""
    return _timed(_engine(engine), part, m, init_state, deadline, memory_limit, cancel)


def _timed(search, part: Partition, m: Model, init_state, deadline, budget, cancel):
    t0 = time.monotonic()
    outcome = search(part, m, init_state, deadline=deadline, memory_limit=budget, cancel=cancel)
    return part, outcome, time.monotonic() - t0


def _run_serial(parts, job, outcomes: list, workers: int, cancel: "Cancel") -> None:
    for part in parts:
        outcomes.append(job(part))
        if outcomes[-1][1].cause == "time":
            return


def _run_parallel(parts, job, outcomes: list, workers: int, cancel: "Cancel") -> None:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="histcheck") as pool:
        futures = [pool.submit(job, part) for part in parts]
        try:
            for future in futures:
                outcomes.append(future.result())
        except BaseException:
            cancel.set()            # running searches stop at their next slice; leaving the pool waits for them
            for future in futures:
                future.cancel()
            raise


def _assemble(m: Model, init_value, calls, parts, outcomes, cause, analyzer: str, started: float,
              style: str | None) -> Result:
    """One verdict from the keys': invalid if any key is, unknown (with a cause) if any gave up, else valid."""
    results = [_key_result(part, outcome, seconds) for part, outcome, seconds in outcomes]
    failures = sorted(((o.fail_pos, i) for i, (_, o, _) in enumerate(outcomes) if o.valid is False))
    for _, outcome, _ in outcomes:
        if outcome.valid is None and cause is None:
            cause = outcome.cause
    valid: Any = True
    if failures:
        valid = False
    elif cause is not None or len(outcomes) < len(parts) or any(o.valid is None for _, o, _ in outcomes):
        valid = UNKNOWN
        cause = cause or "time"
    failure = None
    notes = _notes(m, style, parts)
    if failures:
        part, outcome, _ = outcomes[failures[0][1]]
        failure = build_failure(outcome.part or part, outcome, m)
        if outcome.cause is not None:     # a compositional failure whose keys' own searches ran out of budget
            notes.append(f"the one-object search found no linearization, but the keys' own searches ran out of "
                         f"{outcome.cause} while locating the failure: "
                         + ("an earlier failure on another key is possible" if outcome.fail_pos >= 0
                            else "the failing operation is unknown"))
    return Result(valid=valid, model=m.name, init=init_value, ops=len(calls),
                  cause=cause if valid == UNKNOWN else None, failure=failure, keys=results,
                  analyzer=analyzer, seconds=time.monotonic() - started, notes=notes)


ENGINES = ("auto", "kernel", "reference")

# ``auto`` rents before it buys (the ski-rental rule): starting the kernel costs about KERNEL_START seconds once per
# process (importing numpy and numba, loading the compiled kernels from numba's cache; measured on a quiet 2-core
# machine by benchmarks/startup.py), after which the kernel is the faster engine on all but the tiniest keys.  So
# until the kernel has started, a key of at most REFERENCE_CALLS calls goes to the reference, which may spend up to
# KERNEL_START seconds in all in this process; a key it has not decided within what is left (a small history with
# much concurrency, or one its Python memo cannot hold) goes to the kernel, and so does every key after that.  The
# process then never pays more than about twice what the better choice in hindsight would have cost, and a small
# history never loads numpy or numba.  The verdict and the failing operation are the same either way.  Bigger keys
# go straight to the kernel: past a thousand calls the reference seldom beats the kernel's start (Porcupine's kv
# c50 as one object, 1,712 and 2,024 calls: undecided after 5 s on the reference, 0.14-0.32 s on the kernel).
REFERENCE_CALLS = 1000
KERNEL_START = 0.3

_reference_spent = 0.0
_kernel_started = False
_lock = threading.Lock()


def _engine(name: str):
    if name == "auto":
        return _auto
    if name == "reference":
        return _run_reference
    if name == "kernel":
        return _kernel()
    raise InputError(f"unknown engine {name!r}", expected="one of " + ", ".join(ENGINES))


@contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C back until the block is done, then raise it.  A KeyboardInterrupt raised while numba compiles
    or loads a kernel lands in one of its ctypes callbacks, which swallows it and leaves that kernel broken for the
    process (and possibly its on-disk cache), so the kernels are loaded under this, once, when the engine starts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        if callable(previous):
            previous(signal.SIGINT, None)
        raise KeyboardInterrupt


def _run_reference(part, m, init_state, *, deadline=None, memory_limit=None, cancel=None) -> SearchOutcome:
    return search_reference(part, m, init_state, deadline=deadline, cancel=cancel, memory_limit=memory_limit)


_run_kernel = None


def _kernel():
    """The kernel engine; importing it (once) imports numpy and numba."""
    global _run_kernel
    if _run_kernel is not None:
        return _run_kernel
    from .compose import search_split_kernel, warm_up_split
    from .search import search_kernel, warm_up

    with interrupt_deferred():      # numba loads, or compiles, each kernel on its first call: do it now, whole
        warm_up()
        warm_up_split()

    def run_kernel(part, m, init_state, **options) -> SearchOutcome:
        global _kernel_started
        _kernel_started = True
        if is_compositional(part):
            return search_split_kernel(part, m, init_state, **options)
        return search_kernel(part, m, init_state, **options)
    _run_kernel = run_kernel
    return run_kernel


def _auto(part, m, init_state, *, deadline=None, memory_limit=None, cancel=None) -> SearchOutcome:
    """The reference while renting is cheaper than starting the kernel (see KERNEL_START); the kernel otherwise."""
    global _reference_spent
    rent = KERNEL_START - _reference_spent
    if not _kernel_started and rent > 0 and len(part.calls) <= REFERENCE_CALLS:
        started = time.monotonic()
        until = started + rent if deadline is None else min(started + rent, deadline)
        outcome = search_reference(part, m, init_state, deadline=until, cancel=cancel, memory_limit=memory_limit)
        with _lock:
            _reference_spent += time.monotonic() - started
        if outcome.valid is not None or outcome.cause == "interrupted" or \
                (deadline is not None and time.monotonic() > deadline):
            return outcome
    return _kernel()(part, m, init_state, deadline=deadline, memory_limit=memory_limit, cancel=cancel)


def _analyzer(engine: str, outcomes) -> str:
    """``wgl-kernel`` or ``wgl-reference``; under ``auto``, the engines the keys were decided by."""
    if engine != "auto":
        return f"wgl-{engine}"
    used = sorted({o.engine.split("-")[0] for _, o, _ in outcomes}) or ["reference"]
    return "wgl-" + "+".join(used)


def _key_result(part, outcome: SearchOutcome, seconds: float) -> KeyResult:
    valid = UNKNOWN if outcome.valid is None else outcome.valid
    return KeyResult(key=part.key, valid=valid, ops=len(part.all_calls), cause=outcome.cause,
                     states=outcome.states, explored=outcome.explored, seconds=seconds, analyzer=outcome.engine)


def _notes(m: Model, style: str | None, parts) -> list[str]:
    notes = []
    if style is not None and len(parts) > 1:
        notes.append(f"checked {len(parts)} independent keys separately ({style} keys)")
    for part in parts:
        if is_compositional(part):
            notes.append(f"checked as one object over {len(set(part.footprints))} keys, each dead end charged to "
                         "one key (compositional search)")
    if hasattr(m, "nil_read") and m.name in ("register", "cas-register", "multi-register"):
        notes.append(f"a read of nil means the value is {m.nil_read}")
    return notes
