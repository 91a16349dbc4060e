"""histcheck: find consistency bugs in distributed systems, and check histories for linearizability, fast.

The public API is small on purpose (Porcupine's lesson):

* ``load(path, format="auto") -> History``: read a Jepsen history in any supported format;
* ``check(history, model=..., init=..., time_limit=None) -> Result``: decide it for a model;
* ``History``, ``Result``, ``Model`` and ``models.get(name)`` for everything else.

Importing ``histcheck`` loads almost nothing: ``History``, ``Op``, ``Call`` and ``Result`` are imported when first
named, and the checker, the formats and numba when ``check``, ``load`` or the kernel need them.  ``histcheck
--help`` and the check of a small file never wait for what they do not use (docs/architecture.md, "Imports").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import HistcheckError, InputError

if TYPE_CHECKING:
    from .checker.result import Result
    from .history import Call, History, Op

__all__ = ["load", "check", "History", "Op", "Call", "Result", "HistcheckError", "InputError"]
__version__ = "0.1.0"

_LAZY = {"History": ".history", "Op": ".history", "Call": ".history", "Result": ".checker.result"}


def __getattr__(name: str) -> Any:
    """``histcheck.History`` and the like, imported on first use (PEP 562)."""
    if name in _LAZY:
        from importlib import import_module
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'histcheck' has no attribute {name!r}")


def load(path, format: str = "auto") -> History:
    """Read a history from ``path`` (``-`` is standard input; gzip is read as what it holds); ``format`` is
    ``auto`` or one of ``formats.FORMATS``."""
    from .formats import load as _load
    return _load(path, format=format)


def check(history: History, model="cas-register", init=None, **options) -> Result:
    """Check ``history`` for linearizability against ``model`` (a name or a Model) from ``init``.

    Options: ``time_limit`` (seconds), ``memory_limit`` (bytes), ``nil_read`` (``absent`` or ``unknown``),
    ``partition`` (check independent keys separately; default on), ``engine`` (``kernel`` or ``reference``).
    A limit that is not a usable number (NaN, infinite, negative) and an operation without a process (the
    search pairs calls by process) are an ``InputError``.
    """
    checker = _checker or _import_checker()
    checker.check_time_limit(options.get("time_limit"), "time_limit")
    checker.check_memory_limit(options.get("memory_limit"), "memory_limit")
    checker.require_processes(history)
    return checker.check(history, model=model, init=init, **options)


_checker: Any = None


def _import_checker() -> Any:
    """What ``check`` calls, imported on its first call and kept: import statements in ``check`` itself cost a
    few microseconds on every call, a tenth of checking a small history."""
    global _checker
    from types import SimpleNamespace
    from .checker import check
    from .errors import check_memory_limit, check_time_limit
    from .formats.ops import require_processes
    _checker = SimpleNamespace(check=check, check_time_limit=check_time_limit,
                               check_memory_limit=check_memory_limit, require_processes=require_processes)
    return _checker
