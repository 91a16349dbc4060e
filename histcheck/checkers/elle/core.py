"""What list-append and rw-register share: options, the search plan, cycle reports and the Result.

A checker of this family reads the history's transactions, finds the anomalies visible without a graph (aborted
and intermediate reads, internal inconsistency, ...), builds the dependency graph from the version orders it can
infer, and searches the graph for the cycles that the requested consistency models forbid.  The requested models
decide what is searched (and so which edges are built: process edges only when a ``-process`` anomaly matters,
real-time edges only when a ``-realtime`` one does); what is found decides ``:not`` and ``:also-not``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...checker.result import UNKNOWN, Anomaly, Result, op_summary
from ...gcpause import paused_gc
from ...errors import InputError
from ...history import History
from ...values import to_plain
from . import models
from .graph import EDGE_NAMES, PROCESS, REALTIME, DependencyGraph, add_process_edges, add_realtime_edges, search_cycles
from .txn import Txn, read_txns

# Enough cases of each kind to see the pattern and check it by hand; the counts say how many there were.
MAX_REPORTED_PER_KIND = 32


@dataclass
class Options:
    """The checker's options, from keyword values (strings when they come from the command line)."""

    models: tuple[str, ...]
    anomalies: tuple[str, ...]
    process: bool | None
    realtime: bool | None
    timeout_s: float
    extra: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, options: dict, extra_flags: tuple[str, ...] = ()) -> "Options":
        known = {"consistency-models", "anomalies", "process", "realtime", "cycle-search-timeout", *extra_flags}
        options = {k.replace("_", "-"): v for k, v in options.items()}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown option {', '.join(unknown)}", expected="one of " + ", ".join(sorted(known)))
        timeout = options.get("cycle-search-timeout", 1000)
        try:
            timeout_ms = float(timeout)
        except (TypeError, ValueError):
            raise InputError(f"option cycle-search-timeout: {timeout!r} is not a number",
                             expected="milliseconds per component and anomaly") from None
        return cls(models=models.parse_models(options.get("consistency-models")),
                   anomalies=models.parse_anomalies(options.get("anomalies")),
                   process=_flag(options, "process"), realtime=_flag(options, "realtime"),
                   timeout_s=timeout_ms / 1000.0,
                   extra={k: _flag(options, k) for k in extra_flags})


def _flag(options: dict, name: str) -> bool | None:
    value = options.get(name)
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise InputError(f"option {name}: {value!r} is not true or false", expected="true or false")


@dataclass
class Plan:
    """What to look for: the anomalies that make the history invalid, and the cycle kinds to search."""

    forbidden: set[str]
    kinds: list[str]
    process: bool
    realtime: bool

    @classmethod
    def of(cls, opts: Options) -> "Plan":
        forbidden = models.forbidden_by(opts.models) | models.implying(opts.anomalies)
        kinds = [k for k in models.CYCLE_KINDS if k in forbidden]
        bases = {k.split("-process")[0].split("-realtime")[0] for k in kinds}
        for flag, suffix in ((opts.process, "-process"), (opts.realtime, "-realtime")):
            if flag:
                extra = [b + suffix for b in ("G0", "G1c", "G-single", "G2-item") if b in bases]
                forbidden |= models.implying(extra)
                kinds += [k for k in extra if k not in kinds]
            elif flag is False:
                kinds = [k for k in kinds if not k.endswith(suffix)]
        kinds = [k for k in models.CYCLE_KINDS if k in kinds]
        return cls(forbidden, kinds, any(k.endswith("-process") for k in kinds),
                   any(k.endswith("-realtime") for k in kinds))


class Analysis:
    """What one checker found before the cycle search: anomalies, graph, and how to justify each edge."""

    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []
        self.graph = DependencyGraph()
        self.vertices: list[Txn] = []
        self.unknown: tuple[str, str] | None = None

    def explain_data_edge(self, a: Txn, b: Txn, bit: int) -> dict:   # pragma: no cover - each checker's own
        raise NotImplementedError


class TxnChecker:
    """The common check: subclasses say which micro-operations they read and how they analyse them."""

    name = "txn"
    needs_process = True
    mop_fs: tuple[str, ...] = ()
    extra_flags: tuple[str, ...] = ()

    def analyse(self, txns: list[Txn], opts: Options) -> Analysis:   # pragma: no cover - each checker's own
        raise NotImplementedError

    def check(self, history: History, **options: Any) -> Result:
        with paused_gc():          # its dicts and tuples hold no cycles (see gcpause)
            return self._check(history, **options)

    def _check(self, history: History, **options: Any) -> Result:
        started = time.perf_counter()
        opts = Options.parse(options, self.extra_flags)
        plan = Plan.of(opts)
        txns = read_txns(history, self.mop_fs)
        ok = sum(1 for t in txns if t.status == "ok")
        if ok == 0:
            return self._result(UNKNOWN, txns, started, cause="empty-transaction-graph",
                                message="no transaction completed ok, so nothing was observed to judge")
        analysis = self.analyse(txns, opts)
        if analysis.unknown is not None:
            cause, message = analysis.unknown
            return self._result(UNKNOWN, txns, started, cause=cause, message=message)
        timings = {"analysis-seconds": time.perf_counter() - started}
        if plan.process:
            add_process_edges(analysis.graph, analysis.vertices)
        if plan.realtime:
            add_realtime_edges(analysis.graph, analysis.vertices)
        timings["graph-seconds"] = time.perf_counter() - started - timings["analysis-seconds"]
        by_id = {t.id: t for t in txns}
        cycles = search_cycles(analysis.graph, plan.kinds, models.implied, opts.timeout_s)
        cycle_anomalies = [self._cycle_anomaly(c, by_id, analysis) for c in cycles]
        timings["cycle-seconds"] = time.perf_counter() - started - sum(timings.values())
        found = analysis.anomalies + cycle_anomalies
        reported = [a for a in found if a.kind in plan.forbidden]
        allowed = sorted({a.kind for a in found if a.kind not in plan.forbidden})
        counts: dict[str, int] = {}
        kept: list[Anomaly] = []
        for a in reported:
            counts[a.kind] = counts.get(a.kind, 0) + 1
            if counts[a.kind] <= MAX_REPORTED_PER_KIND:
                kept.append(a)
        not_models, also_not = models.boundary({a.kind for a in found})
        details = {"consistency-models": list(opts.models), "searched": plan.kinds,
                   "edges": [n for n, on in (("process", plan.process), ("realtime", plan.realtime)) if on],
                   "txn-count": len(txns), "edge-count": analysis.graph.edge_count(),
                   "anomaly-counts": counts, **{k: round(v, 6) for k, v in timings.items()}}
        if allowed:
            details["allowed-anomaly-types"] = allowed
        result = self._result(False if reported else True, txns, started)
        result.anomalies = kept
        result.not_models, result.also_not = not_models, also_not
        result.details.update(details)
        return result

    def _result(self, valid: Any, txns: list[Txn], started: float, *, cause: str | None = None,
                message: str | None = None) -> Result:
        return Result(valid=valid, model=self.name, checker=self.name, analyzer="elle", ops=len(txns),
                      cause=cause, cause_message=message, seconds=time.perf_counter() - started)

    def _cycle_anomaly(self, cycle, by_id: dict[int, Txn], analysis: Analysis) -> Anomaly:
        txns = [by_id[n] for n in cycle.nodes]
        steps = []
        for i, (a, bit) in enumerate(zip(txns, cycle.labels)):
            j = (i + 1) % len(txns)
            b = txns[j]
            step: dict[str, Any] = {"from": i, "to": j, "type": EDGE_NAMES[bit]}
            if bit == PROCESS:
                step["process"] = to_plain(a.process)
            elif bit == REALTIME:
                step["completed-index"] = a.call.complete.index
                step["invoked-index"] = b.call.invoke.index
            else:
                step.update(analysis.explain_data_edge(a, b, bit))
            steps.append(step)
        return Anomaly(cycle.kind, ops=[op_summary(t.call) for t in txns], facts={"cycle": steps})


def txn_summary(t: Txn) -> dict:
    return op_summary(t.call)


def mop_plain(mop: tuple) -> list:
    return [mop[0], to_plain(mop[1]), to_plain(mop[2])]

