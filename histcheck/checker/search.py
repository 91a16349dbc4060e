"""Driving the numba kernel: allocate its arrays, answer its requests, enforce the budgets.

The kernel (``kernel.py``) returns to this loop whenever it needs something only Python can do: a transition
table row for a state it has just discovered (the model is Python code), a bigger memo, or a check of the clock.
This is where ``time_limit`` and the memory cap turn into an ``unknown`` result with its cause, instead of a
search that runs forever or a process the kernel's allocations would get killed.
"""
from __future__ import annotations

import time
from typing import Callable, Hashable

import numpy as np

from ..models.base import Model
from . import kernel as K
from .cut import FIRST_AFTER, Cutter, reachable_states
from .encode import Columns, Partition, StateTable, TableTooLarge, make_entries, prefilled_table
from .reference import SearchOutcome

SLICE_STEPS = 1 << 19
INITIAL_MEMO = 1 << 10


class MemoryBudget(Exception):
    """Raised inside the driver when the search would exceed its memory cap."""


class _Arrays:
    """The kernel's working set for one search (stacks and arena are written before they are read, so they
    start uninitialised; the slot index and the bitset must start empty).

    Bits are laid out for the kernel's windowed memo records: ok calls first, in call order, then crashed calls
    from the next word on (``bitpos``); ``full`` holds each ok word's value when all its calls are linearized."""

    def __init__(self, n: int, entries, stuck_limit: int) -> None:
        E = len(entries.ent_call)
        n_ok = entries.n_ok
        self.OKW = (n_ok + 63) // 64
        self.W = max(1, self.OKW + (n - n_ok + 63) // 64)
        self.bitpos = np.arange(n, dtype=np.int64)
        if n_ok < n:        # crashed calls move to the words after the ok calls
            ok_before = np.cumsum(entries.is_ok, dtype=np.int64) - entries.is_ok
            self.bitpos = np.where(entries.is_ok == 1, ok_before, self.OKW * 64 + self.bitpos - ok_before)
        self.full = np.empty(max(self.OKW, 1), np.uint64)
        self.full.fill(_ALL_ONES)
        if n_ok % 64:
            self.full[self.OKW - 1] = (1 << (n_ok % 64)) - 1
        self.nxt, self.prv = K.linked_list(E)
        size = max(n, 1)
        self.zob = zobrist_keys(size)
        self.bits = np.zeros(self.W + 1, np.uint64)        # the bitset, and the hash register after it
        self.bits, self.hreg = self.bits[:-1], self.bits[-1:]
        # the six stacks of the kernel in one block: one allocation instead of six (small searches are many)
        (self.stack_e, self.stack_s, self.best, self.crash_stack, self.stack_since,
         self.stack_phase) = np.empty((6, size), np.int32)
        self.memo = Memo(min(self.W, 4), initial=min(INITIAL_MEMO, max(64, 1 << (4 * size).bit_length())))
        self._call_at: np.ndarray | None = None      # bit position -> call, made when a report needs it
        self.stuck_state = np.empty(stuck_limit, np.int32)
        self.stuck_bits = np.empty(stuck_limit * self.W, np.uint64)
        self.regs = np.zeros(K.N_REGS, np.int64)
        self.regs[K.R_E] = self.nxt[E]
        self.regs[K.R_FAILPOS] = -1
        self.regs[K.R_W] = self.W
        self.regs[K.R_OKW] = self.OKW
        self.regs[K.R_HI] = -1
        self.regs[K.R_NOK] = entries.n_ok

    def calls_of(self, words: np.ndarray) -> frozenset:
        """The call numbers whose bits are set in ``words`` (a bitset in this layout)."""
        if self._call_at is None:
            self._call_at = bit_owners(self.bitpos, self.W)
        return calls_in(words, self._call_at)


class Memo:
    """The kernels' memo: an open-addressing index (``slots``) over records, each (``state``, ``lo``, ``nw``
    words of the linearized set from word ``lo`` on, then any words kept whole) stored at ``off`` in ``words``,
    with its hash.  Both kernels use it: the main one keeps a window of the ok calls plus the crash words, the
    compositional one a footprint's words.  The arrays double when the kernel reports them full, under the cap."""

    def __init__(self, words_per_record: int, initial: int = INITIAL_MEMO) -> None:
        self.slots = np.empty(initial * 2, np.int64)
        self.slots.fill(-1)                                 # np.full costs three times as much
        self.words = np.empty(initial * max(1, words_per_record), np.uint64)
        self.off = np.empty(initial, np.int64)
        self.lo, self.nw, self.state = np.empty((3, initial), np.int32)
        self.hash = np.empty(initial, np.uint64)

    @property
    def nbytes(self) -> int:
        return int(self.slots.nbytes + self.words.nbytes + self.off.nbytes + self.lo.nbytes + self.nw.nbytes
                   + self.state.nbytes + self.hash.nbytes)

    def grow(self, count: int, words_used: int, record_max: int, memory_limit: int | None,
             other_bytes: int) -> None:
        """Double whichever ran out: the records' index (``count`` records) or the words they hold."""
        grow_index = count >= len(self.state)
        grow_words = words_used + record_max > len(self.words)
        cap = len(self.state) * (2 if grow_index else 1)
        words = max(len(self.words) * (2 if grow_words else 1), words_used + record_max)
        # while the arrays are copied the old and the new both exist: that is the peak to keep under the cap
        projected = self.nbytes + other_bytes + (cap * (8 + 4 + 4 + 4 + 8) + cap * 2 * 8 if grow_index else 0) \
            + (words * 8 if grow_words else 0)
        if memory_limit is not None and projected > memory_limit:
            raise MemoryBudget()
        if grow_words:
            self.words = _grown(self.words, words)
        if grow_index:
            self.off = _grown(self.off, cap)
            self.lo = _grown(self.lo, cap)
            self.nw = _grown(self.nw, cap)
            self.state = _grown(self.state, cap)
            self.hash = _grown(self.hash, cap)
            self.slots = np.full(cap * 2, -1, np.int64)
            K.rehash(self.hash, count, self.slots)


_ZOBRIST = np.empty(0, np.uint64)
_ALL_ONES = np.iinfo(np.uint64).max


def zobrist_keys(n: int) -> np.ndarray:
    """The first ``n`` of one fixed sequence of random 64-bit keys (one per call), made once per process:
    seeding a generator for every search cost more than many small searches themselves."""
    global _ZOBRIST
    if len(_ZOBRIST) < n:
        size = max(n, 2 * len(_ZOBRIST), 4096)
        _ZOBRIST = np.random.default_rng(0x5EED).integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64,
                                                          endpoint=True)
    return _ZOBRIST[:n]


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    out = np.empty(size, array.dtype)
    out[: len(array)] = array
    return out


def search_kernel(part: Partition, model: Model, init_state: Hashable, *, deadline: float | None = None,
                  memory_limit: int | None = None, stuck_limit: int = 64, slice_steps: int = SLICE_STEPS,
                  cancel=None, cut_after: int | None = FIRST_AFTER, quick: bool = True) -> SearchOutcome:
    """Decide one partition with the numba kernel; same answers as ``search_reference``.

    Once the search has taken ``cut_after`` steps (None: never), it also tries to refute the prefix up to its
    furthest completion by a window (``cut.py``).  With ``quick``, a search whose whole transition table fits up
    front first runs as one compiled call (``_quick_search``); only one that needs more than ``QUICK_STEPS``
    steps, or more memo than ``memory_limit`` allows, is searched again by the resumable driver."""
    columns = part.columns()
    if columns.n_ok == 0:       # nothing must be linearized: the empty linearization is one
        return SearchOutcome(True, engine="kernel")
    try:
        table, complete = prefilled_table(model, init_state, list(columns.kinds), memory_limit,
                                          _stopper(deadline, cancel))
    except TableTooLarge:
        return SearchOutcome(None, "memory", engine="kernel")
    if quick and complete and slice_steps >= QUICK_STEPS and (cut_after is None or cut_after >= QUICK_STEPS):
        outcome = _quick_search(columns, table, stuck_limit, memory_limit)
        if outcome is not None:
            return outcome
    entries = make_entries(part, dict(columns.kinds))
    n = len(part.calls)
    a = _Arrays(n, entries, stuck_limit)

    def run_slice() -> int:
        return K.wgl_kernel(entries.ent_call, entries.ent_ret, entries.ent_pos, entries.ret_entry, entries.is_ok,
                            entries.kind, entries.blind, entries.pure, entries.twin, a.bitpos, a.full, a.zob, table.table,
                            a.nxt, a.prv, a.bits, a.hreg, a.stack_e, a.stack_s, a.stack_since, a.stack_phase,
                            a.best, a.crash_stack, a.memo.slots, a.memo.words, a.memo.off, a.memo.lo, a.memo.nw,
                            a.memo.state, a.memo.hash, a.stuck_state, a.stuck_bits, a.regs, slice_steps)
    refuted = None
    if cut_after is not None:
        cutters: list[Cutter] = []      # made at the first pause: most searches finish in their first slice

        def refuted() -> bool:
            if not cutters:
                cutters.append(Cutter(part, model, lambda: reachable_states(model, init_state, table.inputs, table),
                                      _window_search, deadline=deadline, memory_limit=memory_limit,
                                      cancel=cancel, first_after=cut_after))
            return cutters[0](int(a.regs[K.R_FAILPOS]), int(a.regs[K.R_STEPS]), table.nbytes + a.memo.nbytes)
    answer = drive(run_slice, table, a.memo, a.regs, a.W, deadline=deadline, cancel=cancel,
                   memory_limit=memory_limit, refuted=refuted)
    explored, states = int(a.regs[K.R_STEPS]), int(a.regs[K.R_MEMO])
    if isinstance(answer, str):
        return SearchOutcome(None, answer, fail_pos=int(a.regs[K.R_FAILPOS]), explored=explored, states=states,
                             engine="kernel")
    if answer == K.VALID:
        return SearchOutcome(True, explored=explored, states=states, engine="kernel")
    stuck = []
    for i in range(int(a.regs[K.R_NSTUCK])):
        words = a.stuck_bits[i * a.W:(i + 1) * a.W]
        stuck.append((table.states[int(a.stuck_state[i])], a.calls_of(words)))
    best = a.best[: int(a.regs[K.R_BEST])].tolist()
    return SearchOutcome(False, fail_pos=int(a.regs[K.R_FAILPOS]), stuck=stuck, longest=best, explored=explored,
                         states=states, engine="kernel")


def _window_search(win: Partition, model: Model, state: Hashable, **options) -> SearchOutcome:
    """A window's search (``cut.py``): the same kernel, without windows of its own."""
    return search_kernel(win, model, state, cut_after=None, **options)


def prefill(table: StateTable, deadline: float | None, cancel) -> bool | None:
    """Tabulate what fits up front (stopping early on the deadline or Ctrl-C): True when the whole reachable
    table is filled, False when the rest is left to be filled on demand, None when even the part up front would
    break the memory cap."""
    try:
        return table.prefill(stop=_stopper(deadline, cancel))
    except TableTooLarge:
        return None


def _stopper(deadline: float | None, cancel) -> Callable[[], bool]:
    """Whether tabulating up front should stop: on the deadline or Ctrl-C."""
    def stop() -> bool:
        return (cancel is not None and cancel.is_set()) or (deadline is not None and time.monotonic() > deadline)
    return stop


# A quick search gives up after this many steps (a few milliseconds): what it has done is then done again by the
# resumable driver, which alone can pause for the clock, Ctrl-C and the windows of cut.py (FIRST_AFTER is larger).
QUICK_STEPS = 1 << 16
_NO_MEMORY_LIMIT = 1 << 62


def _quick_search(columns: Columns, table: StateTable, stuck_limit: int,
                  memory_limit: int | None) -> SearchOutcome | None:
    """The search as one compiled call (``kernel.quick_kernel``) on the partition's columns; None when it must be
    searched again by the resumable driver."""
    n = len(columns.kind)
    size = max(n, 1)
    records = min(INITIAL_MEMO, max(64, 1 << (4 * size).bit_length()))
    regs = np.zeros(K.N_REGS, np.int64)
    code, stuck_state, stuck_bits, best, bitpos = K.quick_kernel(
        np.frombuffer(columns.call_pos, np.int64), np.frombuffer(columns.ret_pos, np.float64),
        np.frombuffer(columns.kind, np.int32), _flags(columns.blind, n), _flags(columns.pure, n),
        zobrist_keys(size), table.table, stuck_limit, records,
        _NO_MEMORY_LIMIT if memory_limit is None else memory_limit, regs, QUICK_STEPS)
    explored, states = int(regs[K.R_STEPS]), int(regs[K.R_MEMO])
    if code == K.VALID:
        return SearchOutcome(True, explored=explored, states=states, engine="kernel")
    if code != K.INVALID:
        return None
    W = int(regs[K.R_W])
    call_at = bit_owners(bitpos, W)
    stuck = [(table.states[int(stuck_state[i])], calls_in(stuck_bits[i * W:(i + 1) * W], call_at))
             for i in range(int(regs[K.R_NSTUCK]))]
    return SearchOutcome(False, fail_pos=int(regs[K.R_FAILPOS]), stuck=stuck,
                         longest=best[: int(regs[K.R_BEST])].tolist(), explored=explored, states=states,
                         engine="kernel")


def _flags(values: bytes | None, n: int) -> np.ndarray:
    """0/1 per call as the kernel takes them, writable as its compiled signature expects."""
    return np.zeros(n, np.uint8) if values is None else np.frombuffer(bytearray(values), np.uint8)


def bit_owners(bitpos: np.ndarray, words: int) -> np.ndarray:
    """Bit position -> call, for ``calls_in``, where call ``c`` is bit ``bitpos[c]`` of ``words`` words."""
    call_at = np.zeros(words * 64, np.int64)
    call_at[bitpos] = np.arange(len(bitpos))
    return call_at


def calls_in(words: np.ndarray, call_at: np.ndarray) -> frozenset:
    """The call numbers whose bits are set in ``words`` (``call_at`` from ``bit_owners``)."""
    positions = np.flatnonzero(np.unpackbits(np.ascontiguousarray(words, "<u8").view(np.uint8), bitorder="little"))
    return frozenset(call_at[positions].tolist())


def drive(run_slice: Callable[[], int], table: StateTable, memo: Memo, regs: np.ndarray, record_max: int, *,
          deadline: float | None, cancel, memory_limit: int | None,
          refuted: Callable[[], bool] | None = None) -> int | str:
    """Run a resumable kernel slice by slice, answering what it asks for (a table cell, a bigger memo) and
    checking the budgets between slices: ``K.VALID`` or ``K.INVALID``, or the cause it gave up for (``time``,
    ``interrupted``, ``memory``).  Both kernels are driven here.  ``refuted()``, asked after each full slice,
    may prove the history invalid before the search has finished (``cut.Cutter``)."""
    try:
        while True:
            code = run_slice()
            if code in (K.VALID, K.INVALID):
                return code
            if deadline is not None and time.monotonic() > deadline:
                return "time"
            if cancel is not None and cancel.is_set():
                return "interrupted"
            if code == K.NEED_ROW:
                table.fill(int(regs[K.R_NEED]), int(regs[K.R_NEEDK]))
                if memory_limit is not None and table.nbytes + memo.nbytes > memory_limit:
                    return "memory"
            elif code == K.MEMO_FULL:
                memo.grow(int(regs[K.R_MEMO]), int(regs[K.R_WUSED]), record_max, memory_limit, table.nbytes)
            elif code == K.PAUSE and refuted is not None and refuted():
                return K.INVALID
    except (MemoryBudget, TableTooLarge):
        return "memory"


def warm_up() -> None:
    """Call every kernel entry point this module uses once, on a history of three calls: numba loads each from
    its cache (or compiles it) on its first call, which must not be interrupted (``checker.interrupt_deferred``)."""
    from ..history import History, Op
    from ..models import get
    ops = [Op("invoke", 0, "write", 1), Op("ok", 0, "write", 1), Op("invoke", 1, "read", None),
           Op("invoke", 0, "read", 2), Op("ok", 0, "read", 2), Op("info", 1, "read", None)]
    model = get("cas-register").configure(init=0)
    from .encode import make_partition
    part = make_partition(None, History(ops).calls(), model)
    search_kernel(part, model, 0)
    search_kernel(part, model, 0, quick=False)
    K.rehash(np.zeros(1, np.uint64), 0, np.full(2, -1, np.int64))

