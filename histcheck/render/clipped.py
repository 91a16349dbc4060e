"""Values as EDN, written only as far as they will be read.

A list-append history's reads grow with the run: the thousandth read of a key shows a thousand elements, and the
page of a 100,000-event history would hold gigabytes of EDN if every value were written whole (and take minutes to
write).  ``clipped_edn(value, limit)`` writes collections element by element and stops once about ``limit``
characters are out, saying how many elements it left out (``[1 2 3 …+997]``); atoms are written by the formats'
EDN writer (``values.show``), so that what is shown reads exactly as the file does.
"""
from __future__ import annotations

from typing import Any

from ..formats.ednwrite import edn
from ..values import Keyword

ELLIPSIS = "\u2026"
FLAT = (int, float, Keyword, bool, type(None))    # atoms whose EDN holds no space: a run of them can be cut as text


def clipped_edn(value: Any, limit: int) -> str:
    """``value`` as EDN, cut at an element boundary once about ``limit`` characters are written."""
    out: list[str] = []
    _write(value, out, [limit])
    return "".join(out)


def _atom(value: Any) -> str:
    try:
        return edn(value)
    except TypeError:               # a model's own markers: shown as Python shows them, as values.show does
        return repr(value)


def _write(value: Any, out: list[str], budget: list[int]) -> None:
    if isinstance(value, dict):
        _items(list(value.items()), "{", "}", ", ", out, budget, pair=True)
    elif isinstance(value, (set, frozenset)):
        _items(_ordered(value), "#{", "}", " ", out, budget)
    elif isinstance(value, (list, tuple)):
        open_, close = ("(", ")") if type(value).__name__ == "EdnList" else ("[", "]")
        _items(value, open_, close, " ", out, budget)
    else:
        text = _atom(value)
        if len(text) > budget[0] + 16 and isinstance(value, str):
            text = text[: max(8, budget[0])] + ELLIPSIS + f'({len(value)} chars)"'
        out.append(text)
        budget[0] -= len(text)


def _items(items: Any, open_: str, close: str, sep: str, out: list[str], budget: list[int],
           pair: bool = False) -> None:
    out.append(open_)
    budget[0] -= len(open_) + len(close)
    start = 0
    if not pair:
        start = _flat_run(items, out, budget)
    for n in range(start, len(items)):
        if budget[0] <= 0:
            out.append(f"{sep if n else ''}{ELLIPSIS}+{len(items) - n}")
            break
        if n:
            out.append(sep)
            budget[0] -= len(sep)
        item = items[n]
        if pair:
            _write(item[0], out, budget)
            out.append(" ")
            budget[0] -= 1
            _write(item[1], out, budget)
        else:
            _write(item, out, budget)
    out.append(close)


def _flat_run(items: Any, out: list[str], budget: list[int]) -> int:
    """Write the leading run of flat atoms in one go (a read of a thousand integers is one join, not a thousand
    calls), cut at the last separator within the budget; returns how many items were written."""
    head = items[:4]
    if not head or not isinstance(head[0], FLAT):
        return 0
    width = 1 + sum(len(_atom(x)) for x in head if isinstance(x, FLAT)) / len(head)
    prefix = items[: max(1, int(budget[0] / width * 1.5) + 2)]
    run = next((i for i, x in enumerate(prefix) if not isinstance(x, FLAT)), len(prefix))
    if all(x.__class__ is int for x in prefix[:run]):
        text = " ".join(map(str, prefix[:run]))
    else:
        text = " ".join([_atom(x) for x in prefix[:run]])
    if len(text) > budget[0]:
        cut = text.rfind(" ", 0, max(1, budget[0]) + 1)
        if cut > 0:
            text = text[:cut]
        elif run > 1:
            text = text[: text.index(" ")]
    written = text.count(" ") + 1
    out.append(text)
    budget[0] -= len(text)
    if written < run:                  # cut inside the run: say what was left out, and stop
        out.append(f" {ELLIPSIS}+{len(items) - written}")
        budget[0] = 0
        return len(items)
    return written                     # the loop goes on from the first item not written


def _ordered(items: Any) -> list:
    """A set's elements in the order the formats' writer puts them (by their EDN text)."""
    return sorted(items, key=_atom)
