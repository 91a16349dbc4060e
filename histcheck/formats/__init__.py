"""Reading and writing histories in the formats Jepsen-style tools use.

``load(path)`` is the front door: it opens the input once (``lines.open_input``: a file, ``-``, a pipe or FIFO,
gzip or not), detects the format from the content (``detect``), streams it through the matching reader and
returns a ``History`` whose ``source``, ``format`` and ``meta["notes"]`` say where it came from and what was
noticed on the way.  Readers live one per module -- ``edn`` (Jepsen and Knossos), ``json`` (arrays and JSON
lines), ``jepsen_log`` (op lines of a Jepsen log, and ``history.txt``), ``porcupine_kv`` (Porcupine's key-value
files) -- and every one of them reports bad input as an ``InputError`` with the file and line, never as a raw
Python exception.  ``require_operations`` and ``check_order`` are what a checker asks before it trusts a
history: that something was read, and that file order is real-time order.

Writers produce Jepsen's own ``history.edn`` layout (one op map per line), JSON lines or a JSON array;
``format_op`` and ``format_op_json`` write a single op, which is how the runner journals a test as it runs.
Reading what we wrote gives back the same history.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..gcpause import paused_gc
from ..errors import InputError, ReadingTimedOut
from ..history import History, Op
from .detect import FORMATS, detect, detect_input, detect_lines, suffix_of
from .edn import read_edn, write_edn
from .ednwrite import format_op
from .jepsen_log import read_jepsen_log, read_jepsen_txt
from .json import read_json, read_jsonl, write_json, write_jsonl
from .jsonwrite import format_op_json
from .lines import Input, LineSource, located, open_input, text_lines
from .notes import ReadNotes
from .order import check_order
from .porcupine_kv import read_porcupine_kv
from .require import require_operations

__all__ = ["load", "loads", "detect", "write", "dumps", "format_op", "format_op_json", "FORMATS",
           "WRITE_FORMATS", "require_operations", "check_order"]

_LINE_READERS: dict[str, Callable[..., Iterator[Op]]] = {
    "edn": read_edn,
    "jsonl": read_jsonl,
    "jepsen-log": read_jepsen_log,
    "jepsen-txt": read_jepsen_txt,
    "porcupine-kv": read_porcupine_kv,
}
_WRITERS: dict[str, Callable[[Iterable[Op], object], None]] = {
    "edn": write_edn,
    "jsonl": write_jsonl,
    "json": write_json,
}
WRITE_FORMATS = tuple(_WRITERS)


def _check_format(format: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if format not in allowed:
        raise InputError(f"unknown history format {format!r}", expected="one of " + ", ".join(allowed))


def load(path: str | Path, format: str = "auto", *, deadline: float | None = None) -> History:
    """Read the history at ``path`` (``-`` is standard input; gzip is read as what it holds); ``format`` is one
    of ``auto`` or ``FORMATS``.  The input is read once, whatever it is.  Past ``deadline`` (a
    ``time.monotonic()`` value) reading stops with ``ReadingTimedOut``.  What the readers noticed besides ops
    (skipped lines, process ids read by a rule, :index out of order) is in ``history.meta["notes"]``."""
    _check_format(format, ("auto",) + FORMATS)
    suffix = suffix_of(path)
    with open_input(path, deadline=deadline) as opened, paused_gc():
        if format == "auto":
            format = detect_input(opened, suffix)
        first = _first_content(opened)
        notes = ReadNotes()
        ops = _read(opened, format, notes, deadline)
    return _finish(ops, opened.name, format, notes, first)


_BLANK = " \t\r\n"  # what an empty input may hold; str.strip() would also drop control characters like \x1f


def _first_content(opened: Input) -> tuple[int, str] | None:
    """The first non-blank line and its number (read ahead and kept): what "no operations found" quotes."""
    for lineno, line in enumerate(opened.head_lines(), 1):
        if line.strip(_BLANK):
            return lineno, line.strip()
        if lineno > 10_000:
            break
    return None


def _read(opened: Input, format: str, notes: ReadNotes, deadline: float | None) -> list[Op]:
    if format == "json":
        return list(read_json(opened.read_all(), opened.name, notes=notes, deadline=deadline))
    source = LineSource(opened.lines(), opened.name, deadline=deadline)
    try:
        return list(_LINE_READERS[format](source, opened.name, notes=notes))
    except UnicodeDecodeError as exc:
        raise opened.decode_error(exc, source.lines_handed_out()) from None
    except (InputError, ReadingTimedOut) as exc:   # from the raw stream, which knows no lines
        raise located(exc, source.lines_handed_out() + 1) from None


def _finish(ops: list[Op], source: str | None, format: str, notes: ReadNotes,
            first: tuple[int, str] | None) -> History:
    history = History(ops, source=source, format=format)
    history.meta["notes"] = notes.messages()
    history.meta["first_content"] = first
    return history


def loads(text: str, format: str = "auto", source: str | None = None) -> History:
    """Read a history from a string (``format`` as for ``load``; ``auto`` sniffs the text)."""
    _check_format(format, ("auto",) + FORMATS)
    if format == "auto":
        format = detect_lines(text_lines(text), source, Path(source).suffix.lower() if source else "")
    notes = ReadNotes()
    with paused_gc():
        if format == "json":
            ops = list(read_json(text, source, notes=notes))
        else:
            ops = list(_LINE_READERS[format](text_lines(text), source, notes=notes))
    first = next(((n, line.strip()) for n, line in enumerate(text_lines(text), 1) if line.strip(_BLANK)), None)
    return _finish(ops, source, format, notes, first)


def write(history: History | Iterable[Op], path: str | Path, format: str = "edn") -> None:
    """Write a history (or any ops) to ``path`` as ``edn`` (Jepsen's history.edn), ``jsonl`` or ``json``."""
    _check_format(format, WRITE_FORMATS)
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as stream:
            _WRITERS[format](history, stream)
    except OSError as exc:
        raise InputError(f"cannot write the history: {exc.strerror}", path=str(path),
                         expected="a writable path") from None


def dumps(history: History | Iterable[Op], format: str = "edn") -> str:
    """The text ``write`` would put in a file."""
    _check_format(format, WRITE_FORMATS)
    out = io.StringIO()
    _WRITERS[format](history, out)
    return out.getvalue()
