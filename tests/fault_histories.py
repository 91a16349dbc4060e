"""Histories with faults, built for the tests of the timeline and of the availability figures.

``partition_kill_run`` is what a ``histcheck run --nemesis partition,kill`` records, made by hand: five workers
on a register, a partition and a kill window recorded as the nemesis records them (an ``:info`` pair per step,
the completion's value saying what was done), and operations that crash inside the windows, so that each worker
goes on as process ``p + 5`` (Jepsen's retired processes).  No cluster is needed.
"""
from __future__ import annotations

import random

from histcheck.history import History, Op

S = 1_000_000_000  # nanoseconds per second


class Recorder:
    """Appends ops with consecutive indexes and the given times (seconds)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(self, t: float, type_: str, process, f: str, value=None, **extra) -> Op:
        op = Op(type_, process, f, value, index=len(self.ops), time=int(round(t * S)),
                extra={k: v for k, v in extra.items()} or None)
        self.ops.append(op)
        return op

    def nemesis(self, t: float, f: str, done, took: float = 0.05) -> None:
        self.add(t, "info", "nemesis", f, None)
        self.add(t + took, "info", "nemesis", f, done)

    def history(self, source: str = "built.edn") -> History:
        self.ops.sort(key=lambda op: op.time)
        for i, op in enumerate(self.ops):
            op.index = i
        return History(self.ops, source=source)


PARTITION = {"mode": "halves", "groups": [["n1"], ["n2", "n3"]], "cut": [["n1", "n2"], ["n1", "n3"]]}


def partition_kill_run(seconds: float = 30.0, workers: int = 5, seed: int = 3) -> History:
    """Five workers for ``seconds``; partitions at 4-8 s, 14-17 s and 24-26 s, kills at 6-9 s and 15.5-16 s (close
    to each other so that labels would collide), with crashes (and retired processes) inside the windows."""
    rng = random.Random(seed)
    rec = Recorder()
    faults = [(4.0, 8.0, "start-partition", "stop-partition", PARTITION),
              (6.0, 9.0, "kill", "restart", {"nodes": ["n2"], "leader_before": "n2"}),
              (14.0, 17.0, "start-partition", "stop-partition", PARTITION),
              (15.5, 16.0, "kill", "restart", {"nodes": ["n1"], "leader_before": "n3"}),
              (24.0, 26.0, "start-partition", "stop-partition", PARTITION)]
    for a, b, opener, closer, done in faults:
        rec.nemesis(a, opener, done)
        rec.nemesis(b, closer, "network healed" if closer == "stop-partition" else {"nodes": done["nodes"]})
    in_fault = lambda t: any(a <= t < b for a, b, *_ in faults)  # noqa: E731
    value = 0
    for w in range(workers):
        process, t = w, 0.01 * w
        while t < seconds:
            f = rng.choice(["read", "write", "cas"])
            arg = None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)]
            rec.add(t, "invoke", process, f, arg)
            took = rng.uniform(0.01, 0.05)
            if in_fault(t) and rng.random() < 0.5:
                rec.add(t + 1.0, "info", process, f, arg, error="timeout")
                process += workers
                t += 1.0 + 0.01
                continue
            out = value if f == "read" else arg
            rec.add(t + took, "ok" if f != "cas" else rng.choice(["ok", "fail"]), process, f, out)
            t += took + rng.uniform(0.05, 0.2)
    return rec.history("partition-kill.edn")
