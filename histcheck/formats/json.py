"""Reading and writing histories as JSON: one array of ops, or JSON lines (one op object per line).

JSON is how histories leave the Clojure world: elle-cli reads and writes it, and so do most tools written in
Go, Rust or Python.  Such files spell keywords as strings, ``{"type": "invoke", "f": "read", "process": 0,
"value": null}``, and some keep the colon (``":invoke"``), so a leading colon is stripped from ``type``, ``f``
and a named ``process``.  Arrays become tuples, like EDN vectors, so that a history reads the same from either
format; all other values are kept exactly as written (a string value stays a string).

JSON lines stream line by line.  A JSON array is read whole (the standard library cannot stream one) but
decoded element by element with ``raw_decode``, so each op still knows its line, and errors name the line.
"""
from __future__ import annotations

import json as _json
import re
import time
from typing import Any, Iterable, Iterator

from ..errors import HistoryError, InputError, ReadingTimedOut
from ..history import Op, make_op
from .jsonwrite import format_op_json
from .lines import MAX_DEPTH, LineSource
from .notes import ReadNotes
from .ops import op_without_process

_WHITESPACE = re.compile(r"[ \t\r\n]*")
_decoder = _json.JSONDecoder()
_NAMED = ("type", "f", "process")


class _TooDeep(Exception):
    pass


def _tuples(value: Any, depth: int = 1) -> Any:
    """JSON arrays become tuples (EDN vectors), recursively; objects stay dicts.  Deeper than ``MAX_DEPTH``
    is refused, as the EDN reader refuses it."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, list):
        return tuple([_tuples(v, depth + 1) for v in value])
    if isinstance(value, dict):
        return {k: _tuples(v, depth + 1) for k, v in value.items()}
    return value


def _fields(obj: Any, path: str | None, line: int, nested: bool = True, notes: ReadNotes | None = None) -> dict:
    """An op object's fields, ready for ``make_op``; ``nested`` is False when the text had no array and no
    object inside the op, which spares a look at every value.

    A process written as a string is read by a rule: digits are the integer they spell (``"3"`` is process 3),
    anything else names a process like ``:nemesis``; both are counted in ``notes``."""
    if not isinstance(obj, dict):
        raise InputError(f"found a JSON {type(obj).__name__} where an operation should be", path=path, line=line,
                         expected='an op object {"type": ..., "process": ..., "f": ..., "value": ...}')
    if nested:
        for key, value in obj.items():  # replacing values while iterating is fine: the keys do not change
            if value.__class__ is list or value.__class__ is dict:
                obj[key] = _tuples(value)
    for name in _NAMED:
        value = obj.get(name)
        if value.__class__ is str:
            if value[:1] == ":":
                obj[name] = value = value[1:]
            if name == "process":
                if value.isdigit() and value.isascii() and len(value) < 20:
                    obj[name] = int(value)
                    if notes is not None:
                        notes.add("digit-process", line)
                elif value != "nemesis" and notes is not None:   # "nemesis" is how elle-cli spells :nemesis
                    notes.add("named-process", line)
    return obj


def _decode_error(exc: _json.JSONDecodeError, path: str | None, line: int) -> InputError:
    return InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=line,
                      expected="a JSON object per line" if line else "a JSON value")


def _too_deep(path: str | None, line: int) -> InputError:
    return InputError(f"a value is nested more than {MAX_DEPTH} deep", path=path, line=line,
                      expected=f"arrays and objects nested at most {MAX_DEPTH} levels")


def _bad_number(exc: ValueError, path: str | None, line: int) -> InputError:
    """json refuses integers of more than 4,300 digits with a plain ValueError."""
    return InputError(f"cannot read a number: {exc}", path=path, line=line,
                      expected="integers of at most 4,300 digits")


def _op(fields: dict, position: int, line: int, path: str | None, notes: ReadNotes | None) -> Op:
    try:
        return make_op(fields, position=position, line=line, path=path)
    except HistoryError:
        return op_without_process(fields, position, line, path, notes)


def read_jsonl(lines: Iterable[bytes | str], path: str | None = None,
               notes: ReadNotes | None = None) -> Iterator[Op]:
    """Ops from JSON lines; blank lines are skipped."""
    source = LineSource.of(lines, path)
    loads = _json.loads
    position = 0
    for lineno, line in source.numbered:
        if not line.strip():
            continue
        try:
            obj = loads(line)
            fields = _fields(obj, path, lineno, "[" in line or line.count("{") > 1, notes)
        except _json.JSONDecodeError as exc:
            raise _decode_error(exc, path, lineno) from None
        except (RecursionError, _TooDeep):
            raise _too_deep(path, lineno) from None
        except ValueError as exc:
            raise _bad_number(exc, path, lineno) from None
        try:
            op = make_op(fields, position=position, line=lineno, path=path)
        except HistoryError:
            op = op_without_process(fields, position, lineno, path, notes)
        yield op
        position += 1


def read_json(text: str, path: str | None = None, notes: ReadNotes | None = None,
              deadline: float | None = None) -> Iterator[Op]:
    """Ops from one JSON array of op objects (an empty file is an empty history)."""
    pos = _WHITESPACE.match(text).end()
    if pos == len(text):
        return
    line = 1 + text.count("\n", 0, pos)
    if text[pos] != "[":
        raise InputError("a JSON history must be one array of op objects", path=path, line=line,
                         expected="[")
    pos += 1
    position = 0
    while True:
        start = _WHITESPACE.match(text, pos).end()
        line += text.count("\n", pos, start)
        if start == len(text):
            raise InputError("the file ends inside the array; is it truncated?", path=path, line=line,
                             expected="]")
        if text[start] == "]":
            break
        if position:
            if text[start] != ",":
                raise InputError(f"found {text[start]!r} after an op", path=path, line=line, expected=", or ]")
            pos = start + 1
            start = _WHITESPACE.match(text, pos).end()
            line += text.count("\n", pos, start)
            if start == len(text):
                raise InputError("the file ends inside the array; is it truncated?", path=path, line=line,
                                 expected="an op object")
        try:
            obj, end = _decoder.raw_decode(text, start)
            fields = _fields(obj, path, line, True, notes)
        except _json.JSONDecodeError as exc:
            raise _decode_error(exc, path, exc.lineno) from None
        except (RecursionError, _TooDeep):
            raise _too_deep(path, line) from None
        except ValueError as exc:
            raise _bad_number(exc, path, line) from None
        yield _op(fields, position, line, path, notes)
        position += 1
        if deadline is not None and not position % 4096 and time.monotonic() > deadline:
            raise ReadingTimedOut(path, line)
        line += text.count("\n", start, end)
        pos = end
    rest = start + 1
    if text[rest:].strip():
        extra = _WHITESPACE.match(text, rest).end()
        raise InputError("text after the end of the array", path=path, line=line + text.count("\n", start, extra),
                         expected="nothing after ]")


def write_jsonl(ops: Iterable[Op], stream) -> None:
    """One JSON object per line, fields in Jepsen's order."""
    write = stream.write
    for op in ops:
        write(format_op_json(op))
        write("\n")


def write_json(ops: Iterable[Op], stream) -> None:
    """One JSON array, one op per line, so that it diffs and greps like JSON lines."""
    write = stream.write
    write("[")
    first = True
    for op in ops:
        write("\n" if first else ",\n")
        write(format_op_json(op))
        first = False
    write("\n]\n")
