"""How fast the list-append checker is, and how its time grows with the history.

For each size, a serializable list-append history (``elle_gen.generate``: 10 clients, 1-4 micro-operations per
transaction, keys in proportion so that each key takes about 125 appends; 100,000 transactions over 1,000 keys is
the target row) is checked with the default options (strict serializable: process and real-time edges, every cycle
kind).  The table gives the whole check, then its phases as the Result's details report them (reading the
transactions and inferring version orders and edges; process and real-time edges; the cycle search, which is where
networkx runs), then the networkx part alone (building its DiGraph and finding the strongly connected components),
the graph's size and the peak extra memory.  A last row checks the 100,000-transaction history with every anomaly
pattern injected, to show that the search for cycles inside components costs little when they exist.

    .venv/bin/python benchmarks/elle.py [--sizes 10000,30000,100000,300000] [--plain]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
import elle_gen  # noqa: E402

from histcheck.checkers.elle.core import Options, Plan, _collector_paused  # noqa: E402
from histcheck.checkers.elle.graph import add_process_edges, add_realtime_edges  # noqa: E402
from histcheck.checkers.elle.list_append import ListAppend  # noqa: E402
from histcheck.checkers.elle.txn import read_txns  # noqa: E402


def networkx_seconds(history) -> tuple[float, int]:
    """Seconds networkx takes for the components of this history's full graph (conversion included)."""
    checker = ListAppend()
    opts = Options.parse({})
    analysis = checker.analyse(read_txns(history, checker.mop_fs), opts)
    plan = Plan.of(opts)
    if plan.process:
        add_process_edges(analysis.graph, analysis.vertices)
    if plan.realtime:
        add_realtime_edges(analysis.graph, analysis.vertices)
    with _collector_paused():                    # as during a check
        t0 = time.perf_counter()
        components = analysis.graph.components()
        return time.perf_counter() - t0, len(components)


def measure(txns: int, keys: int, inject: tuple[str, ...] = ()) -> list:
    history = elle_gen.generate(txns, keys, seed=1, inject=inject, fail_rate=0.01, info_rate=0.01)
    with benchlib.RssPeak() as rss:
        seconds, result = benchlib.timed(lambda: ListAppend().check(history))
    nx_s, components = networkx_seconds(history)
    d = result.details
    label = f"{txns:,}" + (" + all anomalies" if inject else "")
    found = ",".join(result.anomaly_types) if inject else str(result.valid)
    return [label, f"{keys:,}", f"{len(history):,}", f"{seconds:.2f}", f"{d['analysis-seconds']:.2f}",
            f"{d['graph-seconds']:.2f}", f"{d['cycle-seconds']:.2f}", f"{nx_s:.2f}", f"{d['edge-count']:,}",
            str(components), benchlib.mb(rss.delta), found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000,300000")
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--no-inject", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = [measure(n, max(10, n // 100)) for n in sizes]
    if not args.no_inject:
        rows.append(measure(100_000, 1000, tuple(elle_gen.PATTERNS)))
    load = os.getloadavg()
    benchlib.print_table(
        "list-append check (default options: strict-serializable, process + real-time edges)",
        ["txns", "keys", "events", "check s", "analysis s", "rt+process s", "cycles s", "networkx s", "edges",
         "SCCs", "peak MB", "valid / found"],
        rows, plain=args.plain,
        footer=[f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"] + [""] * 11)


if __name__ == "__main__":
    main()
