"""Reading and writing histories in the formats Jepsen-style tools use.

``load(path)`` is the front door: it detects the format (``detect``), streams the file through the matching
reader and returns a ``History`` whose ``source`` and ``format`` say where it came from.  Readers live one per
module -- ``edn`` (Jepsen and Knossos), ``json`` (arrays and JSON lines), ``jepsen_log`` (op lines of a Jepsen
log), ``porcupine_kv`` (Porcupine's key-value files) -- and every one of them reports bad input as an
``InputError`` with the file and line, never as a raw Python exception.

Writers produce Jepsen's own ``history.edn`` layout (one op map per line), JSON lines or a JSON array;
``format_op`` and ``format_op_json`` write a single op, which is how the runner journals a test as it runs.
Reading what we wrote gives back the same history.
"""
from __future__ import annotations

import gc
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import InputError
from ..history import History, Op
from .detect import FORMATS, detect, detect_lines
from .edn import read_edn, write_edn
from .ednwrite import format_op
from .jepsen_log import read_jepsen_log
from .json import read_json, read_jsonl, write_json, write_jsonl
from .jsonwrite import format_op_json
from .lines import open_lines, text_lines, utf8_error
from .porcupine_kv import read_porcupine_kv

__all__ = ["load", "loads", "detect", "write", "dumps", "format_op", "format_op_json", "FORMATS",
           "WRITE_FORMATS"]

_LINE_READERS: dict[str, Callable[..., Iterator[Op]]] = {
    "edn": read_edn,
    "jsonl": read_jsonl,
    "jepsen-log": read_jepsen_log,
    "porcupine-kv": read_porcupine_kv,
}
_WRITERS: dict[str, Callable[[Iterable[Op], object], None]] = {
    "edn": write_edn,
    "jsonl": write_jsonl,
    "json": write_json,
}
WRITE_FORMATS = tuple(_WRITERS)


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while building ops: they hold no cycles, and collecting while
    millions of young objects survive costs a third of the reading time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_format(format: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if format not in allowed:
        raise InputError(f"unknown history format {format!r}", expected="one of " + ", ".join(allowed))


def load(path: str | Path, format: str = "auto") -> History:
    """Read the history at ``path``; ``format`` is one of ``auto`` or ``FORMATS``."""
    _check_format(format, ("auto",) + FORMATS)
    where = str(path)
    if format == "auto":
        format = detect(path)
    try:
        with open_lines(path) as stream, _bulk():
            if format == "json":
                ops = list(read_json(stream.read(), where))
            else:
                ops = list(_LINE_READERS[format](stream, where))
    except UnicodeDecodeError:
        raise utf8_error(path) from None
    return History(ops, source=where, format=format)


def loads(text: str, format: str = "auto", source: str | None = None) -> History:
    """Read a history from a string (``format`` as for ``load``; ``auto`` sniffs the text)."""
    _check_format(format, ("auto",) + FORMATS)
    if format == "auto":
        format = detect_lines(text_lines(text), source, Path(source).suffix.lower() if source else "")
    with _bulk():
        if format == "json":
            ops = list(read_json(text, source))
        else:
            ops = list(_LINE_READERS[format](text_lines(text), source))
    return History(ops, source=source, format=format)


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
