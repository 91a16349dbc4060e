"""Linearizability (Knossos's and Porcupine's question) as one checker among the others.

``linearizable`` runs histcheck's WGL search (``histcheck.checker.check``) against a model, and adds to an invalid
result its one anomaly, kind ``linearizability``, beside the ``Failure`` the renderers draw: the operation that
cannot be linearized and the last ``:ok`` one before it.  Options (hyphens or underscores): ``model`` (a model
name; inferred from the operations when absent), ``init`` (a string is read as an EDN literal, as ``--init`` is:
``"0"``, ``"nil"``, ``'""'`` for the empty string; any other value is used as it is), ``time-limit`` (seconds),
``memory-limit`` (MiB), ``nil-read``, ``partition``, ``engine``.
"""
from __future__ import annotations

from typing import Any

from ..checker.result import Anomaly, Result
from ..errors import InputError
from ..history import History
from .base import BOOLEAN, choice_option, int_option, take_options

OPTIONS = ("model", "init", "time-limit", "memory-limit", "nil-read", "partition", "engine")


def linearizability_anomaly(result: Result) -> Anomaly | None:
    """The failure of an invalid linearizability result as an anomaly (None when there is none)."""
    failure = result.failure
    if failure is None:
        return None
    ops = [failure.op] + ([failure.previous_ok] if failure.previous_ok else [])
    facts = {"model": result.model, "configs": len(failure.configs),
             "candidate_states": [c.state for c in failure.configs[:8]],
             "reasons": [path[-1].reason for path in failure.final_paths[:8] if path]}
    return Anomaly("linearizability", ops, facts, failure.key)


class Linearizable:
    """Linearizability against a model, by histcheck's own search."""

    name = "linearizable"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        from ..checker import DEFAULT, check
        from ..models import infer
        options = take_options(self.name, {k.replace("_", "-"): v for k, v in options.items()}, OPTIONS)
        model = options.get("model") or infer(history.fs())
        if model is None:
            raise InputError(f"cannot infer a model from the operations {', '.join(history.fs()) or '(none)'}",
                             path=history.source, expected="option model=NAME (see `histcheck models`)")
        init = options.get("init", DEFAULT)
        if isinstance(init, str):
            from ..formats.edn import parse_value
            init = parse_value(init, path="init")
        time_limit = options.get("time-limit")
        memory = int_option(self.name, options, "memory-limit", 2048, minimum=16)
        result = check(history, model=model, init=init,
                       time_limit=float(time_limit) if time_limit is not None else None,
                       memory_limit=memory << 20, nil_read=options.get("nil-read", "auto"),
                       partition=choice_option(self.name, options, "partition", BOOLEAN, True),
                       engine=options.get("engine", "kernel"))
        anomaly = linearizability_anomaly(result)
        if anomaly is not None:
            result.anomalies.append(anomaly)
        if "model" not in options:
            result.notes.insert(0, f"model {model} inferred from the operations {', '.join(history.fs())}")
        return result
