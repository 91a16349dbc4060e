"""Large synthetic Jepsen histories, so that the checker's scale can be measured without any cluster.

The generator simulates a Jepsen test against a *true* linearizable store:

* ``clients`` worker threads, each running one operation at a time.  A thread invokes an operation, the operation
  takes effect at a linearization point drawn uniformly inside its interval, and the thread completes it.  Read
  results and compare-and-set outcomes are computed by applying every operation to the store in the order of the
  linearization points, so the history is linearizable by construction.
* many independent keys, as Jepsen's ``independent/concurrent-generator`` makes them: threads work in groups of
  ``threads_per_key``; a group hammers one key for its quota of operations, then takes the next unused key.
  Register workloads write Jepsen's independent ``[k v]`` values; the kv workload names the key in a ``:key``
  field, as Porcupine's kv files do.  With ``keys=1`` values are plain.
* crashed operations: with probability ``crash_rate`` an operation times out and completes as ``:info``; it took
  effect or not (a coin toss), and its thread's process is retired and replaced by ``process + clients``, exactly
  as Jepsen does.  A crashed ``:info`` op stays open to the end of the history for the checker.
* an optional injected anomaly, a stale read: on one key an ok write of a unique value ``u`` completes, a later
  ok write overwrites it, and a read invoked after both returns ``u``.  No linearization explains it.
* ``crashed_at_once(n)``: ``n`` writes of distinct values invoked concurrently that all crash, then reads by the
  replacement processes -- the state-space explosion WGL checkers fear (with ``anomaly``, the last read returns
  the initial value, which no write restores, so the checker must refute every subset of the crashed writes).

Everything is deterministic given the seed.  Use in-process (``generate(...) -> Synthetic`` whose ``history`` is
a ``histcheck.History``) or from the command line, which writes Jepsen EDN with ``histcheck.formats.write``::

    .venv/bin/python benchmarks/synthetic.py --ops 1000000 --keys 1000 --clients 20 --crash-rate 0.01 \\
        [--anomaly] [--workload cas-register|register|kv] [--seed 1] --out /tmp/big.edn
    .venv/bin/python benchmarks/synthetic.py --crashed-at-once 30 [--anomaly] --out /tmp/crash30.edn

``--ops`` counts events (lines of history.edn: an invocation and a completion per operation).
"""
from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from histcheck import formats  # noqa: E402
from histcheck.history import History, Op  # noqa: E402
from histcheck.values import Keyword  # noqa: E402

WORKLOADS = ("cas-register", "register", "kv")
VALUES = 5                      # register values are drawn from range(VALUES), as in Jepsen's cas-register test
ANOMALY_VALUE = 1_000_000       # the unique value the stale read returns (registers)
ANOMALY_STRING = "anomaly-u"    # the same for kv (no concatenation of "x p i y" strings can form it)
MEAN_LATENCY_NS = 1_000_000
MEAN_THINK_NS = 200_000
TIMEOUT = {"error": Keyword("timeout")}


@dataclass(slots=True)
class SimCall:
    """One simulated operation: who, on which key, its interval, and where (whether) it took effect."""

    process: int
    key: int
    f: str
    arg: Any
    t_inv: int
    t_done: int
    lin: int | None
    crashed: bool
    result: Any = None
    status: str = "ok"


@dataclass
class Synthetic:
    """A generated history and how to check it (``init`` None means the model's default)."""

    history: History
    model: str
    init: Any
    linearizable: bool
    anomaly: dict | None = None
    stats: dict = field(default_factory=dict)

    def check_options(self) -> dict:
        """Keyword arguments for ``histcheck.check`` (init omitted when it is the model's default)."""
        options: dict[str, Any] = {"model": self.model}
        if self.init is not None:
            options["init"] = self.init
        return options


# -- the workload: what each operation does -------------------------------------------------------------------

def pick_op(workload: str, rng: random.Random, process: int, serial: int) -> tuple[str, Any]:
    """An operation name and its argument, with Jepsen's usual mix for the workload."""
    r = rng.random()
    if workload == "kv":
        if r < 0.5:
            return "get", None
        return ("put" if r < 0.75 else "append"), f"x {process} {serial} y"
    if workload == "register":
        return ("read", None) if r < 0.5 else ("write", rng.randrange(VALUES))
    if r < 1 / 3:
        return "read", None
    if r < 2 / 3:
        return "write", rng.randrange(VALUES)
    return "cas", (rng.randrange(VALUES), rng.randrange(VALUES))


def initial(workload: str) -> Any:
    return "" if workload == "kv" else 0


def apply_op(state: Any, call: SimCall) -> Any:
    """Apply ``call`` at its linearization point; set its result and status; return the new state."""
    f = call.f
    if f in ("read", "get"):
        call.result = state
        return state
    if f in ("write", "put"):
        return call.arg
    if f == "append":
        return state + call.arg
    expected, new = call.arg
    if state == expected:
        return new
    if not call.crashed:
        call.status = "fail"
    return state


# -- simulation ----------------------------------------------------------------------------------------------

class KeyGroups:
    """Jepsen's independent concurrent generator: groups of threads, each on one key until its quota is used."""

    def __init__(self, keys: int, groups: int, quota: int) -> None:
        self.keys, self.quota = keys, quota
        self.next_key = groups
        self.current = list(range(groups))
        self.used = [0] * groups

    def key_for(self, group: int) -> int:
        if self.used[group] >= self.quota:
            self.current[group] = self.next_key % self.keys
            self.next_key += 1
            self.used[group] = 0
        self.used[group] += 1
        return self.current[group] % self.keys


def simulate(workload: str, n_calls: int, keys: int, clients: int, threads_per_key: int, crash_rate: float,
             rng: random.Random) -> list[SimCall]:
    """Run the clients until ``n_calls`` operations were invoked; intervals and linearization points only."""
    groups = max(1, clients // max(1, threads_per_key))
    key_groups = KeyGroups(keys, min(groups, keys), -(-n_calls // keys))
    process = list(range(clients))
    heap = [(rng.randrange(MEAN_THINK_NS), t) for t in range(clients)]
    heapq.heapify(heap)
    calls: list[SimCall] = []
    while len(calls) < n_calls:
        t, thread = heapq.heappop(heap)
        key = key_groups.key_for(thread % len(key_groups.current))
        f, arg = pick_op(workload, rng, process[thread], len(calls))
        done = t + 1 + int(rng.expovariate(1 / MEAN_LATENCY_NS))
        crashed = rng.random() < crash_rate
        took_effect = not crashed or (f not in ("read", "get") and rng.random() < 0.5)
        lin = rng.randint(t, done) if took_effect else None
        calls.append(SimCall(process[thread], key, f, arg, t, done, lin, crashed))
        if crashed:
            process[thread] += clients
        heapq.heappush(heap, (done + 1 + int(rng.expovariate(1 / MEAN_THINK_NS)), thread))
    return calls


def linearize(calls: list[SimCall], init: Any) -> None:
    """Apply every call that took effect in linearization order, filling in reads and cas outcomes."""
    state: dict[int, Any] = {}
    order = sorted((c.lin, i) for i, c in enumerate(calls) if c.lin is not None)
    for _, i in order:
        call = calls[i]
        state[call.key] = apply_op(state.get(call.key, init), call)
    for call in calls:
        if call.crashed:
            call.status = "info"


# -- the injected anomaly ------------------------------------------------------------------------------------

def find_stale_triple(calls: list[SimCall], workload: str) -> tuple[int, int, int] | None:
    """Indices (W, W2, R) on one key: ok write W, ok write W2 invoked after W completed, ok read R invoked after W2
    completed; searched from the middle of the history so the anomaly is not trivially early."""
    write_f, read_f = ("put", "get") if workload == "kv" else ("write", "read")
    by_key: dict[int, list[int]] = {}
    start = len(calls) // 2
    for i in range(start, len(calls)):
        by_key.setdefault(calls[i].key, []).append(i)
    for key in sorted(by_key, key=lambda k: by_key[k][0]):
        triple = _triple_on_key(calls, by_key[key], write_f, read_f)
        if triple is not None:
            return triple
    return None


def _triple_on_key(calls: list[SimCall], idx: list[int], write_f: str, read_f: str) -> tuple[int, int, int] | None:
    w = w2 = None
    for i in idx:
        c = calls[i]
        if c.crashed:
            continue
        if w is None:
            if c.f == write_f:
                w = i
        elif w2 is None:
            if c.f == write_f and c.t_inv > calls[w].t_done:
                w2 = i
        elif c.f == read_f and c.t_inv > calls[w2].t_done:
            return w, w2, i
    return None


def inject_stale_read(calls: list[SimCall], workload: str) -> dict:
    """Make W write a unique value before linearizing; the caller makes R return it afterwards."""
    triple = find_stale_triple(calls, workload)
    if triple is None:
        raise ValueError("no place for a stale read: the history is too small or has no writes")
    w, w2, r = triple
    calls[w].arg = ANOMALY_STRING if workload == "kv" else ANOMALY_VALUE
    return {"key": calls[r].key, "write": w, "overwrite": w2, "read": r}


# -- events --------------------------------------------------------------------------------------------------

def to_history(calls: list[SimCall], workload: str, keys: int, source: str | None = None) -> History:
    """Invocation and completion events of every call, in time order, as Jepsen ops."""
    events: list[tuple[int, int, int]] = []
    for i, c in enumerate(calls):
        events.append((c.t_inv, 0, i))
        events.append((c.t_done, 1, i))
    events.sort()
    independent = keys > 1
    ops = [_event_op(calls[i], workload, independent, bool(done), n, t) for n, (t, done, i) in enumerate(events)]
    return History(ops, source=source, format="edn")


def _event_op(c: SimCall, workload: str, independent: bool, done: bool, index: int, t: int) -> Op:
    kind = c.status if done else "invoke"
    inner = c.result if kind == "ok" and c.f in ("read", "get") else c.arg
    extra = None
    if workload == "kv":
        extra = {"key": str(c.key)}
        value = inner
    else:
        value = (c.key, inner) if independent else inner
    if kind == "info":
        extra = dict(extra or {}, **TIMEOUT)
    return Op(kind, c.process, Keyword(c.f), value, index=index, time=t, extra=extra)


# -- front doors -------------------------------------------------------------------------------------------

def generate(ops: int = 10_000, keys: int = 10, clients: int = 10, crash_rate: float = 0.01,
             anomaly: bool = False, workload: str = "cas-register", threads_per_key: int = 5,
             seed: int = 1) -> Synthetic:
    """A history of about ``ops`` events (``ops // 2`` operations) simulated against a linearizable store."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; one of {', '.join(WORKLOADS)}")
    rng = random.Random(seed)
    init = initial(workload)
    calls = simulate(workload, max(1, ops // 2), keys, clients, threads_per_key, crash_rate, rng)
    where = inject_stale_read(calls, workload) if anomaly else None
    linearize(calls, init)
    if where is not None:
        stale = calls[where["read"]]
        where["true_value"] = stale.result
        stale.result = calls[where["write"]].arg
    history = to_history(calls, workload, keys)
    stats = {"calls": len(calls), "events": 2 * len(calls), "crashed": sum(c.crashed for c in calls),
             "failed": sum(c.status == "fail" for c in calls), "keys": len({c.key for c in calls})}
    return Synthetic(history, workload, None if workload == "kv" else init, not anomaly, where, stats)


def crashed_at_once(n: int = 30, reads: int | None = None, anomaly: bool = False, seed: int = 1) -> Synthetic:
    """``n`` concurrent writes of 1..n that all crash, then reads by the replacement processes (cas-register, 0).

    Crashed writes may take effect at any time after their invocation; between reads the simulation lets some of
    them take effect, in a random order, and each read returns the register.  With ``anomaly`` the last read
    returns 0, the initial value, after an earlier read saw a write: no write restores 0.
    """
    rng = random.Random(seed)
    reads = 2 * n if reads is None else reads
    ops: list[Op] = []
    t = 0

    def emit(kind: str, process: int, f: str, value: Any, extra: dict | None = None) -> None:
        nonlocal t
        t += 1 + rng.randrange(1000)
        ops.append(Op(kind, process, Keyword(f), value, index=len(ops), time=t, extra=extra))

    for p in range(n):
        emit("invoke", p, "write", p + 1)
    for p in rng.sample(range(n), n):
        emit("info", p, "write", p + 1, dict(TIMEOUT))
    effective = rng.sample(range(1, n + 1), rng.randint(1, n))
    state, saw_write = 0, False
    for r in range(reads):
        if effective and rng.random() < 0.5:
            state = effective.pop()
        saw_write = saw_write or state != 0
        value = 0 if anomaly and r == reads - 1 and saw_write else state
        process = n + r % n
        emit("invoke", process, "read", None)
        emit("ok", process, "read", value)
    history = History(ops, format="edn")
    linearizable = not (anomaly and saw_write)
    stats = {"calls": n + reads, "events": len(ops), "crashed": n, "failed": 0, "keys": 1}
    return Synthetic(history, "cas-register", 0, linearizable, {"read": len(ops) - 1} if anomaly else None, stats)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    if args.crashed_at_once:
        syn = crashed_at_once(args.crashed_at_once, anomaly=args.anomaly, seed=args.seed)
    else:
        syn = generate(args.ops, args.keys, args.clients, args.crash_rate, args.anomaly, args.workload,
                       args.threads_per_key, args.seed)
    t1 = time.perf_counter()
    formats.write(syn.history, args.out)
    info = dict(syn.stats, model=syn.model, init=syn.init, linearizable=syn.linearizable, anomaly=syn.anomaly,
                out=str(args.out), generate_s=round(t1 - t0, 3), write_s=round(time.perf_counter() - t1, 3))
    print(json.dumps(info))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=100_000, help="events to generate (2 per operation)")
    p.add_argument("--keys", type=int, default=100)
    p.add_argument("--clients", type=int, default=20, help="worker threads (concurrency)")
    p.add_argument("--threads-per-key", type=int, default=5, help="threads working on one key at a time")
    p.add_argument("--crash-rate", type=float, default=0.01)
    p.add_argument("--workload", choices=WORKLOADS, default="cas-register")
    p.add_argument("--anomaly", action="store_true", help="inject a stale read (non-linearizable)")
    p.add_argument("--crashed-at-once", type=int, default=0, metavar="N",
                   help="instead: N concurrent writes that all crash, then reads (single key)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
