"""The verdict in a few terminal lines: what ``histcheck analyze`` and ``histcheck run`` both print.

One function builds the lines so the two commands cannot drift apart: whoever runs a test sees the failing
operation exactly as whoever analyzes its history later.  For linearizability that is the verdict, the first
operation that cannot be linearized, the last ``:ok`` operation before it, the candidate states and the paths the
search tried; for every other checker it is the named anomalies and their operations
(``histcheck.explain.anomalies.explain_result``).  The longer story is explanation.txt (``histcheck.report``).
"""
from __future__ import annotations

from typing import Any

from ..values import show

CONFIGS_SHOWN = 4
PATHS_SHOWN = 4
PENDING_SHOWN = 6


def verdict_lines(result: Any) -> list[str]:
    """The verdict and why, in the form of the checker that judged it."""
    if result.checker != "linearizable":
        from .anomalies import explain_result
        return explain_result(result)
    return linearizability_lines(result)


def linearizability_lines(result: Any) -> list[str]:
    """The verdict line, then (invalid) where the search failed, or (unknown) why it gave up and what to raise."""
    lines = [result.summary() + f" in {result.seconds:.3f} s"]
    f = result.failure
    if f is not None:
        lines += failure_lines(f)
    if result.valid == "unknown":
        hint = {"time": "raise --time-limit", "memory": "raise --memory-limit",
                "interrupted": "run it again without interrupting"}.get(result.cause or "", "")
        lines.append(f"  gave up ({result.cause}); {hint}")
    return lines


def failure_lines(f: Any) -> list[str]:
    """The failing operation, the last good one, the candidate states and the paths tried."""
    op = f.op
    key = f" on key {show(f.key)}" if f.key is not None else ""
    if op.get("index") is None:
        lines = ["  first operation that cannot be linearized: not located (see the notes)"]
    else:
        lines = [f"  first operation that cannot be linearized{key}: process {op.get('process')} "
                 f"{op.get('type')} {op.get('f')} {show(op.get('value'))} at index {op.get('index')}"]
    if f.previous_ok:
        p = f.previous_ok
        lines.append(f"  last ok operation before it: process {p['process']} {p['f']} {show(p['value'])} "
                     f"at index {p['index']}")
    for config in f.configs[:CONFIGS_SHOWN]:
        pending = ", ".join(f"{c['op']} (p{c['process']})" for c in config.pending[:PENDING_SHOWN])
        lines.append(f"  candidate state {config.state}; pending: {pending or 'none'}")
    for path_steps in f.final_paths[:PATHS_SHOWN]:
        steps = " -> ".join(s.op.get("op", s.op.get("f")) + (f" => {s.state}" if s.state else "")
                            for s in path_steps[:-1])
        last = path_steps[-1]
        lines.append(f"  path: {steps + ' -> ' if steps else ''}{last.op.get('op')}: {last.reason}")
    return lines
