"""EDN-flavoured values that survive a round trip through histcheck.

Jepsen histories are EDN: keywords (``:read``), symbols, vectors, lists, sets, maps and tagged literals.  Python
has none of keywords, symbols or tags, and JSON has none of them either, so histcheck keeps them in tiny
subclasses of built-in types.  ``Keyword`` *is a* ``str``: a model compares ``:x`` equal to ``"x"`` (so a history
read from JSON, where keywords are strings, checks the same), while the EDN writer can still print ``:x`` back.

Vectors and lists become tuples and sets frozensets, so that every value is hashable and can be part of a model
state; maps stay dicts, and ``freeze`` turns them into sorted tuples where hashing is needed.
"""
from __future__ import annotations

from typing import Any


class Keyword(str):
    """An EDN keyword, ``:name``; equal to the plain string ``name``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol, such as ``nil``-free bare words in hand-written histories."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


class EdnList(tuple):
    """An EDN list ``( ... )``: a tuple that remembers it was written with parentheses."""

    __slots__ = ()


class Tagged:
    """A tagged literal ``#tag value`` that histcheck does not interpret (``#inst`` and ``#uuid`` included)."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tagged) and other.tag == self.tag and other.value == self.value

    def __hash__(self) -> int:
        return hash((self.tag, freeze(self.value)))

    def __repr__(self) -> str:
        return f"#{self.tag} {self.value!r}"


def freeze(value: Any) -> Any:
    """Turn a parsed value into a hashable one (dicts into sorted item tuples, lists into tuples)."""
    cls = value.__class__
    if cls is int or cls is str or value is None or cls is Keyword:
        return value
    if isinstance(value, dict):
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in value.items()), key=repr))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, EdnList):
        return EdnList(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(freeze(v) for v in value)
    return value


def to_plain(value: Any) -> Any:
    """Turn a value into plain JSON-ready Python (keywords become strings, sets sorted lists, tags dicts)."""
    cls = value.__class__
    if cls is int or cls is str or value is None or cls is float or cls is bool:
        return value
    if isinstance(value, (Keyword, Symbol)):
        return str.__str__(value)
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else repr(k)) if not isinstance(k, (Keyword, Symbol))
                else str.__str__(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, Tagged):
        return {"#" + value.tag: to_plain(value.value)}
    return value


def show(value: Any) -> str:
    """Render a value the way a Jepsen user reads it: ``nil``, ``[1 2]``, ``:x``, ``"s"`` (EDN, as histcheck writes
    it); values EDN cannot express (a model's own markers) fall back to their ``repr``."""
    cls = value.__class__
    if cls is int:
        return str(value)
    if value is None:
        return "nil"
    try:
        return (_edn or _import_edn())(value)
    except TypeError:
        return repr(value)


_edn: Any = None


def _import_edn() -> Any:
    """The EDN writer, imported once (it imports this module; a failure report shows hundreds of values)."""
    global _edn
    from .formats.ednwrite import edn
    _edn = edn
    return edn
