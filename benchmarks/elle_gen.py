"""List-append histories for the Elle checkers: serializable by construction, with anomalies injected on request.

``generate(txns, keys, ...)`` simulates ``processes`` clients against a store that really is strict serializable:
each client invokes a transaction, the transaction takes effect at one instant inside its interval, and the
client completes it.  Transactions are executed one at a time in the order of those instants against a dict of
lists, so every read returns what a serial execution gives, while the invocations and completions of different
clients overlap as in a real test.  Transactions are Elle's shape: 1-4 micro-operations, appends of unique values
and reads, over keys drawn from a few "hot" keys at a time (each key takes ``appends_per_key`` appends, then a fresh
key replaces it), so reads stay short as Elle's generators keep them.

``inject`` adds small patterns on keys and processes of their own, spread through the history, each showing one
anomaly (``PATTERNS``).  Every pattern also has a clean twin (``clean=True``) in which the same transactions see
what a serial execution shows, so that a test can compare the two.

Run it to write a file::

    .venv/bin/python benchmarks/elle_gen.py --txns 100000 --keys 1000 --inject G-single,G1a --out /tmp/la.edn
"""
from __future__ import annotations

import argparse
import heapq
import random
from typing import Any, Callable

from histcheck.history import History, history_from_dicts
from histcheck.values import Keyword

A, R = Keyword("append"), Keyword("r")


def generate(txns: int, keys: int, *, processes: int = 10, appends_per_key: int | None = None, seed: int = 0,
             inject: tuple[str, ...] = (), clean: bool = False, fail_rate: float = 0.0,
             info_rate: float = 0.0) -> History:
    """A list-append history of ``txns`` transactions over ``keys`` keys (see the module's docstring)."""
    rng = random.Random(seed)
    # Appends spread over all the keys: each key takes its share, a handful of keys are hot at once.
    per_key = appends_per_key or max(4, (txns * 5 // 4) // max(keys, 1))
    hot = max(1, min(8, keys))
    key_pool = list(range(keys))
    active = [key_pool.pop() for _ in range(min(hot, len(key_pool)))]
    appended = {k: 0 for k in active}
    next_value = 0
    # Each client's transactions as intervals; the effect instant is uniform inside.
    heap: list[tuple[float, int]] = [(rng.random(), p) for p in range(processes)]
    heapq.heapify(heap)
    planned: list[dict] = []
    for i in range(txns):
        start, p = heapq.heappop(heap)
        length = rng.expovariate(1.0)
        end = start + length
        mops = []
        for _ in range(rng.randint(1, 4)):
            k = rng.choice(active)
            if rng.random() < 0.5:
                next_value += 1
                mops.append([A, k, next_value])
                appended[k] += 1
                if appended[k] >= per_key and key_pool:
                    active[active.index(k)] = fresh = key_pool.pop()
                    appended[fresh] = 0
            else:
                mops.append([R, k, None])
        fate = rng.random()
        status = "fail" if fate < fail_rate else "info" if fate < fail_rate + info_rate else "ok"
        planned.append({"process": p, "start": start, "end": end, "at": rng.uniform(start, end),
                        "mops": mops, "status": status})
        heapq.heappush(heap, (end + rng.expovariate(4.0), p + (processes if status == "info" else 0)))
    state: dict[Any, list] = {}
    for t in sorted(planned, key=lambda t: t["at"]):
        applied = t["status"] == "ok" or t["status"] == "info" and rng.random() < 0.5
        scratch = {}
        for mop in t["mops"]:
            f, k, _ = mop
            current = scratch.setdefault(k, list(state.get(k, ())))
            if f == A:
                current.append(mop[2])
            else:
                mop[2] = tuple(current)
        if applied:
            state.update(scratch)
    last = max((t["end"] for t in planned), default=0.0)
    extra_process = processes * 1000
    for n, name in enumerate(inject):
        at = last * (n + 1) / (len(inject) + 1)
        planned.extend(PATTERNS[name](at, extra_process + 10 * n, 1_000_000 + 100 * n, clean))
    return _events(planned)


def _events(planned: list[dict]) -> History:
    events = []
    for t in planned:
        invoke_value = [[f, k, None if f == R else v] for f, k, v in t["mops"]]
        events.append((t["start"], 0, {"type": "invoke", "process": t["process"], "f": Keyword("txn"),
                                       "value": invoke_value}))
        if t["status"] != "info" or t.get("completes"):
            value = [list(m) for m in t["mops"]] if t["status"] == "ok" else invoke_value
            events.append((t["end"], 1, {"type": t["status"], "process": t["process"], "f": Keyword("txn"),
                                         "value": value}))
    events.sort(key=lambda e: (e[0], e[1]))
    maps = []
    for i, (_, _, m) in enumerate(events):
        m["index"] = i
        maps.append(m)
    return history_from_dicts(maps, source="elle_gen")


# -- injected patterns -----------------------------------------------------------------------------------------
# Each pattern: (time, first process number, first key number, clean) -> planned transactions on its own keys.

def _t(p: int, start: float, end: float, mops: list, status: str = "ok") -> dict:
    return {"process": p, "start": start, "end": end, "mops": [list(m) for m in mops], "status": status}


def _g0(at: float, p: int, k: int, clean: bool) -> list[dict]:
    x, y = k, k + 1
    return [_t(p, at, at + 1, [(A, x, 1), (A, y, 1)]), _t(p + 1, at, at + 1, [(A, x, 2), (A, y, 2)]),
            _t(p + 2, at + 2, at + 3, [(R, x, (1, 2)), (R, y, (1, 2) if clean else (2, 1))])]


def _g1c(at: float, p: int, k: int, clean: bool) -> list[dict]:
    x, y = k, k + 1
    return [_t(p, at, at + 1, [(A, x, 1), (R, y, () if clean else (2,))]),
            _t(p + 1, at, at + 1, [(A, y, 2), (R, x, (1,))])]


def _g_single(at: float, p: int, k: int, clean: bool) -> list[dict]:
    x, y = k, k + 1
    return [_t(p, at, at + 1, [(A, x, 1), (A, y, 1)]),
            _t(p + 1, at, at + 1, [(R, x, (1,) if clean else ()), (R, y, (1,))])]


def _g2_item(at: float, p: int, k: int, clean: bool) -> list[dict]:
    x, y = k, k + 1
    return [_t(p, at, at + 1, [(R, x, ()), (A, y, 1)]),
            _t(p + 1, at, at + 1, [(R, y, (1,) if clean else ()), (A, x, 2)])]


def _g1a(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)], "fail"), _t(p + 1, at + 2, at + 3, [(R, k, () if clean else (1,))])]


def _g1b(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1), (A, k, 2)]), _t(p + 1, at, at + 1, [(R, k, (1, 2) if clean else (1,))])]


def _internal(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1), (R, k, (1,) if clean else ())])]


def _dirty_update(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)], "fail"), _t(p + 1, at + 2, at + 3, [(A, k, 2)]),
            _t(p + 2, at + 4, at + 5, [(R, k, (2,) if clean else (1, 2))])]


def _duplicates(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)]), _t(p + 1, at + 2, at + 3, [(R, k, (1,) if clean else (1, 1))])]


def _garbage(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)]), _t(p + 1, at + 2, at + 3, [(R, k, (1,) if clean else (1, 99))])]


def _lost_update(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(R, k, ()), (A, k, 1)]),
            _t(p + 1, at, at + 1, [(R, k, (1,) if clean else ()), (A, k, 2)]),
            _t(p + 2, at + 2, at + 3, [(R, k, (1, 2))])]


def _incompatible(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)]), _t(p + 1, at, at + 1, [(A, k, 2)]),
            _t(p + 2, at + 2, at + 3, [(R, k, (1, 2))]), _t(p + 3, at + 2, at + 3, [(R, k, (1, 2) if clean else (2, 1))])]


def _stale_realtime(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)]), _t(p + 1, at + 2, at + 3, [(R, k, (1,) if clean else ())])]


def _stale_process(at: float, p: int, k: int, clean: bool) -> list[dict]:
    return [_t(p, at, at + 1, [(A, k, 1)]), _t(p, at + 2, at + 3, [(R, k, (1,) if clean else ())])]


PATTERNS: dict[str, Callable[[float, int, int, bool], list[dict]]] = {
    "G0": _g0, "G1c": _g1c, "G-single": _g_single, "G2-item": _g2_item, "G1a": _g1a, "G1b": _g1b,
    "internal": _internal, "dirty-update": _dirty_update, "duplicate-elements": _duplicates,
    "garbage-read": _garbage, "lost-update": _lost_update, "incompatible-order": _incompatible,
    "G-single-realtime": _stale_realtime, "G-single-process": _stale_process,
}


def main() -> None:
    from histcheck import formats
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txns", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inject", default="", help="comma-separated: " + ", ".join(PATTERNS))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    inject = tuple(x for x in args.inject.split(",") if x)
    history = generate(args.txns, args.keys, processes=args.processes, seed=args.seed, inject=inject)
    formats.write(history, args.out)


if __name__ == "__main__":
    main()
