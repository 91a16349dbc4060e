"""From calls to integers: the form both searches run on.

A linearizability search does the same few things millions of times: apply an operation to a state, and remember
(set of linearized operations, state).  Both are cheap on integers and slow on Python objects, so before searching
histcheck turns one key's calls into:

* *entries*: a call entry at each invocation and a return entry at each ``ok`` completion, in history order.
  Crashed calls (``info`` or never completed) have no return entry: their return is at +infinity, so the search
  may linearize them anywhere after their invocation, or never (see docs/semantics.md);
* *inputs*: each call's model input (``("write", 3)``), interned to a small integer, its *kind*;
* a *state table*, ``table[state, kind] -> next state`` (``-1``: the step is inconsistent; ``-2``: not computed
  yet).  States are interned as they are discovered.  Small state spaces are tabulated up front (the way Knossos
  memoises a model); large ones (a string register under appends) are filled lazily, row by row, when the search
  first reaches a state, so nothing has to be enumerated that the search never visits.

The kernel's entries and table are numpy arrays (``make_entries``, ``StateTable``); the reference search takes the
same entries in the standard library's ``array`` (``plain_entries``).  numpy is imported by the functions that
use it, so a small history the reference decides never waits for numpy to load.
"""
from __future__ import annotations

import operator
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Hashable, Sequence

from ..history import Call
from ..models.base import Inconsistent, Model, Sentinel

if TYPE_CHECKING:
    import numpy as np

INFINITY = float("inf")
INCONSISTENT = -1
ROW_AT_ONCE = 64
NOT_COMPUTED = -2


@dataclass
class Partition:
    """One independent key's calls, with the model input of each (calls that cannot matter are left out)."""

    key: Any
    calls: list[Call]
    inputs: list[Hashable]
    all_calls: list[Call] = field(default_factory=list)
    footprints: list[Hashable] | None = None
    blind: list[bool] | None = None
    pure: list[bool] | None = None

    _columns: "Columns | None" = field(default=None, repr=False, compare=False)

    @property
    def ok_count(self) -> int:
        return sum(1 for c in self.calls if c.status == "ok")

    def columns(self) -> "Columns":
        """The calls as the searches take them, made on first use and kept: a partition is shared by every check
        of its history with one model (``History.derived``), and the columns are what its calls are in integers."""
        if self._columns is None:
            self._columns = Columns.of(self)
        return self._columns


@dataclass
class Columns:
    """A partition's calls as integers, in call order: each call's input numbered in order of first use
    (``kinds`` maps input -> number), its invocation's position and its completion's (+inf for a crashed call),
    and the model's blind and pure flags; ``array.array``, which numpy wraps without copying.  ``n_ok``: how many
    calls completed ok."""

    kinds: dict[Hashable, int]
    kind: array
    call_pos: array
    ret_pos: array
    blind: bytes | None
    pure: bytes | None
    n_ok: int

    @classmethod
    def of(cls, part: Partition) -> "Columns":
        kinds = dict.fromkeys(part.inputs)
        for number, op in enumerate(kinds):
            kinds[op] = number
        ret_pos = array("d", map(_RETURN_POS, part.calls))
        return cls(kinds, array("i", map(kinds.__getitem__, part.inputs)), array("q", map(_CALL_POS, part.calls)),
                   ret_pos, None if part.blind is None else bytes(part.blind),
                   None if part.pure is None else bytes(part.pure), len(ret_pos) - ret_pos.count(INFINITY))


_CALL_POS = operator.attrgetter("call_pos")
_RETURN_POS = operator.attrgetter("return_pos")     # +inf for a crashed call


def make_partition(key: Any, calls: Sequence[Call], model: Model) -> Partition:
    """Ask the model for each call's input; drop the calls it says cannot matter (``prepare`` returned None, or a
    crashed call the model calls useless)."""
    inputs: list[Hashable] = model.prepare_calls(calls)
    kept: list[Call] = list(calls)
    if None in inputs:
        kept = [c for c, op in zip(calls, inputs) if op is not None]
        inputs = [op for op in inputs if op is not None]
    crashed = [i for i, c in enumerate(kept) if c.status in ("info", "open")]
    useless = model.useless_if_crashed(inputs) if crashed else None     # most histories crash nothing
    if useless is not None:
        drop = {i for i in crashed if useless(inputs[i])}
        if drop:
            kept = [c for i, c in enumerate(kept) if i not in drop]
            inputs = [op for i, op in enumerate(inputs) if i not in drop]
    distinct = dict.fromkeys(inputs)
    # a model that never names footprints (most) is not asked for each input
    feet = {op: model.footprint(op) for op in distinct} if type(model).footprint is not Model.footprint else {}
    blinds = {op: model.blind(op) for op in distinct}
    pures = {op: model.is_pure(op) for op in distinct}
    # The focus reduction is sound only when every call has a footprint: a whole-state call does not commute
    # with calls on other footprints, so one of them turns the reduction off for the partition.
    footprints = list(map(feet.__getitem__, inputs)) if feet and all(f is not None for f in feet.values()) \
        else None
    blind = list(map(blinds.__getitem__, inputs)) if any(blinds.values()) else None
    pure = list(map(pures.__getitem__, inputs)) if any(pures.values()) else None
    return Partition(key, kept, inputs, list(calls), footprints, blind, pure)


@dataclass
class Entries:
    """The doubly linked list the search walks, as arrays (entry ``e`` belongs to call ``ent_call[e]``): numpy
    arrays from ``make_entries``, ``array.array`` from ``plain_entries``; both have ``tolist``."""

    ent_call: np.ndarray    # int32[E]
    ent_ret: np.ndarray     # uint8[E]: 1 for a return entry
    ent_pos: np.ndarray     # int64[E]: position in the history
    ret_entry: np.ndarray   # int32[n]: the return entry of each call, -1 for crashed calls
    is_ok: np.ndarray       # uint8[n]
    kind: np.ndarray        # int32[n]
    n_ok: int
    foot: np.ndarray        # int32[n]: footprint of each call, -1 for "the whole state"
    blind: np.ndarray       # uint8[n]: 1 when the call's input is blind (see Model.blind)
    pure: np.ndarray        # uint8[n]: 1 when the call's input never changes the state (see Model.is_pure)
    twin: np.ndarray        # int32[n]: for a crashed call, the last crashed call invoked before it with the same
                            # input (-1: none); identical crashed calls are interchangeable, so the search applies
                            # them in invocation order


def make_entries(part: Partition, kinds: dict[Hashable, int]) -> Entries:
    """Build the entry list: a call entry at each invocation, a return entry at each ok completion, in history
    order; ``kinds`` interns the inputs (and is filled in)."""
    import numpy as np
    calls = part.calls
    n = len(calls)
    for op in dict.fromkeys(part.inputs):            # intern the distinct inputs, in order of first use
        kinds.setdefault(op, len(kinds))
    kind = np.array(list(map(kinds.__getitem__, part.inputs)), np.int32)
    # Call i has two slots: its invocation at i and its return at n + i.  A return that never came (a crashed
    # call) holds ``none``, which sorts before every position, so one stable sort puts the slots in history
    # order (invocations before returns on a tie) with the missing returns first, to be cut off.
    none = -(1 << 63)
    pos = np.array([c.call_pos for c in calls] + [c.return_pos if c.status == "ok" else none for c in calls],
                   np.int64)
    ok = pos[n:] != none
    n_ok = int(np.count_nonzero(ok))
    order = np.argsort(pos, kind="stable")[n - n_ok:]
    is_ret = order >= n
    ent_call = (order - n * is_ret).astype(np.int32)
    slot_entry = np.full(2 * n, -1, np.int32)           # the entry of each slot; a missing return has none
    slot_entry[order] = np.arange(len(order), dtype=np.int32)
    ret_entry = slot_entry[n:]
    foot = np.full(n, -1, np.int32)
    if part.footprints is not None:
        names: dict[Hashable, int] = {}
        foot = np.array([-1 if f is None else names.setdefault(f, len(names)) for f in part.footprints],
                        np.int32)
        if len(names) <= 1:
            foot[:] = -1     # one object: nothing commutes, skip the bookkeeping
    # bytes of 0/1 convert many times faster than a list of bools; a bytearray keeps the array writable, as
    # the kernel's compiled signature expects
    blind = np.zeros(n, np.uint8) if part.blind is None else np.frombuffer(bytearray(part.blind), np.uint8)
    pure = np.zeros(n, np.uint8) if part.pure is None else np.frombuffer(bytearray(part.pure), np.uint8)
    return Entries(ent_call, is_ret.view(np.uint8), pos[order], ret_entry, ok.view(np.uint8), kind, n_ok, foot,
                   blind, pure, _twins(kind, ok, n_ok))


def plain_entries(part: Partition, kinds: dict[Hashable, int]) -> Entries:
    """``make_entries`` in plain Python, for the reference search: the same entries in the same order, held in
    ``array.array`` (building numpy arrays costs more than deciding a small history)."""
    calls = part.calls
    n = len(calls)
    for op in dict.fromkeys(part.inputs):
        kinds.setdefault(op, len(kinds))
    kind = [kinds[op] for op in part.inputs]
    ok = [c.status == "ok" for c in calls]
    # make_entries' slots (invocation of call i at i, its return at n + i) in its stable order: by position,
    # then by slot, with the missing returns left out
    slots = sorted([(c.call_pos, i) for i, c in enumerate(calls)]
                   + [(int(c.return_pos), n + i) for i, c in enumerate(calls) if ok[i]])
    ent_call = [s - n if s >= n else s for _, s in slots]
    ret_entry = [-1] * n
    for e, (_, s) in enumerate(slots):
        if s >= n:
            ret_entry[s - n] = e
    foot = [-1] * n
    if part.footprints is not None:
        names: dict[Hashable, int] = {}
        foot = [-1 if f is None else names.setdefault(f, len(names)) for f in part.footprints]
        if len(names) <= 1:
            foot = [-1] * n
    blind = [0] * n if part.blind is None else [1 if b else 0 for b in part.blind]
    pure = [0] * n if part.pure is None else [1 if p else 0 for p in part.pure]
    twin = [-1] * n
    last: dict[int, int] = {}
    for c in range(n):
        if not ok[c]:
            twin[c] = last.get(kind[c], -1)
            last[kind[c]] = c
    return Entries(array("i", ent_call), array("B", [1 if s >= n else 0 for _, s in slots]),
                   array("q", [p for p, _ in slots]), array("i", ret_entry), array("B", ok), array("i", kind),
                   sum(ok), array("i", foot), array("B", blind), array("B", pure), array("i", twin))


def _twins(kind: np.ndarray, ok: np.ndarray, n_ok: int) -> np.ndarray:
    """Each crashed call's previous crashed call with the same kind (calls are in invocation order)."""
    import numpy as np
    twin = np.full(len(kind), -1, np.int32)
    if n_ok == len(kind):
        return twin
    last: dict[int, int] = {}
    for c in np.flatnonzero(~ok).tolist():
        k = int(kind[c])
        twin[c] = last.get(k, -1)
        last[k] = c
    return twin


class TableTooLarge(MemoryError):
    """The transition table would outgrow the search's memory cap."""


_NO = Sentinel("inconsistent step")      # what the memory of steps holds for an inconsistent one
_KNOWN: dict[Hashable, dict] = {}
KNOWN_MAX = 1 << 16          # states remembered per model before the memory of steps starts afresh


def known_steps(model: Model) -> dict[Hashable, dict] | None:
    """The steps this process has already computed for models configured like ``model``: state -> input ->
    result.  ``Model.step`` is a pure function of (state, input), so checking many small histories of one model
    (a directory of Knossos files) tabulates each transition once, not once per history.  None when the model's
    configuration cannot be compared (an attribute that is not hashable)."""
    signature = model.signature()
    if signature is None:
        return None
    known = _KNOWN.get(signature)
    if known is None or len(known) > KNOWN_MAX:
        if len(_KNOWN) > 64:
            _KNOWN.clear()
        known = _KNOWN[signature] = {}
    return known


_TABLES: dict[Hashable, "StateTable"] = {}
TABLES_MAX = 256             # complete tables remembered before the memory of tables starts afresh,
TABLES_BYTES = 32 << 20      # or once they hold this much


def prefilled_table(model: Model, init_state: Hashable, inputs: list[Hashable], memory_limit: int | None = None,
                    stop: Callable[[], bool] | None = None) -> tuple["StateTable", bool]:
    """A state table for ``inputs`` from ``init_state``, tabulated up front as far as ``StateTable.prefill`` goes,
    and whether that is all of it (raises ``TableTooLarge``).

    A complete table is a pure function of the model's configuration, the initial state and the inputs in order,
    so it is remembered under them: a history checked again, or the next file of the same test with the same
    inputs, takes it as it is.  Sharing it is safe because nothing writes to a complete table: the searches only
    read it, and ``fill`` is asked for only a cell that was never computed."""
    signature = model.signature()
    key: Hashable = None
    if signature is not None:
        try:
            key = (signature, init_state, tuple(inputs))
            table = _TABLES.get(key)
        except TypeError:            # an unhashable initial state: nothing to remember it under
            key = table = None
        if table is not None and (memory_limit is None or table.nbytes <= memory_limit):
            return table, True
    table = StateTable(model, init_state, inputs, memory_limit)
    complete = table.prefill(stop=stop)
    if complete and key is not None:
        if len(_TABLES) >= TABLES_MAX or sum(t.nbytes for t in _TABLES.values()) > TABLES_BYTES:
            _TABLES.clear()
        _TABLES[key] = table
    return table, complete


class StateTable:
    """Interned model states and the transition table ``table[state, kind]``, grown on demand."""

    def __init__(self, model: Model, init_state: Hashable, inputs: Sequence[Hashable],
                 memory_limit: int | None = None) -> None:
        self.model = model
        self.inputs = list(inputs)
        self.states: list[Hashable] = []
        self.ids: dict[Hashable, int] = {}
        self.done: set[int] = set()
        import numpy as np
        self.table = np.empty((64, max(1, len(self.inputs))), np.int32)
        self.table.fill(NOT_COMPUTED)                  # (np.full costs three times as much on small tables)
        self.steps = 0
        self.memory_limit = memory_limit
        self.canon = model.abstraction(self.inputs)
        self.known = known_steps(model)
        if self.canon is None:
            self.ids[_NO] = INCONSISTENT      # so that a row of known results maps to ids in one go
        self.intern(init_state)

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def intern(self, state: Hashable) -> int:
        if self.canon is not None:
            state = self.canon(state)
        sid = self.ids.get(state)
        if sid is None:
            sid = len(self.states)
            self.ids[state] = sid
            self.states.append(state)
        return sid

    def fill_row(self, sid: int) -> None:
        """Compute every transition out of state ``sid``."""
        state = self.states[sid]
        known = self.known.get(state) if self.known is not None else None
        if known is None:
            known = {}
            if self.known is not None:
                self.known[state] = known
        results = list(map(known.get, self.inputs))          # None: not known yet (or a step to nil)
        if None in results:
            step = self.model.step
            for k, nxt in enumerate(results):
                if nxt is None:
                    op = self.inputs[k]
                    nxt = step(state, op)
                    results[k] = known[op] = _NO if isinstance(nxt, Inconsistent) else nxt
        row = list(map(self.ids.get, results)) if self.canon is None else [None]
        if None in row:                                      # a state met for the first time
            row = [INCONSISTENT if nxt is _NO else self.intern(nxt) for nxt in results]
        self.steps += len(self.inputs)
        self._ensure_rows(len(self.states))
        self.table[sid, :] = row       # a list, stored in one go: numpy cells one by one cost more than the steps
        self.done.add(sid)

    def fill(self, sid: int, kind: int) -> None:
        """Answer the kernel's request for ``table[sid, kind]``: the whole row when rows are narrow (fewer
        round trips), the one cell when they are wide (a string register under appends has hundreds of inputs,
        most of which lead to states the search never visits)."""
        if len(self.inputs) <= ROW_AT_ONCE:
            self.fill_row(sid)
            return
        nxt = self.model.step(self.states[sid], self.inputs[kind])
        self.steps += 1
        value = INCONSISTENT if isinstance(nxt, Inconsistent) else self.intern(nxt)
        self._ensure_rows(len(self.states))
        self.table[sid, kind] = value

    def prefill(self, max_states: int = 1024, max_steps: int | None = None,
                stop: Callable[[], bool] | None = None) -> bool:
        """Tabulate breadth-first from the initial state, within a small budget of model steps; True when the
        whole reachable space fits (registers), False when the rest is left to be filled lazily."""
        if max_steps is None:
            max_steps = max(4096, 8 * len(self.inputs))
        if not self.inputs:
            return True
        sid = 0
        while sid < len(self.states):
            if sid >= max_states or self.steps >= max_steps or (stop is not None and stop()):
                return False
            if sid not in self.done:
                self.fill_row(sid)
            sid += 1
        return True

    def _ensure_rows(self, rows: int) -> None:
        if rows <= self.table.shape[0]:
            return
        cap = self.table.shape[0]
        while cap < rows:
            cap *= 2
        if self.memory_limit is not None and (cap + self.table.shape[0]) * self.table.shape[1] * 4 > self.memory_limit:
            raise TableTooLarge(cap)
        import numpy as np
        grown = np.full((cap, self.table.shape[1]), NOT_COMPUTED, np.int32)
        grown[: self.table.shape[0]] = self.table
        self.table = grown
