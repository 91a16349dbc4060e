"""Writing values and operations as EDN, exactly as Jepsen writes ``history.edn``.

Jepsen (0.2 and later) writes one operation map per line, ``{:index 0, :time 123, :type :invoke, :process 0,
:f :read, :value nil}``: core fields first, in that order, then whatever else the op carried.  We write the same
thing so that a history histcheck recorded can be read back by Jepsen, Knossos or elle-cli, and so that a
history we read can be written back without losing anything (``read(write(h)) == h``).

The runner journals every operation with ``format_op`` while a test runs, so this module is small, has no
dependency on the parser, and is written for speed: one ``str.join`` per op, a type dispatch per value.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from ..history import Op
from ..values import EdnList, Keyword, Symbol, Tagged

# Characters that may appear in a keyword or symbol name without confusing an EDN reader.
_NAME = re.compile(r"[A-Za-z*!_?$%&=<>.+\-][A-Za-z0-9*!_?$%&=<>.+\-:#'/]*\Z")
_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\ud800-\udfff]')


def _escape_char(match: re.Match) -> str:
    ch = match.group()
    return _STRING_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def edn_string(text: str) -> str:
    """A string literal; control characters are escaped so that one op always stays on one line."""
    body = str.__str__(text)
    if _NEEDS_ESCAPE.search(body):
        body = _NEEDS_ESCAPE.sub(_escape_char, body)
    return '"' + body + '"'


def edn_keyword(name: str) -> str:
    """``:name`` for a name an EDN reader accepts; anything else is written as a string (never a broken file)."""
    name = str.__str__(name)
    if _NAME.match(name) and not _looks_numeric(name):
        return ":" + name
    return edn_string(name)


def _looks_numeric(name: str) -> bool:
    return name[0] in "+-." and len(name) > 1 and name[1].isdigit()


def _float(value: float) -> str:
    if math.isnan(value):
        return "##NaN"
    if math.isinf(value):
        return "##Inf" if value > 0 else "##-Inf"
    return repr(value)


def _seq(items: Any, open_: str, close: str) -> str:
    return open_ + " ".join([edn(v) for v in items]) + close


def _map(value: dict) -> str:
    return "{" + ", ".join([f"{_key(k)} {edn(v)}" for k, v in value.items()]) + "}"


def _key(key: Any) -> str:
    """Map keys: keep keywords keywords and plain strings strings, as they were read."""
    return edn(key)


def _set(value: Any) -> str:
    return "#{" + " ".join(sorted(edn(v) for v in value)) + "}"


def _tagged(value: Tagged) -> str:
    return f"#{value.tag} {edn(value.value)}"


def _symbol(value: Symbol) -> str:
    name = str.__str__(value)
    if _NAME.match(name) and not _looks_numeric(name) and name not in ("nil", "true", "false"):
        return name
    return edn_string(name)


_WRITERS: dict[type, Callable[[Any], str]] = {
    Keyword: lambda v: edn_keyword(v),
    Symbol: _symbol,
    str: edn_string,
    int: str,
    float: _float,
    EdnList: lambda v: _seq(v, "(", ")"),
    tuple: lambda v: _seq(v, "[", "]"),
    list: lambda v: _seq(v, "[", "]"),
    dict: _map,
    frozenset: _set,
    set: _set,
    Tagged: _tagged,
}


def edn(value: Any) -> str:
    """One value as EDN text (``nil``, ``3``, ``:x``, ``"s"``, ``[1 2]``, ``#{1}``, ``{:a 1}``)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    writer = _WRITERS.get(type(value))
    if writer is not None:
        return writer(value)
    return _fallback(value)


def _fallback(value: Any) -> str:
    """Subclasses of the types above (and numpy scalars the runner may hand us)."""
    for kind, writer in _WRITERS.items():
        if isinstance(value, kind):
            return writer(value)
    if hasattr(value, "item"):  # numpy scalar
        return edn(value.item())
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as EDN")


def _name_or_value(value: Any) -> str:
    """``:type``, ``:f`` and a named ``:process`` are keywords in Jepsen's files even when we read strings."""
    if isinstance(value, str) and not isinstance(value, Symbol):
        return edn_keyword(value)
    return edn(value)


def format_op(op: Op) -> str:
    """One op as the line Jepsen would write for it (no trailing newline).

    Field order is Jepsen's: ``:index``, ``:time`` (when known), ``:type``, ``:process``, ``:f``, ``:value``,
    then extra keys in the order they were read.
    """
    parts = [f"{{:index {op.index}"]
    if op.time is not None:
        parts.append(f":time {edn(op.time)}")
    parts.append(f":type :{op.type}")
    parts.append(f":process {_name_or_value(op.process)}")
    parts.append(f":f {_name_or_value(op.f)}")
    parts.append(f":value {edn(op.value)}")
    if op.extra:
        for key, value in op.extra.items():
            key_text = edn_keyword(key) if isinstance(key, str) and not isinstance(key, Symbol) else edn(key)
            parts.append(f"{key_text} {edn(value)}")
    return ", ".join(parts) + "}"
