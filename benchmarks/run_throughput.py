"""Is the harness the bottleneck?  ops/s of a plain loop of etcd requests vs ``histcheck run``, same concurrency.

Both sides get a fresh 3-node etcd cluster on the same network topology (namespaces as root, proxies otherwise)
and the register workload's mix (2 reads : 1 write : 1 cas) on one key, with no rate limit.  The plain loop is
threads calling ``EtcdClient`` and counting; ``histcheck run`` adds the generator, the journal (two files, one
flush per op) and process bookkeeping.  The target is a ratio of at least 80 %.

    .venv/bin/python benchmarks/run_throughput.py [--seconds 10] [--concurrency 5 10] [--network auto] [--mix read=1]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from histcheck.run.clients import ClientError  # noqa: E402
from histcheck.run.etcd import EtcdDB  # noqa: E402
from histcheck.run.net import choose_network  # noqa: E402
from histcheck.run.runner import RunOptions, Runner  # noqa: E402
from histcheck.workloads.register import Register  # noqa: E402


def plain_loop(concurrency: int, seconds: float, network: str, mix: dict | None) -> tuple[int, float]:
    """Completed requests and elapsed seconds for ``concurrency`` threads hammering a fresh cluster."""
    work, logs = tempfile.mkdtemp(), tempfile.mkdtemp()
    db = EtcdDB(["n1", "n2", "n3"], choose_network(network), work, logs)
    try:
        db.setup()
        workload = Register({"mix": mix} if mix else None)
        counts = [0] * concurrency
        stop = time.monotonic() + seconds

        def worker(w: int) -> None:
            rng = random.Random(w)
            client = db.client(db.node_names[w % 3], 5.0)
            while time.monotonic() < stop:
                f, value = workload.next_op(rng)
                try:
                    workload.invoke(client, f, value)
                except ClientError:
                    client.close()
                counts[w] += 1
            client.close()

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts), time.monotonic() - start
    finally:
        db.teardown()
        shutil.rmtree(logs, ignore_errors=True)


def harness(concurrency: int, seconds: float, network: str, mix: dict | None) -> tuple[int, float]:
    """Completed client operations and the main phase's seconds of a real ``histcheck run``."""
    store = tempfile.mkdtemp()
    try:
        options = RunOptions(workload="register", time_limit=seconds, concurrency=concurrency, rate=0,
                             store=store, network=network, recover=0, seed=1, report=False,
                             workload_options={"mix": mix} if mix else {})
        outcome = Runner(options).run()
        return outcome.stats["completed"], outcome.stats["timings"]["run"]
    finally:
        shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--network", default="auto", choices=["auto", "netns", "proxy"])
    parser.add_argument("--mix", default=None, help="e.g. read=1 for reads only (no fsync: the harness works harder)")
    args = parser.parse_args()
    mix = {k: float(v) for k, v in (p.split("=") for p in args.mix.split(","))} if args.mix else None
    rows = []
    for c in args.concurrency:
        plain_ops, plain_s = plain_loop(c, args.seconds, args.network, mix)
        run_ops, run_s = harness(c, args.seconds, args.network, mix)
        rows.append((c, plain_ops / plain_s, run_ops / run_s))
    print(f"{'concurrency':>11}  {'plain loop ops/s':>16}  {'histcheck run ops/s':>19}  {'ratio':>6}")
    for c, plain, run in rows:
        print(f"{c:>11}  {plain:>16.0f}  {run:>19.0f}  {run / plain:>6.0%}")
    worst = min(run / plain for _, plain, run in rows)
    print(f"\nworst ratio {worst:.0%} (target >= 80%)")


if __name__ == "__main__":
    main()
