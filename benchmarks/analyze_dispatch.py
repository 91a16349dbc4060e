"""What choosing a checker costs ``histcheck analyze`` of a linearizability history: the same files analysed by
two checkouts of histcheck, alternately, each run in a fresh interpreter (start-up included, as a user pays it).

    .venv/bin/python benchmarks/analyze_dispatch.py --baseline ../main FILE [FILE ...] [--repeat 5]

prints one row per file: the median wall time of ``histcheck analyze FILE`` with this checkout and with the
baseline, and their ratio.  The checkouts' exit codes must agree (they are printed too).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed(repo: Path, path: str) -> tuple[float, int]:
    code = (f"import sys; sys.path.insert(0, {str(repo)!r}); sys.argv = ['histcheck', 'analyze', {path!r}]; "
            "from histcheck.cli import main; main()")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    return time.perf_counter() - started, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (e.g. ../main)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'file':<40} {'this (s)':>9} {'baseline (s)':>13} {'ratio':>6}  exit")
    for path in args.files:
        mine, base, codes = [], [], set()
        for _ in range(args.repeat):
            for repo, times in ((HERE, mine), (args.baseline.resolve(), base)):
                seconds, code = timed(repo, path)
                times.append(seconds)
                codes.add((repo == HERE, code))
        m, b = statistics.median(mine), statistics.median(base)
        exits = "/".join(str(c) for _, c in sorted(codes, reverse=True))
        print(f"{Path(path).name:<40} {m:>9.3f} {b:>13.3f} {m / b:>6.2f}  {exits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
