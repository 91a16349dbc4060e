"""Pausing Python's cyclic garbage collector around work that builds many objects and no cycles.

Reading a history, pairing it and checking it allocate millions of small objects (ops, calls, tuples, dicts)
that all stay alive until the work ends and never form a cycle.  The collector would walk them again and again
for nothing: on a million events that was a third of reading and of checking, and half of an Elle check of
100,000 transactions.  Reference counting still frees memory as usual while the collector is paused.
"""
from __future__ import annotations

import gc


class paused_gc:
    """``with paused_gc():`` -- the collector is off inside and back as it was after (nesting is fine).  A class
    rather than a generator-based context manager: a check of a small history costs tens of microseconds."""

    __slots__ = ("_enabled",)

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            gc.enable()
