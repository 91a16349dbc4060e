"""Writing operations as JSON, the way elle-cli and most non-Clojure tools read Jepsen histories.

JSON has no keywords, symbols, sets or tags, so values are flattened with ``values.to_plain``: keywords become
strings (``"invoke"``, ``"read"``), vectors and sets become arrays, tagged literals ``{"#tag": value}``.  This is
lossy only where JSON itself is: a history written as JSON and read back compares equal to the original after
``to_plain`` on both sides, and exactly equal when it held no sets, tags or non-string map keys.

``format_op_json`` is public because the runner journals ops with it while a test runs.
"""
from __future__ import annotations

import json as _json
from typing import Any

from ..history import Op
from ..values import Keyword, Symbol, to_plain

def _default(value: Any) -> Any:
    """numpy scalars and other objects with ``.item()`` become plain numbers; anything else is our bug."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")


# ensure_ascii: a lone surrogate in a string must not make the file unwritable as UTF-8.
_encoder = _json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "), default=_default)


_SCALARS = frozenset((int, float, str, Keyword, Symbol, bool, type(None)))


def _plain(value: Any) -> Any:
    """``to_plain``, skipped for the scalars JSON takes as they are (keywords are strings already)."""
    return value if type(value) in _SCALARS else to_plain(value)


def op_to_plain(op: Op) -> dict[str, Any]:
    """The op as a JSON-ready dict with Jepsen's field names and order."""
    out: dict[str, Any] = {"index": op.index}
    if op.time is not None:
        out["time"] = _plain(op.time)
    out["type"] = op.type
    out["process"] = _plain(op.process)
    out["f"] = _plain(op.f)
    out["value"] = _plain(op.value)
    if op.extra:
        for key, value in op.extra.items():
            out[str.__str__(key) if isinstance(key, str) else repr(key)] = _plain(value)
    return out


def format_op_json(op: Op) -> str:
    """One op as one line of JSON (no trailing newline): ``{"index": 0, "type": "invoke", ...}``."""
    return _encoder.encode(op_to_plain(op))
