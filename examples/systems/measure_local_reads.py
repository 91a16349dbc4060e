"""How often is a ZooKeeper run with local reads found INVALID?  Prints the table docs/extending.md quotes.

    python examples/systems/measure_local_reads.py --runs 3 --time-limit 15

Each row runs the register workload against the 3-node ensemble of zookeeper.toml: reads after ``sync`` or from
the local replica, with or without partitions, in namespaces (root) or through proxies.  ZooKeeper documents
local reads as sequentially consistent, not linearizable, so those runs should be INVALID some of the time;
``sync`` runs should not.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from histcheck.run import net
from histcheck.run.runner import RunOptions, Runner

HERE = Path(__file__).resolve().parent
ROWS = [("linearizable", "partition"), ("serializable", "partition"), ("serializable", "none")]


def verdicts(read_mode: str, nemesis: str, network: str, runs: int, time_limit: float, store: str) -> list[int]:
    codes = []
    for _ in range(runs):
        options = RunOptions(db=str(HERE / "zookeeper.toml"), time_limit=time_limit, rate=100, concurrency=5,
                             network=network, nemesis=nemesis, read_mode=read_mode, store=store, report=False)
        codes.append(Runner(options).run().exit_code)
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=15)
    parser.add_argument("--network", choices=["netns", "proxy"], default="netns" if net.is_root() else "proxy")
    args = parser.parse_args()
    store = tempfile.mkdtemp(prefix="zookeeper-local-reads-")
    print("| reads | faults | network | runs | INVALID | unknown |\n|---|---|---|---|---|---|")
    for read_mode, nemesis in ROWS:
        codes = verdicts(read_mode, nemesis, args.network, args.runs, args.time_limit, store)
        reads = "sync first" if read_mode == "linearizable" else "local"
        print(f"| {reads} | {nemesis} | {args.network} | {len(codes)} | {codes.count(1)} | {codes.count(2)} |",
              flush=True)
    print(f"(runs stored in {store})")


if __name__ == "__main__":
    main()
