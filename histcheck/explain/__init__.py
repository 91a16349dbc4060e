"""Explaining a verdict: sentences a person can check, and the smallest history that still fails.

``explain(history, result, counterexample)`` writes the explanation (``explanation.txt``); ``minimize(history,
result, model=..., init=...)`` delta-debugs the failing key down to a 1-minimal ``Counterexample``.
"""
from __future__ import annotations

from .minimize import Counterexample, ddmin, minimize
from .sentences import describe, explain, explain_lines

__all__ = ["Counterexample", "ddmin", "minimize", "describe", "explain", "explain_lines"]
