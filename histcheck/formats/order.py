"""Whether the events of a history are in the order their ``:index`` says.

Checkers take events in file order, which is what real time means for them (docs/semantics.md).  Jepsen numbers
events in that same order, so an ``:index`` that repeats or goes backwards means the file was edited, merged or
sorted by something else.  Where only the index disagrees, file order stands and a note says so.  Where
``:time`` agrees with the index against the file -- two witnesses that the events happened in another order than
the file's -- nobody can say which order is real, and reading stops with an error naming both lines.
"""
from __future__ import annotations

import operator
from itertools import islice

from ..errors import InputError
from ..history import History, Op
from .notes import ReadNotes


def check_order(history: History) -> list[str]:
    """Notes on repeated and backwards ``:index`` values; raise where index and time both contradict the file.
    Readers do not call this (they never interpret a history); checkers that take file order as real time do."""
    notes = ReadNotes()
    _check(history.ops, history.source, notes)
    return notes.messages()


def _check(ops: list[Op], path: str | None, notes: ReadNotes) -> None:
    indexes = [op.index for op in ops]
    if all(map(operator.lt, indexes, islice(indexes, 1, None))):
        return  # the common case, decided in C
    seen: set[int] = set()
    previous: Op | None = None
    for op in ops:
        index = op.index
        if index in seen:
            notes.add("index-repeated", op.line)
        elif previous is not None and index < previous.index:
            if (op.time is not None and previous.time is not None and _is_int(op.time) and _is_int(previous.time)
                    and op.time < previous.time):
                raise InputError(f"the file puts this op (:index {index}, :time {op.time}) after the one at line "
                                 f"{previous.line} (:index {previous.index}, :time {previous.time}), but its "
                                 ":index and :time both put it before", path=path, line=op.line,
                                 expected="events in real-time order (as Jepsen writes them)")
            notes.add("index-backwards", op.line)
        seen.add(index)
        previous = op


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
