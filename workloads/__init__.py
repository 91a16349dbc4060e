"""Workloads for ``histcheck run``: one module per workload, each naming the model or checker that judges it.

``get(name, options)`` builds one; ``NAMES`` lists them.
"""
from __future__ import annotations

from typing import Any

from .base import Workload

NAMES = ("register", "multi-register", "set", "counter", "bank", "append", "list-append")


def get(name: str, options: dict[str, Any] | None = None) -> Workload:
    """The workload called ``name`` (one of ``NAMES``)."""
    if name == "register":
        from .register import Register as cls
    elif name == "multi-register":
        from .multi_register import MultiRegister as cls
    elif name == "set":
        from .set import SetWorkload as cls
    elif name == "counter":
        from .counter import Counter as cls
    elif name == "bank":
        from .bank import Bank as cls
    elif name == "append":
        from .append import Append as cls
    elif name == "list-append":
        from .list_append import ListAppend as cls
    else:
        from histcheck.errors import InputError
        raise InputError(f"unknown workload {name!r}", expected="one of " + ", ".join(NAMES))
    return cls(options)
