"""Histories: what happened, in the order it happened.

A history is the list of events a test recorded: each client operation appears twice, once when a process
*invokes* it and once when it *completes* (``ok``, ``fail`` or ``info``).  Everything histcheck does starts from
here, whether the history came from a file (``histcheck.formats``) or from a live run (``histcheck.run``).

This module keeps the events as ``Op`` objects in file order, pairs every invocation with its completion into a
``Call`` (the unit a model and the checker reason about), keeps nemesis events aside for drawing, recognises
independent keys, and converts to and from pandas.  The rules it applies are written once, in
docs/semantics.md:

* ``ok`` took effect; ``fail`` did not; ``info`` or a missing completion may have taken effect at any point
  after the invocation (its return is at +infinity);
* a process runs one operation at a time: invoking again while an operation is open is an error;
* an operation whose process is not an integer (``:nemesis``) never enters a model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Iterator, Sequence

from .errors import HistoryError
from .values import Keyword, freeze

TYPES = ("invoke", "ok", "fail", "info")
COMPLETIONS = frozenset(("ok", "fail", "info"))
INFINITY = math.inf


class Op:
    """One event of a history, as Jepsen records it.

    ``index`` is the event's position as Jepsen numbers it (``:index`` when present, else its 0-based position in
    the file, as Knossos numbers operations); ``line`` is where it was read from, for error messages; ``extra``
    keeps every other key (``:error``, ``:node``...), so nothing is lost on a round trip.
    """

    __slots__ = ("index", "time", "type", "process", "f", "value", "extra", "line")

    def __init__(self, type: str, process: Any, f: Any, value: Any = None, *, index: int = -1,
                 time: int | None = None, extra: dict | None = None, line: int | None = None) -> None:
        self.type = type
        self.process = process
        self.f = f
        self.value = value
        self.index = index
        self.time = time
        self.extra = extra
        self.line = line

    @property
    def is_client(self) -> bool:
        """Client operations have integer processes; ``:nemesis`` and other named processes do not."""
        return isinstance(self.process, int) and not isinstance(self.process, bool)

    def to_dict(self) -> dict[str, Any]:
        """The op as a map with Jepsen's field names (``index`` first, extras last)."""
        out: dict[str, Any] = {"index": self.index}
        if self.time is not None:
            out["time"] = self.time
        out["type"] = self.type
        out["process"] = self.process
        out["f"] = self.f
        out["value"] = self.value
        if self.extra:
            out.update(self.extra)
        return out

    def __repr__(self) -> str:
        from .values import show
        return (f"{{:index {self.index}, :type :{self.type}, :process {show(self.process)}, "
                f":f {show(self.f)}, :value {show(self.value)}}}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def make_op(fields: dict, *, position: int, line: int | None = None, path: str | None = None) -> Op:
    """Build an ``Op`` from a parsed map (keyword or string keys), checking the fields every op must have.

    Parsers call this for each event so that every format reports missing or unknown fields the same way.
    """
    get = fields.get
    op_type = _TYPE_NAMES.get(get("type"))     # plain interned str, whether the key held a Keyword or a str
    if op_type is None:
        raw = get("type")
        if raw is None:
            raise HistoryError("operation has no :type", path=path, line=line,
                               expected="one of :invoke, :ok, :fail, :info")
        raise HistoryError(f"unknown :type {raw!r}", path=path, line=line,
                           expected="one of :invoke, :ok, :fail, :info")
    process = get("process", _MISSING)
    if process.__class__ is not int:
        if process is _MISSING:
            raise HistoryError("operation has no :process", path=path, line=line,
                               expected="an integer process or :nemesis")
        if isinstance(process, str):
            process = str.__str__(process)
    f = get("f")
    if f.__class__ is not str and isinstance(f, str):
        f = _F_NAMES.get(f) or _F_NAMES.setdefault(f, str.__str__(f))
    index = get("index")
    if index is None:
        index = position
    elif index.__class__ is not int and not isinstance(index, int):
        raise HistoryError(f":index {index!r} is not an integer", path=path, line=line, expected="an integer")
    extra = None
    if not _CORE.issuperset(fields):
        extra = {k: v for k, v in fields.items() if k not in _CORE}
    return Op(op_type, process, f, get("value"), index=index, time=get("time"), extra=extra, line=line)


_TYPE_NAMES = {name: name for name in TYPES}
_F_NAMES: dict[str, str] = {}
_MISSING = object()
_CORE = frozenset(("type", "process", "f", "value", "index", "time"))


@dataclass(slots=True)
class Call:
    """An operation as the checker sees it: invocation and completion taken together.

    ``value`` is what the model needs: the completion's value for an ``ok`` op (a read learns its value only when
    it returns), the invocation's otherwise.  ``status`` is ``ok``, ``fail``, ``info`` (crashed) or ``open`` (never
    completed); ``info`` and ``open`` return at +infinity.  ``call_pos``/``return_pos`` are positions in the event
    order of the history, which is what real time means for a checker.
    """

    id: int
    process: Any
    f: Any
    value: Any
    status: str
    invoke: Op
    complete: Op | None
    call_pos: int
    return_pos: float
    key: Any = None
    split: bool = False      # the independent [key value] pair has been split into ``key`` and ``value``

    @property
    def crashed(self) -> bool:
        return self.status in ("info", "open")

    @property
    def index(self) -> int:
        """The index a person looks for: the completion's if there is one, else the invocation's."""
        return self.complete.index if self.complete is not None else self.invoke.index

    def describe(self) -> str:
        from .values import show
        return f"process {self.process} {self.status} {self.f} {show(self.value)} (index {self.index})"


NO_KEY = object()


@dataclass
class History:
    """A recorded history: events in order, plus where they came from.

    The list of ``Op`` is the source of truth; ``calls()`` pairs them, ``nemesis_ops`` lists the faults, and
    ``to_dataframe`` gives a pandas view for exploration.
    """

    ops: list[Op]
    source: str | None = None
    format: str | None = None
    meta: dict = field(default_factory=dict)
    # worked out once per list of ops: "ops" (its id and length), the calls with and without failed ones, "style"
    _paired: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __getitem__(self, i: int) -> Op:
        return self.ops[i]

    @property
    def client_ops(self) -> list[Op]:
        return [op for op in self.ops if op.is_client]

    @property
    def nemesis_ops(self) -> list[Op]:
        """Events of non-client processes (the nemesis): drawn on timelines, never given to a model."""
        return [op for op in self.ops if not op.is_client]

    def processes(self) -> list[Any]:
        return sorted({op.process for op in self.ops if op.is_client})

    def fs(self) -> list[str]:
        return sorted({str(op.f) for op in self.ops if op.is_client})

    # -- pairing -------------------------------------------------------------------------------------------
    def calls(self, *, include_failed: bool = False) -> list[Call]:
        """Pair invocations with completions, in invocation order.

        Raises ``HistoryError`` naming the line when a process invokes while its previous operation is still open,
        or a completion has no invocation.  Failed calls are dropped unless ``include_failed`` (they did not take
        effect); a crashed call keeps its invocation's value.

        The pairing is done once per history and list of ops (checking a history again, or with another model,
        does not pair it again), so the calls are shared: treat them as read-only.  Replacing ``ops`` or changing
        its length pairs it anew.
        """
        memo = self._memo()
        paired = memo.get(include_failed)
        if paired is None:
            paired = memo[include_failed] = self._pair(include_failed)
        return list(paired)

    def derived(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """``make()``, worked out once per list of ops and ``key``: what a checker derives from the events alone
        (the calls grouped by key and prepared for one model) is kept here, so that checking the history again
        does not derive it again.  ``key`` must name everything ``make`` depends on besides the ops; the value is
        shared, so treat it as read-only.  It is dropped with the pairing when ``ops`` is replaced."""
        memo = self._memo()
        slot = ("derived", key)
        if slot not in memo:
            memo[slot] = make()
        return memo[slot]

    def first_without_process(self) -> Op | None:
        """The first op with no ``:process`` (None: every op has one), looked for once per list of ops."""
        memo = self._memo()
        if "no-process" not in memo:
            memo["no-process"] = next((op for op in self.ops if op.process is None), None)
        return memo["no-process"]

    def _memo(self) -> dict:
        """What is worked out once per list of ops (its pairing, its key style); a new list starts afresh."""
        ops = (id(self.ops), len(self.ops))
        if self._paired.get("ops") != ops:
            self._paired.clear()
            self._paired["ops"] = ops
        return self._paired

    def _pair(self, include_failed: bool) -> list[Call]:
        # This runs once per check over every event, so it is written for speed: ``pending`` maps a process to
        # the position of its open invocation (``setdefault`` both tests and records it), and a call is stored at
        # its invocation's position, so that reading the positions in order gives invocation order.  A failed
        # call never becomes an object unless asked for (half of some histories fail).
        ops = self.ops
        slots: list[Call | None] = [None] * len(ops)
        pending: dict[Any, int] = {}
        open_at, close = pending.setdefault, pending.pop
        for pos, op in enumerate(ops):
            process = op.process
            if process.__class__ is not int:
                continue
            op_type = op.type
            if op_type == "invoke":
                if open_at(process, pos) != pos:
                    raise self._overlap(op, ops[pending[process]])
                continue
            call_pos = close(process, -1)
            if call_pos < 0:
                raise self._orphan(op)
            if op_type == "ok":
                invoke = ops[call_pos]
                value = op.value
                slots[call_pos] = Call(0, process, invoke.f, invoke.value if value is None else value, "ok", invoke,
                                       op, call_pos, pos)
            elif op_type == "info":
                invoke = ops[call_pos]
                slots[call_pos] = Call(0, process, invoke.f, invoke.value, "info", invoke, op, call_pos, INFINITY)
            elif include_failed:
                invoke = ops[call_pos]
                slots[call_pos] = Call(0, process, invoke.f, invoke.value, "fail", invoke, op, call_pos, pos)
        for process, call_pos in pending.items():
            invoke = ops[call_pos]
            slots[call_pos] = Call(0, process, invoke.f, invoke.value, "open", invoke, None, call_pos, INFINITY)
        calls = list(filter(None, slots))       # a Call is always true
        for i, c in enumerate(calls):
            c.id = i
        return calls

    def _overlap(self, op: Op, previous: Op) -> HistoryError:
        """``op`` invokes while ``previous``, by the same process, is still open."""
        return HistoryError(f"process {op.process} invoked {op.f} while its {previous.f} invoked at "
                            f"{_where(previous)} is still open", path=self.source, line=_line(op),
                            expected="a completion (:ok, :fail or :info) before the next invocation")

    def _orphan(self, op: Op) -> HistoryError:
        """``op`` completes an operation its process never invoked."""
        return HistoryError(f"process {op.process} completed {op.f} ({op.type}) with no invocation",
                            path=self.source, line=_line(op),
                            expected=f"an :invoke of process {op.process} before its completion")

    # -- independent keys ----------------------------------------------------------------------------------
    def key_style(self) -> str | None:
        """How this history names independent keys: ``"field"`` (a ``:key`` on every client op), ``"tuple"``
        (Jepsen's independent ``[k v]`` values), or None.  Decided once per list of ops, as ``calls`` is."""
        memo = self._memo()
        if "style" not in memo:
            memo["style"] = self._key_style()
        return memo["style"]

    def _key_style(self) -> str | None:
        # each test stops at the first op that rules its style out, which in most histories is the first one
        def client() -> Iterator[Op]:
            return (op for op in self.ops if op.process.__class__ is int)
        if next(client(), None) is None:
            return None
        if all(op.extra is not None and "key" in op.extra for op in client()):
            return "field"
        if not all(isinstance(op.value, tuple) and len(op.value) == 2 for op in client() if op.type == "invoke"):
            return None
        fs = {op.f for op in client() if op.type == "invoke"}
        if fs and fs != {"cas"} and not fs <= {"cas", "txn"}:
            return "tuple"
        return None

    def split_keys(self, calls: Sequence[Call], style: str | None) -> dict[Any, list[Call]]:
        """Group calls by independent key, stripping the key from tuple values (P-compositionality)."""
        if style is None:
            return {NO_KEY: list(calls)}
        groups: dict[Any, list[Call]] = {}
        for call in calls:
            if style == "field":
                key = call.key = freeze(call.invoke.extra.get("key")) if call.invoke.extra else None
            elif call.split:                # split by an earlier check of this history
                key = call.key
            else:
                key, call.value = _split_tuple(call, self.source)
                call.key, call.split = key, True
            groups.setdefault(key, []).append(call)
        return groups

    # -- pandas ----------------------------------------------------------------------------------------------
    def to_dataframe(self):
        """One row per event: index, time, type, process, f, value and every extra key as its own column."""
        import pandas as pd
        rows = [op.to_dict() for op in self.ops]
        columns = ["index", "time", "type", "process", "f", "value"]
        frame = pd.DataFrame.from_records(rows)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        for col in columns:
            if col not in frame.columns:
                frame[col] = None
        # values stay Python objects: pandas would turn [1, nil] into floats [1.0, NaN]
        frame["value"] = pd.Series([op.value for op in self.ops], index=frame.index, dtype=object)
        ordered = columns + [c for c in frame.columns if c not in columns]
        return frame[ordered]

    @classmethod
    def from_dataframe(cls, frame, source: str | None = None) -> "History":
        """Rebuild a history from ``to_dataframe`` output (or any frame with the same columns)."""
        import pandas as pd
        ops = []
        for pos, record in enumerate(frame.to_dict("records")):
            fields = {}
            for k, v in record.items():
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue
                if k in ("index", "time") and not isinstance(v, int):
                    v = int(v)
                if k == "process" and isinstance(v, float) and v.is_integer():
                    v = int(v)
                fields[k] = v
            if "value" not in fields:
                fields["value"] = None
            ops.append(make_op(fields, position=pos, path=source))
        del pd
        return cls(ops, source=source)

    # -- summary ---------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, int]:
        counts = {t: 0 for t in TYPES}
        for op in self.ops:
            if op.is_client:
                counts[op.type] += 1
        counts["nemesis"] = len(self.ops) - sum(counts[t] for t in TYPES)
        return counts


def _split_tuple(call: Call, source: str | None) -> tuple[Any, Any]:
    value = call.value
    if not (isinstance(value, tuple) and len(value) == 2):
        raise HistoryError(f"operation {call.f} of process {call.process} has value {value!r}, not an "
                           f"independent [key value] pair", path=source, line=_line(call.invoke),
                           expected="[key value]")
    inv = call.invoke.value
    if isinstance(inv, tuple) and len(inv) == 2 and freeze(inv[0]) != freeze(value[0]):
        raise HistoryError(f"completion of process {call.process} names key {value[0]!r} but its invocation "
                           f"named {inv[0]!r}", path=source, line=_line(call.complete or call.invoke))
    inner = value[1]
    return freeze(value[0]), inner


def _line(op: Op) -> int | None:
    return op.line


def _where(op: Op) -> str:
    return f"line {op.line}" if op.line is not None else f"index {op.index}"


def history_from_dicts(maps: Iterable[dict], source: str | None = None) -> History:
    """Build a history from plain maps (``{"type": "invoke", "process": 0, "f": "read", ...}``)."""
    ops = [make_op(m, position=i, path=source) for i, m in enumerate(maps)]
    return History(ops, source=source)


def keyword(name: str) -> Keyword:
    return Keyword(name)
