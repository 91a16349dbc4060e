"""Checkers: what judges a history (Jepsen's ``jepsen.checker``), one module per checker.

``check(history, "set", **options) -> Result`` is the API; ``get(name)`` gives a checker, ``compose`` several as
one, ``infer(history)`` the checker the operations call for.  The built-ins are registered in
``histcheck.registry`` (kind ``checkers``) and imported only when used, so that linearizability analyses pay for
none of them.  See docs/checkers.md.
"""
from __future__ import annotations

from .base import Checker, ComposedResult, Inference, check, compose, get, infer, merge_valid

__all__ = ["Checker", "ComposedResult", "Inference", "check", "compose", "get", "infer", "merge_valid"]
