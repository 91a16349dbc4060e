"""The first second: whole-process wall time of the commands a user waits for, against today's baseline.

Every row is a fresh process timed with ``time.perf_counter`` around ``subprocess.run`` (output discarded), the
median of ``--repeat`` runs (default 10).  The rows are run round-robin -- one of each, then again -- so that a
burst of load on the shared machine touches every row alike, and the baselines are measured in the same run:

* ``python -c pass`` and ``python -c 'import numba'``/``'import numpy'`` in this venv: the floor, and what loading
  the kernel's dependencies alone costs;
* ``--engine kernel``: this tree's analyze forced onto the numba kernel, which is what every analyze did before
  the engine was chosen by size;
* ``main``: the main branch's installed ``histcheck`` (``/work/main/.venv/bin/histcheck``, or ``--main``), when
  it exists;
* the batch: ``--batch`` (default 100) small synthetic single-key histories (cas-register, 10 clients, 1% of
  calls crashed, 20 to 200 events, every fifth with a stale read where one fits), written to a temporary
  directory and checked by one ``histcheck analyze DIR``, beside the median-sized one alone; and as many copies
  of the example in one directory.

A second table measures where ``engine=auto``'s constants come from, in one process: the kernel's start (import
numpy and numba, load the compiled kernels from numba's cache, decide one 9-operation history), and the
reference against the warm kernel on single-key histories of growing size.

    .venv/bin/python benchmarks/startup.py [--repeat 10] [--batch 100] [--main PATH] [--plain] [--json [FILE]]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from benchlib import print_table  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
HISTCHECK = str(ROOT / ".venv" / "bin" / "histcheck")
MAIN = Path("/work/main/.venv/bin/histcheck")
EXAMPLE = "examples/stale-read.edn"


def make_batch(directory: Path, count: int) -> list[Path]:
    """``count`` small single-key cas-register histories from the synthetic generator, as Jepsen EDN: 20 to 200
    events, and every fifth with a stale read where the generator finds a place for one."""
    from histcheck import formats
    from synthetic import generate
    paths = []
    for i in range(count):
        events = 20 + (i * 37) % 181
        try:
            syn = generate(ops=events, keys=1, clients=10, crash_rate=0.01, anomaly=i % 5 == 0, seed=i + 1)
        except ValueError:      # too small for a stale read
            syn = generate(ops=events, keys=1, clients=10, crash_rate=0.01, seed=i + 1)
        path = directory / f"h{i:03}.edn"
        formats.write(syn.history, path)
        paths.append(path)
    return paths


def copies_of_example(directory: Path, count: int) -> None:
    text = (ROOT / EXAMPLE).read_text()
    for i in range(count):
        (directory / f"stale-read-{i:03}.edn").write_text(text)


def rows_to_run(batch_dir: Path, one: Path, copies: Path, main: Path | None) -> list[tuple[str, list[str]]]:
    rows = [("python -c pass", [PYTHON, "-c", "pass"]),
            ("python -c 'import numpy'", [PYTHON, "-c", "import numpy"]),
            ("python -c 'import numba'", [PYTHON, "-c", "import numba"]),
            (f"analyze {EXAMPLE}", [HISTCHECK, "analyze", EXAMPLE]),
            (f"analyze {EXAMPLE} --engine kernel", [HISTCHECK, "analyze", EXAMPLE, "--engine", "kernel"]),
            ("--help", [HISTCHECK, "--help"]),
            ("models", [HISTCHECK, "models"]),
            ("analyze the median file of the batch", [HISTCHECK, "analyze", str(one)]),
            (f"analyze DIR: {len(list(batch_dir.iterdir()))} synthetic files", [HISTCHECK, "analyze", str(batch_dir)]),
            (f"analyze DIR: {len(list(copies.iterdir()))} copies of the example", [HISTCHECK, "analyze", str(copies)])]
    if main is not None:
        rows += [(f"main: analyze {EXAMPLE}", [str(main), "analyze", EXAMPLE]),
                 ("main: --help", [str(main), "--help"]),
                 ("main: models", [str(main), "models"]),
                 ("main: analyze the median file of the batch", [str(main), "analyze", str(one)])]
    return rows


def wall(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc.returncode


def measure(rows: list[tuple[str, list[str]]], repeat: int) -> dict[str, dict[str, Any]]:
    times: dict[str, list[float]] = {label: [] for label, _ in rows}
    codes: dict[str, set[int]] = {label: set() for label, _ in rows}
    for label, cmd in rows:          # one untimed run each: file caches, numba's cache index, .pyc files
        wall(cmd)
    for _ in range(repeat):
        for label, cmd in rows:
            seconds, code = wall(cmd)
            times[label].append(seconds)
            codes[label].add(code)
    # every exit code seen: a row whose runs did not all end alike (a baseline being reinstalled) shows it
    return {label: {"median": statistics.median(t), "min": min(t), "max": max(t),
                    "exit": ",".join(map(str, sorted(codes[label]))), "runs": t} for label, t in times.items()}


ENGINE_PROBE = """
import json, sys, time
sys.path.insert(0, "benchmarks")
t0 = time.perf_counter()
import histcheck
from histcheck.checker import search
small = histcheck.load("examples/stale-read.edn")
t1 = time.perf_counter()
histcheck.check(small, engine="kernel")
t2 = time.perf_counter()
from synthetic import generate
rows = []
for events in (20, 100, 400, 1000, 2000):
    syn = generate(ops=events, keys=1, clients=10, crash_rate=0.01, anomaly=events >= 400, seed=7)
    med = {}
    for engine in ("reference", "kernel"):
        runs = []
        while len(runs) < 5 and sum(runs) < 1.0:      # slow ones fewer times
            t = time.perf_counter()
            result = histcheck.check(syn.history, engine=engine, **syn.check_options())
            runs.append(time.perf_counter() - t)
        med[engine] = sorted(runs)[len(runs) // 2]
    rows.append([events, result.ops, med["reference"], med["kernel"], result.valid])
print(json.dumps({"import": t1 - t0, "first_check": t2 - t1, "rows": rows}))
"""


def engine_table() -> dict[str, Any]:
    proc = subprocess.run([PYTHON, "-c", ENGINE_PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--batch", type=int, default=100, help="small histories in the batch directory")
    p.add_argument("--main", type=Path, default=MAIN, help="the baseline's histcheck (skipped when absent)")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE")
    args = p.parse_args(argv)
    main_cmd = args.main if args.main.exists() else None
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="histcheck-batch-") as tmp:
        synthetic, copies = Path(tmp) / "synthetic", Path(tmp) / "copies"
        synthetic.mkdir()
        copies.mkdir()
        batch = make_batch(synthetic, args.batch)
        copies_of_example(copies, args.batch)
        one = sorted(batch, key=lambda p: p.stat().st_size)[len(batch) // 2]      # the median file
        results = measure(rows_to_run(synthetic, one, copies, main_cmd), args.repeat)
    engines = engine_table()
    after = load_average()
    report = {"load_before": before, "load_after": after, "repeat": args.repeat, "rows": results,
              "engines": engines}
    if args.json is not None:
        text = json.dumps(report, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
        return 0
    baseline = next((label for label in results if label.startswith("main: analyze examples")),
                    f"analyze {EXAMPLE} --engine kernel")
    base = results[baseline]["median"]
    one = results["analyze the median file of the batch"]["median"]
    table = []
    for label, r in results.items():
        note = ""
        if label.startswith("analyze examples") or label.startswith("main: analyze examples"):
            note = f"{r['median'] / base:.2f} x {baseline}"
        elif label.startswith("analyze DIR") and "synthetic" in label:
            note = f"{r['median'] / one:.1f} x one of them"
        elif label.startswith("analyze DIR"):
            note = f"{r['median'] / results[f'analyze {EXAMPLE}']['median']:.1f} x one of them"
        table.append([label, f"{r['median']:.3f}", f"{r['min']:.3f}", f"{r['max']:.3f}", r["exit"], note])
    print_table(f"whole-process wall time, median of {args.repeat} (load average {before} before, {after} after)",
                ["command", "median s", "min s", "max s", "exit", "against"], table, args.plain)
    start = engines["import"] + engines["first_check"]
    print_table(f"engine=auto's constants (one process): kernel start {start:.3f} s "
                f"(import {engines['import']:.3f} s, first check {engines['first_check']:.3f} s)",
                ["events", "calls", "reference ms", "warm kernel ms", "verdict"],
                [[e, n, f"{r * 1000:.2f}", f"{k * 1000:.2f}", v] for e, n, r, k, v in engines["rows"]], args.plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
