"""What a check concludes, as data.

Knossos taught that a failure report should be data a program can walk, not a paragraph: the renderers
(``histcheck.render``), the explanation (``histcheck.explain``), the CLI's ``--json`` and the notebooks all read the
same ``Result``.  A result is ``valid`` (True), invalid (False) or ``"unknown"``; unknown always carries a
``cause`` (``time``, ``memory``, ``interrupted``) so that a person knows what to change.

An invalid result carries a ``Failure`` for the first key that failed:

* ``op``: the first operation that cannot be linearized (its completion, with the original index);
* ``previous_ok``: the last ``ok`` completion before it;
* ``configs``: the candidate model states just before ``op`` completed, each with the operations still pending;
* ``final_paths``: from each candidate, orders of pending operations that end in a reason
  ("can't read 3 from register 0");
* ``longest``: the longest partial linearizations the search found, as lists of operations.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..history import Call, Op
from ..values import Keyword, to_plain

UNKNOWN = "unknown"
# The causes the search itself gives; checkers may add their own (``no-final-read``, ...) with ``cause_message``
# saying in a sentence what would decide the history.
CAUSES = ("time", "memory", "interrupted")


def op_summary(call_or_op: Any, *, model_value: Any = None) -> dict[str, Any]:
    """A JSON-ready description of an operation: its index, process, type, f and value."""
    if isinstance(call_or_op, Call):
        op = call_or_op.complete if call_or_op.complete is not None else call_or_op.invoke
        out = {"index": op.index, "process": call_or_op.process,
               "type": op.type if call_or_op.complete is not None else "invoke",
               "f": to_plain(call_or_op.f), "value": to_plain(call_or_op.value),
               "invoke_index": call_or_op.invoke.index, "status": call_or_op.status}
        if call_or_op.key is not None:
            out["key"] = to_plain(call_or_op.key)
        if op.time is not None:
            out["time"] = op.time
        return out
    if isinstance(call_or_op, Op):
        return {"index": call_or_op.index, "process": call_or_op.process, "type": call_or_op.type,
                "f": to_plain(call_or_op.f), "value": to_plain(call_or_op.value)}
    return dict(call_or_op)


@dataclass
class PathStep:
    """One step of a final path: the operation applied and the state it led to (or why it could not)."""

    op: dict
    state: str | None = None
    reason: str | None = None


@dataclass
class Config:
    """A candidate state of the model with the operations still pending in it."""

    state: str
    pending: list[dict] = field(default_factory=list)
    linearized: list[dict] = field(default_factory=list)


@dataclass
class Failure:
    """Where and why the history cannot be linearized (for one key)."""

    key: Any
    op: dict
    previous_ok: dict | None
    configs: list[Config] = field(default_factory=list)
    final_paths: list[list[PathStep]] = field(default_factory=list)
    longest: list[list[dict]] = field(default_factory=list)
    configs_truncated: bool = False


@dataclass
class Anomaly:
    """One finding, as data (Elle's lesson: the analyzer finds, the explainer speaks, apart).

    * ``kind``: the anomaly's name as Jepsen and Elle spell it (``G2-item``, ``G1a``, ``lost``, ``unexpected``,
      ``wrong-total``, ``linearizability``, ...); explanation and drawing are chosen by it;
    * ``ops``: the operations involved, as ``op_summary`` dicts (their ``index`` is the file's);
    * ``facts``: what the explanation is built from (the cycle's edges, the missing elements, the totals);
      plain data, so that results.json can carry it and a person can check it against the file;
    * ``key``: the independent key it concerns, when there is one.
    """

    kind: str
    ops: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    key: Any = None


@dataclass
class KeyResult:
    """The verdict for one independent key (P-compositionality: the history is valid iff every key is)."""

    key: Any
    valid: Any
    ops: int
    cause: str | None = None
    states: int = 0
    explored: int = 0
    seconds: float = 0.0
    analyzer: str = ""


@dataclass
class Result:
    """The outcome of checking a history against a model."""

    valid: Any
    model: str
    init: Any = None
    ops: int = 0
    cause: str | None = None
    failure: Failure | None = None
    keys: list[KeyResult] = field(default_factory=list)
    analyzer: str = "wgl"
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    checker: str = "linearizable"
    anomalies: list[Anomaly] = field(default_factory=list)
    not_models: list[str] = field(default_factory=list)       # Jepsen's :not: the weakest models ruled out
    also_not: list[str] = field(default_factory=list)         # Jepsen's :also-not: every stronger one
    cause_message: str | None = None                          # why unknown, in a sentence, for checkers' own causes
    details: dict = field(default_factory=dict)               # checker-specific figures (set's :lost-count, ...)

    def __post_init__(self) -> None:
        if self.valid not in (True, False, UNKNOWN):
            raise ValueError(f"valid must be True, False or 'unknown', not {self.valid!r}")
        if self.valid == UNKNOWN and not (self.cause in CAUSES or (self.cause and self.cause_message)):
            raise ValueError(f"an unknown result needs a cause in {CAUSES}, or a cause of its own with a "
                             f"cause_message, not {self.cause!r}")

    @property
    def anomaly_types(self) -> list[str]:
        """The kinds of anomaly found, sorted and without repeats (Jepsen's :anomaly-types)."""
        return sorted({a.kind for a in self.anomalies})

    @property
    def invalid_keys(self) -> list[Any]:
        return [k.key for k in self.keys if k.valid is False]

    # -- serialisation ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data.  ``op``, ``previous_ok`` and ``final_paths`` sit at the top level as Knossos
        puts them, so that tools written for Knossos results find them."""
        data: dict[str, Any] = {
            "valid": self.valid,
            "model": self.model,
            "init": to_plain(self.init),
            "ops": self.ops,
            "analyzer": self.analyzer,
            "seconds": round(self.seconds, 6),
        }
        if self.cause is not None:
            data["cause"] = self.cause
        if self.cause_message is not None:
            data["cause-message"] = self.cause_message
        data["checker"] = self.checker
        if self.anomalies:
            data["anomaly-types"] = self.anomaly_types
            data["anomalies"] = [dict(asdict(a), key=to_plain(a.key)) for a in self.anomalies]
        if self.not_models:
            data["not"] = list(self.not_models)
            data["also-not"] = list(self.also_not)
        if self.details:
            data.update({k: to_plain(v) for k, v in self.details.items()})
        if self.failure is not None:
            f = asdict(self.failure)
            f["key"] = to_plain(self.failure.key)
            data["key"] = f["key"]
            data["op"] = f["op"]
            data["previous_ok"] = f["previous_ok"]
            data["configs"] = f["configs"]
            data["configs_truncated"] = f["configs_truncated"]
            data["final_paths"] = f["final_paths"]
            data["longest"] = f["longest"]
        data["keys"] = [dict(asdict(k), key=to_plain(k.key)) for k in self.keys]
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def to_edn(self) -> str:
        """The result as an EDN map with keyword keys, the way Jepsen's results.edn reads."""
        return _edn(self.to_dict())

    def summary(self) -> str:
        verdict = {True: "valid", False: "INVALID", UNKNOWN: "unknown"}[self.valid]
        text = f"{verdict}: {self.ops} operations checked against {self.model}"
        if self.valid is False and self.anomalies and self.checker != "linearizable":
            counts: dict[str, int] = {}
            for a in self.anomalies:
                counts[a.kind] = counts.get(a.kind, 0) + 1
            text += ": " + ", ".join(f"{kind} ({n})" if n > 1 else kind for kind, n in sorted(counts.items()))
        if self.valid == UNKNOWN:
            text += f" (gave up: {self.cause})"
        return text


_KEYISH = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_?!*+.")


def _edn(value: Any) -> str:
    """The result's plain data as EDN: map keys that can be keywords become keywords (``:valid``), the verdict
    ``"unknown"`` becomes ``:unknown``, and non-finite numbers nil; the writing itself is the formats' writer."""
    from ..formats.ednwrite import edn
    return edn(_keywordize(value))


def _keywordize(value: Any) -> Any:
    if isinstance(value, dict):
        return {(Keyword(k) if isinstance(k, str) and k and set(k) <= _KEYISH and not k[0].isdigit() else k):
                (Keyword(UNKNOWN) if k == "valid" and v == UNKNOWN else _keywordize(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_keywordize(v) for v in value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
