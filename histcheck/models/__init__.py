"""The built-in models, by name, and the rules for guessing one from a history's operations.

Each model lives in its own module and documents what its operations mean; ``histcheck models`` prints this
registry.  ``get(name)`` returns a fresh instance; a user's own ``Model`` instance can be passed anywhere a name is.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import InputError
from .base import ANYTHING, Inconsistent, Model
from .kv import KV
from .multi_register import MultiRegister
from .mutex import Mutex
from .queue import FifoQueue, UnorderedQueue
from .register import CasRegister, Register
from .set import SetModel

MODELS: dict[str, type[Model]] = {
    cls.name: cls
    for cls in (Register, CasRegister, MultiRegister, Mutex, SetModel, FifoQueue, UnorderedQueue, KV)
}

__all__ = ["Model", "Inconsistent", "ANYTHING", "MODELS", "get", "infer"]


def get(name: str | Model) -> Model:
    """A model instance by name (``cas-register``), or the instance itself when one is given."""
    if isinstance(name, Model):
        return name
    cls = MODELS.get(name)
    if cls is None:
        raise InputError(f"unknown model {name!r}", expected="one of " + ", ".join(MODELS))
    return cls()


_RULES: list[tuple[frozenset, str]] = [
    (frozenset({"txn"}), "multi-register"),
    (frozenset({"acquire", "release"}), "mutex"),
    (frozenset({"enqueue", "dequeue"}), "fifo-queue"),
    (frozenset({"get", "put", "append"}), "kv"),
    (frozenset({"read", "write"}), "register"),
    (frozenset({"read", "write", "cas"}), "cas-register"),
    (frozenset({"add", "read"}), "set"),
]


def infer(fs: Iterable[str]) -> str | None:
    """The model whose operations cover ``fs`` most tightly, or None when nothing fits."""
    wanted = frozenset(str(f) for f in fs)
    if not wanted:
        return None
    fitting = [(len(ops), name) for ops, name in _RULES if wanted <= ops]
    return min(fitting)[1] if fitting else None
