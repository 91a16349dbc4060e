"""Workloads for ``histcheck run``: one module per workload, each naming the model or checker that judges it.

They are the ``workloads`` entries of ``histcheck.registry`` (built-ins and plugins alike); ``get(name, options)``
builds one.
"""
from __future__ import annotations

from typing import Any

from histcheck import registry

from .base import Workload


def get(name: str, options: dict[str, Any] | None = None) -> Workload:
    """The workload registered as ``name``, built with ``options`` (an input error naming the choices when none)."""
    return registry.get("workloads", name)(options)
