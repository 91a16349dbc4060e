"""Shared measuring helpers for the benchmark scripts: timing, peak memory, the corpus manifest, tables.

Memory is measured two ways, and every table says which one a column holds:

* ``tracemalloc`` peak: the most memory Python (and numpy, which reports its buffers to tracemalloc) held at once
  during the call, above what it held before.  It misses allocations made inside numba-compiled code (NRT) and by
  LLVM, and it slows the call down, so it is always taken in a separate, untimed run.
* RSS: the resident set size the kernel reports.  ``RssPeak`` resets the process's high-water mark (writing ``5``
  to ``/proc/self/clear_refs``, Linux >= 4.0) and reports ``VmHWM`` after the call minus ``VmRSS`` before it: the
  peak extra resident memory the call needed.  Where the reset is not allowed it falls back to
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (a whole-process peak: an upper bound) and says so.
"""
from __future__ import annotations

import csv
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
MB = 1 << 20


# -- time ----------------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` took (perf_counter) and what it returned."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[float, Any, list[float]]:
    """Median seconds of ``repeat`` runs after ``warmup`` untimed ones; the last result; every timing."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(max(1, repeat)):
        seconds, out = timed(fn)
        times.append(seconds)
    return statistics.median(times), out, times


def min_cpu_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any, list[float]]:
    """Fewest CPU seconds (``process_time``: every thread of this process) of ``repeat`` runs; the last result;
    every timing.  On a machine shared with other work this moves far less than wall time does."""
    times = []
    out = None
    for _ in range(max(1, repeat)):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out, times


# -- memory --------------------------------------------------------------------------------------------------

def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_bytes() -> int:
    """``ru_maxrss`` of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssPeak:
    """``with RssPeak() as m: ...`` then ``m.delta`` (bytes of peak RSS above the RSS at entry), ``m.peak``
    (the absolute peak RSS during the block) and ``m.method`` (``hwm`` or ``ru_maxrss``)."""

    def __enter__(self) -> "RssPeak":
        self.method = "hwm" if _reset_hwm() and _status_kb("VmHWM") is not None else "ru_maxrss"
        self.before = (_status_kb("VmRSS") or 0) * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method == "hwm":
            self.peak = (_status_kb("VmHWM") or 0) * 1024
        else:
            self.peak = maxrss_bytes()
        self.delta = max(0, self.peak - self.before)


def tracemalloc_peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes traced by tracemalloc while ``fn()`` ran, above the traced memory at the start."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - base), out


# -- the corpus manifest ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One row of ``MANIFEST.tsv``: a history and how to check it."""

    path: str
    format: str
    model: str
    init: str
    linearizable: bool

    @property
    def file(self) -> Path:
        return CORPUS / self.path

    def check_options(self) -> dict[str, Any]:
        """``model`` and, unless the manifest leaves it empty (the model's default), ``init`` parsed from EDN."""
        from histcheck.formats.edn import parse_value
        options: dict[str, Any] = {"model": self.model}
        if self.init.strip():
            options["init"] = parse_value(self.init)
        return options


def manifest(corpus: Path = CORPUS) -> list[Entry]:
    with open(corpus / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Entry(r["path"], r["format"], r["model"], r["init"] or "", r["linearizable"].strip() == "true")
            for r in rows]


# -- output --------------------------------------------------------------------------------------------------

def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def mb(nbytes: int | None) -> str:
    return "-" if nbytes is None else f"{nbytes / MB:.1f}"


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], plain: bool = False,
                footer: Sequence[Any] | None = None) -> None:
    """A table with rich when it is installed (and ``plain`` is false), else aligned plain text."""
    rows = [[str(c) for c in r] for r in rows]
    foot = [str(c) for c in footer] if footer is not None else None
    if not plain:
        try:
            _rich_table(title, columns, rows, foot)
            return
        except ImportError:
            pass
    _plain_table(title, columns, rows, foot)


def _rich_table(title: str, columns: Sequence[str], rows: list[list[str]], foot: list[str] | None) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title, show_footer=foot is not None)
    for i, name in enumerate(columns):
        table.add_column(name, footer=foot[i] if foot else "", justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    Console(width=200).print(table)


def _plain_table(title: str, columns: Sequence[str], rows: list[list[str]], foot: list[str] | None) -> None:
    body = [list(columns)] + rows + ([foot] if foot else [])
    widths = [max(len(r[i]) for r in body) for i in range(len(columns))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    rule = "-" * len(line(columns))
    print(f"\n{title}\n{line(columns)}\n{rule}")
    for r in rows:
        print(line(r))
    if foot:
        print(rule)
        print(line(foot))
