"""The models, by name, and the rules for guessing one from a history's operations.

Each model lives in its own module and documents what its operations mean.  Which models exist is written once,
in ``histcheck.registry`` (kind ``models``: the built-ins and any plugin's); ``MODELS`` is a read-only view of
it that imports a model's module only when that model is looked up, and ``histcheck models`` prints it.
``get(name)`` returns a fresh instance; a user's own ``Model`` instance can be passed anywhere a name is.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from .. import registry
from ..errors import InputError
from .base import ANYTHING, Inconsistent, Model


class _Registered(Mapping):
    """The registry's models as a name -> class mapping (lookups import one module; iteration lists them all)."""

    def __getitem__(self, name: str) -> type[Model]:
        if name not in registry.BUILTINS["models"] and name not in registry.names("models"):
            raise KeyError(name)
        return registry.get("models", name)

    def __iter__(self) -> Iterator[str]:
        return iter(registry.names("models"))

    def __len__(self) -> int:
        return len(registry.names("models"))


MODELS: Mapping[str, type[Model]] = _Registered()

__all__ = ["Model", "Inconsistent", "ANYTHING", "MODELS", "get", "infer"]


def get(name: str | Model) -> Model:
    """A model instance by name (``cas-register``), or the instance itself when one is given."""
    if isinstance(name, Model):
        return name
    try:
        cls = MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}", expected="one of " + ", ".join(MODELS)) from None
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
