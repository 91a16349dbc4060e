"""What a workload is: the operations it generates, how a client performs them, and how they are checked.

A workload is written against the small key-value interface of ``histcheck.run.clients`` (``read``, ``write``,
``cas``, ``read_prefix``, ``read_many``, ``multi_cas``), so every DB that supplies a client runs every workload.
``invoke`` returns the completion ``(type, value)``; a client error it lets through is turned by the runner into
``:fail`` when definite and ``:info`` when not (``:fail`` for the workload's ``reads``): docs/semantics.md.  ``check``
turns the recorded history into a ``Result``
with the registered checker ``checker_name`` (``linearizable`` against ``model``, ``set``, ``bank``, ...) and the
options ``checker_options`` gives it, so that ``histcheck analyze --checker NAME`` re-judges a stored run the same
way.
"""
from __future__ import annotations

import random
from typing import Any

from histcheck.checker.result import Result
from histcheck.history import History

Completion = tuple[str, Any]


class Workload:
    """Base class; subclasses set ``name``, ``checker_name`` (and ``model`` for linearizability), a ``checker``
    description, and fill in the three verbs."""

    name = "workload"
    model: str | None = None
    checker_name = "linearizable"
    checker = ""
    reads: frozenset[str] = frozenset({"read"})
    prefix = "hc"
    takes_mix = False  # whether ``--mix read=2,write=1,cas=1`` weights its operations (options["mix"])

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def setup(self, client: Any) -> None:
        """Write whatever must exist before the first operation (bank accounts)."""

    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        raise NotImplementedError

    def invoke(self, client: Any, f: str, value: Any) -> Completion:
        raise NotImplementedError

    def final_ops(self) -> list[tuple[str, Any]]:
        """Operations run once after the main phase and recovery (final reads)."""
        return []

    def checker_options(self) -> dict[str, Any]:
        """What the checker is told beyond the history (the model and a nil initial value, a bank's total)."""
        return {"model": self.model, "init": None} if self.checker_name == "linearizable" else {}

    def check(self, history: History) -> Result:
        from histcheck.checkers import check
        return check(history, self.checker_name, **self.checker_options())

    def describe(self) -> dict[str, Any]:
        return {"workload": self.name, "model": self.model, "checker": self.checker or self.model,
                "checker-name": self.checker_name, "checker-options": {k: v for k, v in
                                                                       self.checker_options().items()
                                                                       if k != "init"}}


def mix(rng: random.Random, weights: dict[str, float]) -> str:
    """Pick an operation name with the given relative weights."""
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]
