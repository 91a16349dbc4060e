"""What a check of a small history costs: Knossos's 120 cas-register histories (2 to 746 events), in process.

Jepsen users check many files of a few hundred operations, so what a check costs before and after its search
(pairing, the model's inputs, the search's setup, the report) is what decides how fast a directory goes.  Rows:

* ``check, median of N``: each file is loaded once, checked once untimed, then checked ``--repeat`` times; the
  file's figure is the median of those, and the row sums the files.  This is how Porcupine's figure is taken
  (its ``CheckOperations`` on operations its harness has already parsed and paired, median of 7 after a
  warm-up, summed over the same 120 files), so it is the row to put beside Porcupine's;
* ``first check``: each file is loaded afresh and checked once, so the sum also holds what a history works out
  on its first check and keeps (pairing its events into calls, the model's inputs for them); the row gives the
  median over ``--rounds`` rounds;
* one row per engine (``--engine``, repeatable): ``kernel`` (numba, loaded and compiled before anything is
  timed) and ``reference`` (plain Python).

``--porcupine MS`` adds the ratio to a Porcupine sum measured on the same machine in the same way (see
RESULTS.md for how it was run; Porcupine itself is not part of this repository).

    .venv/bin/python benchmarks/small_histories.py [--repeat 7] [--rounds 3] [--engine kernel]
        [--porcupine 18.5] [--plain] [--json [FILE]]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from benchlib import manifest, print_table

import histcheck


def knossos_cas_register() -> list:
    return [e for e in manifest() if e.path.startswith("knossos/cas-register/")]


def warm_up() -> None:
    """Load (or compile) the kernels once, so that no file's timing holds numba's start."""
    entry = next(e for e in manifest() if e.path.startswith("porcupine/etcd/"))
    histcheck.check(histcheck.load(entry.file), **entry.check_options(), engine="kernel")
    small = knossos_cas_register()[0]
    histcheck.check(histcheck.load(small.file), **small.check_options(), engine="kernel")


def repeated(entries: list, engine: str, repeat: int) -> tuple[dict[str, float], int]:
    """Each file's median check seconds over ``repeat`` checks after one untimed one; wrong verdicts."""
    out, wrong = {}, 0
    for entry in entries:
        history = histcheck.load(entry.file)
        options = dict(entry.check_options(), engine=engine)
        result = histcheck.check(history, **options)
        wrong += result.valid is not entry.linearizable
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            histcheck.check(history, **options)
            times.append(time.perf_counter() - t0)
        out[entry.path] = statistics.median(times)
    return out, wrong


def first_checks(entries: list, engine: str) -> dict[str, float]:
    """Each file's seconds for one check of a freshly loaded history."""
    out = {}
    for entry in entries:
        history = histcheck.load(entry.file)
        options = dict(entry.check_options(), engine=engine)
        t0 = time.perf_counter()
        histcheck.check(history, **options)
        out[entry.path] = time.perf_counter() - t0
    return out


def row(label: str, per_file: dict[str, float], porcupine_ms: float | None) -> list[Any]:
    values = sorted(per_file.values())
    total = sum(values) * 1e3
    slowest = max(per_file, key=per_file.get)
    cells = [label, f"{total:.2f}", f"{statistics.median(values) * 1e6:.0f}",
             f"{per_file[slowest] * 1e6:.0f} ({slowest.rsplit('/', 1)[-1]})"]
    if porcupine_ms is not None:
        cells.append(f"{total / porcupine_ms:.2f}")
    return cells


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7, help="timed checks per file (median)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of first checks (median round)")
    p.add_argument("--engine", action="append", choices=("kernel", "reference"), help="repeatable; default kernel")
    p.add_argument("--porcupine", type=float, help="Porcupine's sum of medians (ms) measured the same way")
    p.add_argument("--plain", action="store_true", help="plain text table even when rich is installed")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write JSON (to stdout with no FILE)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    entries = knossos_cas_register()
    if not entries:
        print("no knossos/cas-register files in the corpus manifest", file=sys.stderr)
        return 2
    warm_up()
    rows, report, wrong = [], {"load": os.getloadavg()[0], "files": len(entries)}, 0
    for engine in args.engine or ["kernel"]:
        medians, bad = repeated(entries, engine, args.repeat)
        wrong += bad
        rounds = [first_checks(entries, engine) for _ in range(max(1, args.rounds))]
        middle = sorted(rounds, key=lambda r: sum(r.values()))[len(rounds) // 2]
        rows.append(row(f"{engine}: check, median of {args.repeat}", medians, args.porcupine))
        rows.append(row(f"{engine}: first check (median of {len(rounds)} rounds)", middle, args.porcupine))
        report[engine] = {"median_sum_ms": sum(medians.values()) * 1e3,
                          "first_check_sums_ms": [sum(r.values()) * 1e3 for r in rounds], "medians_s": medians}
    if args.json is not None:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text)
    else:
        columns = ["what", "sum ms", "median file us", "slowest file us"]
        if args.porcupine is not None:
            columns.append(f"x Porcupine {args.porcupine} ms")
        print_table(f"Knossos's {len(entries)} cas-register histories, in process (load {report['load']:.2f}; "
                    f"{'all verdicts right' if not wrong else f'{wrong} WRONG VERDICTS'})", columns, rows,
                    plain=args.plain)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
