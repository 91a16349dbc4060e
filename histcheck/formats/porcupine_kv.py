"""Porcupine's key-value histories: one EDN op map per line, with the key in its own field.

Porcupine (anishathalye/porcupine) ships key-value test histories written as::

    {:process 4, :type :invoke, :f :append, :key "7", :value "x 4 12 y"}

with ``f`` one of get/put/append, string values, and neither ``:index`` nor ``:time``: line order is event
order.  Syntactically this is just an EDN stream, so reading is the EDN reader's job; this module exists so that
detection can name the format (it tells the checker that the history is keyed by a ``:key`` field, which
``History.key_style`` then sees as ``"field"``), and to write such files back in the same shape.  The key stays
in ``Op.extra["key"]``, as every field the core does not know does.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from ..history import Op
from .edn import read_edn
from .ednwrite import edn, edn_keyword
from .notes import ReadNotes

KV_FS = frozenset(("get", "put", "append"))


def looks_like_kv(ops: list[Op], text: str) -> bool:
    """Whether sniffed ops are Porcupine kv ops: a ``:key`` on every client op, no ``:index``, kv fs only."""
    client = [op for op in ops if op.is_client]
    if not client or ":index" in text:
        return False
    return all(op.extra is not None and "key" in op.extra and op.f in KV_FS for op in client)


def read_porcupine_kv(lines: Iterable[bytes | str], path: str | None = None,
                      notes: ReadNotes | None = None) -> Iterator[Op]:
    """Ops from a Porcupine kv file (the EDN reader; ``:index`` is the 0-based line position of the op)."""
    return read_edn(lines, path, notes=notes)


def format_kv_line(op: Op) -> str:
    """One op the way Porcupine's kv files write it: no index, no time, the key before the value."""
    process = edn_keyword(op.process) if isinstance(op.process, str) else edn(op.process)
    f = edn_keyword(op.f) if isinstance(op.f, str) else edn(op.f)
    parts = [f"{{:process {process}", f":type :{op.type}", f":f {f}"]
    extra = dict(op.extra or {})
    if "key" in extra:
        parts.append(f":key {edn(extra.pop('key'))}")
    parts.append(f":value {edn(op.value)}")
    parts += [f"{edn_keyword(k) if isinstance(k, str) else edn(k)} {edn(v)}" for k, v in extra.items()]
    return ", ".join(parts) + "}"
