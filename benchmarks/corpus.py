"""How fast histcheck decides the public corpus (../shared/corpus), file by file, against issue 3's figures.

For each group of the manifest it prints one table, a row per history:

* ``events``: lines of the history (invocations, completions, nemesis); ``ops``: operations checked (calls);
* ``verdict`` (valid / INVALID / unknown:<cause>) and ``ok?``: whether it matches the manifest (``?`` = unknown);
* ``parse ms``: median of ``--repeat`` ``histcheck.load`` runs after one warm-up;
* ``check ms``: median of ``--repeat`` ``histcheck.check`` runs after one warm-up (``n`` = timed runs; a check
  slower than ``--slow`` seconds in its warm-up is not repeated: the warm-up is its one timing); with ``--cpu``,
  the fewest CPU seconds of those runs instead (steadier on a loaded machine);
* ``states``: model-state configurations the search stored (summed over keys);
* ``trace MB``: tracemalloc peak of one extra, untimed check (Python and numpy memory, not numba's NRT);
* ``rss+ MB``: peak RSS above the RSS before the check, over one timed run (``VmHWM`` after a reset of the
  high-water mark; see benchlib.RssPeak).

Groups: ``etcd`` (Porcupine's 103 etcd logs), ``knossos`` (cas-register, mutex, multi-register), ``kv``
(Porcupine kv, per key) and ``kv-one`` (the same files checked as one partition, ``partition=False``, under
``--time-limit``).  Last, the whole-process wall time of ``.venv/bin/histcheck analyze`` on one etcd file, cold
(an empty numba cache in a temporary ``NUMBA_CACHE_DIR``), warm (the same cache again) and with the project's own
cache.

    .venv/bin/python benchmarks/corpus.py [--group etcd --group kv-one] [--repeat 5] [--time-limit 60]
        [--plain] [--json [FILE]] [--no-analyze]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from benchlib import (ROOT, Entry, RssPeak, manifest, mb, median_time, min_cpu_time, ms, print_table, timed,
                      tracemalloc_peak)

import histcheck

GROUPS: dict[str, tuple[Callable[[Entry], bool], bool]] = {
    "etcd": (lambda e: e.path.startswith("porcupine/etcd/"), True),
    "knossos": (lambda e: e.path.startswith("knossos/"), True),
    "kv": (lambda e: e.path.startswith("porcupine/kv/"), True),
    "kv-one": (lambda e: e.path.startswith("porcupine/kv/"), False),
}
ANALYZE_FILE = "porcupine/etcd/etcd_002.log"


@dataclass
class Row:
    """The measurements of one history."""

    path: str
    events: int
    ops: int
    verdict: str
    expected: bool
    match: str
    parse_s: float
    check_s: float
    runs: int
    states: int
    trace_bytes: int | None
    rss_bytes: int
    rss_method: str
    search_s: float


def verdict_of(result: histcheck.Result) -> str:
    if result.valid is True:
        return "valid"
    if result.valid is False:
        return "INVALID"
    return f"unknown:{result.cause}"


def match_of(result: histcheck.Result, expected: bool) -> str:
    if result.valid not in (True, False):
        return "?"
    return "yes" if result.valid == expected else "NO"


def measure(entry: Entry, partition: bool, repeat: int, time_limit: float | None, slow: float,
            trace: bool, cpu: bool = False) -> Row:
    """Parse and check one history; see the module docstring for what each number is."""
    parse_s, history, _ = median_time(lambda: histcheck.load(entry.file), repeat)
    options = dict(entry.check_options(), partition=partition, time_limit=time_limit)
    run = lambda: histcheck.check(history, **options)  # noqa: E731
    with RssPeak() as rss:
        first_s, result = timed(run)
    runs = 1
    check_s = first_s
    if first_s < slow and result.valid in (True, False):
        with RssPeak() as rss:
            check_s, result, times = (min_cpu_time if cpu else lambda f, r: median_time(f, r, warmup=0))(run, repeat)
        runs = len(times)
    trace_bytes = tracemalloc_peak(run)[0] if trace and first_s < slow else None
    return Row(entry.path, len(history), result.ops, verdict_of(result), entry.linearizable,
               match_of(result, entry.linearizable), parse_s, check_s, runs,
               sum(k.states for k in result.keys), trace_bytes, rss.delta, rss.method, result.seconds)


def run_group(name: str, args: argparse.Namespace) -> list[Row]:
    wanted, partition = GROUPS[name]
    entries = [e for e in manifest() if wanted(e)]
    rows = []
    for entry in entries:
        limit = args.time_limit if name == "kv-one" else None
        rows.append(measure(entry, partition, args.repeat, limit, args.slow, not args.no_trace, args.cpu))
        if args.verbose:
            print(f"  {name} {entry.path}: {rows[-1].verdict} {ms(rows[-1].check_s)} ms", file=sys.stderr)
    return rows


def group_sums(rows: list[Row]) -> dict[str, Any]:
    traces = [r.trace_bytes for r in rows if r.trace_bytes is not None]
    slowest = max(rows, key=lambda r: r.check_s) if rows else None
    return {
        "files": len(rows), "events": sum(r.events for r in rows), "ops": sum(r.ops for r in rows),
        "matches": sum(r.match == "yes" for r in rows), "mismatches": sum(r.match == "NO" for r in rows),
        "unknown": sum(r.match == "?" for r in rows),
        "parse_s": sum(r.parse_s for r in rows), "check_s": sum(r.check_s for r in rows),
        "max_trace_bytes": max(traces) if traces else None, "max_rss_bytes": max((r.rss_bytes for r in rows), default=0),
        "slowest": slowest.path if slowest else None, "slowest_check_s": slowest.check_s if slowest else None,
    }


COLUMNS = ["file", "events", "ops", "verdict", "ok?", "parse ms", "check ms", "n", "states", "trace MB", "rss+ MB"]


def print_group(name: str, rows: list[Row], sums: dict[str, Any], plain: bool) -> None:
    body = [[r.path.split("/", 1)[1], r.events, r.ops, r.verdict, r.match, ms(r.parse_s), ms(r.check_s), r.runs,
             r.states, mb(r.trace_bytes), mb(r.rss_bytes)] for r in rows]
    ok = f"{sums['matches']}/{sums['files']}" + (f" ({sums['mismatches']} NO, {sums['unknown']} ?)"
                                                  if sums["mismatches"] or sums["unknown"] else "")
    foot = [f"SUM {sums['files']} files", sums["events"], sums["ops"], "", ok, ms(sums["parse_s"]),
            ms(sums["check_s"]), "", "", "max " + mb(sums["max_trace_bytes"]), "max " + mb(sums["max_rss_bytes"])]
    print_table(f"{name} (slowest check: {sums['slowest']}, {ms(sums['slowest_check_s'])} ms)", COLUMNS, body,
                plain, foot)


# -- whole-process analyze --------------------------------------------------------------------------------

def analyze_times(path: str = ANALYZE_FILE) -> list[dict[str, Any]]:
    """Wall time of ``histcheck analyze`` as a fresh process: cold and warm numba cache, then the default one."""
    entry = next(e for e in manifest() if e.path == path)
    cmd = [str(ROOT / ".venv" / "bin" / "histcheck"), "analyze", str(entry.file), "--model", entry.model]
    if entry.init.strip():
        cmd += ["--init", entry.init]
    out = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out.append(_run_analyze("cold (empty NUMBA_CACHE_DIR)", cmd, env))
        out.append(_run_analyze("warm (same NUMBA_CACHE_DIR)", cmd, env))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    out.append(_run_analyze("project cache (histcheck/checker/__pycache__)", cmd, env))
    return out


def _run_analyze(label: str, cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    first = (proc.stdout.strip().splitlines() or [""])[0]
    return {"run": label, "seconds": seconds, "exit": proc.returncode, "output": first[:80]}


def print_analyze(runs: list[dict[str, Any]], path: str, plain: bool) -> None:
    print_table(f"histcheck analyze {path}: whole-process wall time", ["run", "wall s", "exit", "first line"],
                [[r["run"], f"{r['seconds']:.2f}", r["exit"], r["output"]] for r in runs], plain)


# -- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--group", action="append", choices=list(GROUPS), help="repeatable; default: all")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per file (median)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per kv-one check before unknown")
    p.add_argument("--slow", type=float, default=5.0, help="checks slower than this (s) are timed once")
    p.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    p.add_argument("--cpu", action="store_true",
                   help="check ms is the fewest CPU seconds of the timed runs instead of their median wall time")
    p.add_argument("--no-analyze", action="store_true", help="skip the whole-process analyze timing")
    p.add_argument("--analyze-file", default=ANALYZE_FILE, help="manifest path for the analyze timing")
    p.add_argument("--plain", action="store_true", help="plain text tables even when rich is installed")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write JSON (to stdout with no FILE)")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    return p.parse_args(argv)


def warm_up() -> None:
    """Load (or compile) the kernel once, so that the first file's warm-up is not also the JIT's (and engine auto,
    seeing the kernel started, gives it every key, as a long-running process would)."""
    entry = next(e for e in manifest() if e.path.startswith("porcupine/etcd/"))
    histcheck.check(histcheck.load(entry.file), **entry.check_options(), engine="kernel")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warm_up()
    report: dict[str, Any] = {"repeat": args.repeat, "time_limit": args.time_limit, "groups": {}}
    for name in args.group or list(GROUPS):
        rows = run_group(name, args)
        sums = group_sums(rows)
        report["groups"][name] = {"sums": sums, "files": [asdict(r) for r in rows]}
        if args.json != "-":
            print_group(name, rows, sums, args.plain)
    if not args.no_analyze:
        report["analyze"] = {"file": args.analyze_file, "runs": analyze_times(args.analyze_file)}
        if args.json != "-":
            print_analyze(report["analyze"]["runs"], args.analyze_file, args.plain)
    if args.json:
        text = json.dumps(report, indent=1, default=str)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text)
    mismatches = sum(g["sums"]["mismatches"] for g in report["groups"].values())
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
