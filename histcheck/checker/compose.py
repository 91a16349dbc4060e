"""One object, many footprints: driving the compositional search, and narrowing its failure to one footprint.

A kv history checked as one object (``partition=False``) is one search over every call, with a state that holds
every key.  Run as plain Wing & Gong, its memo fills with the *product* of the keys' configurations: Porcupine
does not finish ten keys of fifty clients that way, and neither did histcheck's first kernel.  When the model says
which part of the state each call touches (``Model.footprint``), ``reference.search_split_reference`` and
``kernel.split_kernel`` instead charge every dead end to one footprint and remember it by that footprint's
projection alone, so the work is about the *sum* of the keys' searches (the reasoning is in reference.py).

This module gives the kernel what it needs for that: a transition table per footprint (``FootprintTable``: a
footprint's state is the model state reached by its own calls alone, and its inputs are numbered within the
footprint, so the table stays as narrow as one key's), and the layout of the linearized set footprint by
footprint.  Its memo of dead ends is the main kernel's ``search.Memo``.

The search answers valid or invalid for the history as a whole.  A failure report is about one place where the
history stops being linearizable; by locality that place is where one footprint's calls stop being linearizable,
so ``failure.narrow_failure`` (plain Python: the reference's failures are narrowed without numba) searches each
footprint's calls on their own and reports the earliest such place, with the configurations stuck there, in the
footprint's own terms.
"""
from __future__ import annotations

import dataclasses
from typing import Hashable, Sequence

import numpy as np

from ..models.base import Inconsistent, Model
from . import kernel as K
from .encode import INCONSISTENT, NOT_COMPUTED, ROW_AT_ONCE, Partition, StateTable, make_entries
from .reference import SearchOutcome
from .kernel import linked_list
from .search import SLICE_STEPS, Memo, drive, prefill, zobrist_keys


class FootprintTable(StateTable):
    """Interned states and ``table[state, kind]`` where every state belongs to one footprint and ``kind`` numbers
    that footprint's inputs.  Footprint ``f`` starts at state id ``f`` (the initial state, once per footprint)."""

    def __init__(self, model: Model, init_state: Hashable, inputs_by_foot: Sequence[Sequence[Hashable]],
                 memory_limit: int | None = None) -> None:
        # StateTable's attributes, set here rather than by its constructor, which would first build a table as
        # wide as every footprint's inputs together
        self.model = model
        self.inputs_by_foot = [list(ops) for ops in inputs_by_foot]
        self.inputs = [op for ops in self.inputs_by_foot for op in ops]
        self.states: list[Hashable] = []
        self.ids: dict[tuple[int, Hashable], int] = {}
        self.owner: list[int] = []
        self.done: set[int] = set()
        width = max(1, max((len(ops) for ops in self.inputs_by_foot), default=1))
        self.table = np.full((64, width), NOT_COMPUTED, np.int32)
        self.steps = 0
        self.memory_limit = memory_limit
        self.canon = model.abstraction(self.inputs)
        for f in range(len(self.inputs_by_foot)):     # state id f is footprint f's initial state
            self._foot = f
            self.intern(init_state)

    def intern(self, state: Hashable) -> int:
        """The id of ``state`` as a state of the footprint being filled (``self._foot``)."""
        if self.canon is not None:
            state = self.canon(state)
        key = (self._foot, state)
        sid = self.ids.get(key)
        if sid is None:
            sid = len(self.states)
            self.ids[key] = sid
            self.states.append(state)
            self.owner.append(self._foot)
        return sid

    def fill_row(self, sid: int) -> None:
        self._foot = f = self.owner[sid]
        step = self.model.step
        row = np.full(self.table.shape[1], INCONSISTENT, np.int32)
        state = self.states[sid]
        for k, op in enumerate(self.inputs_by_foot[f]):
            nxt = step(state, op)
            row[k] = INCONSISTENT if isinstance(nxt, Inconsistent) else self.intern(nxt)
        self.steps += len(self.inputs_by_foot[f])
        self._ensure_rows(len(self.states))
        self.table[sid, :] = row
        self.done.add(sid)

    def fill(self, sid: int, kind: int) -> None:
        self._foot = f = self.owner[sid]
        if len(self.inputs_by_foot[f]) <= ROW_AT_ONCE:
            self.fill_row(sid)
            return
        nxt = self.model.step(self.states[sid], self.inputs_by_foot[f][kind])
        self.steps += 1
        value = INCONSISTENT if isinstance(nxt, Inconsistent) else self.intern(nxt)
        self._ensure_rows(len(self.states))
        self.table[sid, kind] = value


@dataclasses.dataclass
class _Layout:
    """Calls numbered footprint by footprint: call ``c`` is bit ``bitpos[c]``; footprint ``f`` owns ``fwords[f]``
    64-bit words from word ``flo[f]``; ``kind[c]`` numbers the call's input within its footprint."""

    foot: np.ndarray
    kind: np.ndarray
    bitpos: np.ndarray
    flo: np.ndarray
    fwords: np.ndarray
    inputs_by_foot: list[list[Hashable]]


def _layout(foot: np.ndarray, inputs: Sequence[Hashable]) -> _Layout:
    n_foot = int(foot.max()) + 1 if len(foot) else 0
    counts = np.bincount(foot, minlength=n_foot) if len(foot) else np.zeros(0, np.int64)
    fwords = np.maximum(1, (counts + 63) // 64).astype(np.int64)
    flo = np.concatenate([[0], np.cumsum(fwords)[:-1]]).astype(np.int64)
    bitpos = np.empty(len(foot), np.int64)
    kind = np.empty(len(foot), np.int32)
    used = [0] * n_foot
    local: list[dict[Hashable, int]] = [{} for _ in range(n_foot)]
    for c, f in enumerate(foot.tolist()):
        bitpos[c] = flo[f] * 64 + used[f]
        used[f] += 1
        kind[c] = local[f].setdefault(inputs[c], len(local[f]))
    return _Layout(foot, kind, bitpos, flo, fwords, [list(d) for d in local])


def search_split_kernel(part: Partition, model: Model, init_state: Hashable, *, deadline: float | None = None,
                        memory_limit: int | None = None, cancel=None, slice_steps: int = SLICE_STEPS,
                        **_: object) -> SearchOutcome:
    """Decide a partition whose calls all have footprints with ``kernel.split_kernel``."""
    entries = make_entries(part, {})
    lay = _layout(entries.foot, part.inputs)
    table = FootprintTable(model, init_state, lay.inputs_by_foot, memory_limit)
    if prefill(table, deadline, cancel) is None:
        return SearchOutcome(None, "memory", engine="kernel-split")
    n = len(part.calls)
    n_foot = len(lay.flo)
    nxt, prv = linked_list(len(entries.ent_call))
    words = int(lay.flo[-1] + lay.fwords[-1]) if n_foot else 1
    bits = np.zeros(words, np.uint64)
    fh = np.zeros(n_foot, np.uint64)
    sv = np.arange(n_foot, dtype=np.int32)
    stack_e, stack_s, stack_phase, crash_stack = (np.empty(max(n, 1), np.int32) for _ in range(4))
    record_max = int(lay.fwords.max()) if n_foot else 1
    memo = Memo(record_max)
    regs = np.zeros(K.N_REGS, np.int64)
    regs[K.R_E] = nxt[len(entries.ent_call)]
    regs[K.R_NOK] = entries.n_ok
    zob = zobrist_keys(max(n, 1))

    def run_slice() -> int:
        return K.split_kernel(entries.ent_call, entries.ent_ret, entries.ret_entry, entries.is_ok, lay.kind,
                              lay.foot, lay.bitpos, lay.flo, lay.fwords, zob, table.table, nxt, prv, bits, fh, sv,
                              stack_e, stack_s, stack_phase, crash_stack, memo.slots, memo.words, memo.off,
                              memo.lo, memo.nw, memo.state, memo.hash, regs, slice_steps)
    answer = drive(run_slice, table, memo, regs, record_max, deadline=deadline, cancel=cancel,
                   memory_limit=memory_limit)
    explored, states = int(regs[K.R_STEPS]), int(regs[K.R_MEMO])
    if isinstance(answer, str):
        return SearchOutcome(None, answer, explored=explored, states=states, engine="kernel-split")
    return SearchOutcome(answer == K.VALID, explored=explored, states=states, engine="kernel-split",
                         blame=int(regs[K.R_BLAME]) if answer == K.INVALID else -1)


def warm_up_split() -> None:
    """Call the compositional kernel once, on a history of two keys: numba loads it (or compiles it) on its first
    call, which must not be interrupted (``checker.interrupt_deferred``)."""
    from ..history import History, Op
    from ..models import get
    from .encode import make_partition
    ops = []
    for process, key in ((0, "x"), (1, "y")):
        ops += [Op("invoke", process, "put", "a", extra={"key": key}), Op("ok", process, "put", "a", extra={"key": key}),
                Op("invoke", process, "get", None, extra={"key": key}), Op("ok", process, "get", "b", extra={"key": key})]
    model = get("kv").configure(init="")
    part = make_partition(None, History(ops).calls(), model)
    search_split_kernel(part, model, model.init_state(""))

