"""Many history files in one process: ``histcheck analyze A B DIR ...``.

Jepsen users keep histories by the hundred (a store of test runs, a corpus of regressions).  Checking them one
process at a time pays Python's start, and the imports, every time; one process pays them once.  This module is
the batch around the single-file check: which files a directory holds, where each file's report goes, one line
per file, a total, and one exit code for all of them.

The exit code is the *worst* file's, in the order 255 > 254 > 2 > 1 > 0, so that it says what a script can rely
on without reading the lines:

* 0: every file is valid;
* 1: every file was decided, and at least one is invalid;
* 2: at least one file could not be decided (unknown): the others may be valid or invalid, but the batch as a
  whole is not a complete answer;
* 254: at least one file could not be read (bad input): nothing is known about it;
* 255: histcheck failed on at least one file (an internal error, to be reported).

An undecided file outranks an invalid one because "invalid" is a complete answer about the files that were
decided, while "unknown" or a file never read leaves the question open: exit 1 promises that nothing was missed.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError

HISTORY_SUFFIXES = (".edn", ".json", ".jsonl", ".ndjson", ".log", ".txt")
WORST_FIRST = (EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_UNKNOWN, EXIT_INVALID, EXIT_VALID)
OUTCOME_NAMES = {EXIT_VALID: "valid", EXIT_INVALID: "INVALID", EXIT_UNKNOWN: "unknown", EXIT_BAD_INPUT: "bad input",
                 EXIT_INTERNAL: "internal error"}


def worst(codes: list[int]) -> int:
    """The exit code of a batch: the worst of its files' (see the module docstring); 0 for no files."""
    present = set(codes)
    return next((code for code in WORST_FIRST if code in present), EXIT_VALID)


def history_files(paths: tuple[Path, ...] | list[Path]) -> list[Path]:
    """The files to check, in the order given: a directory stands for the history files under it (by suffix,
    recursively, sorted, hidden ones skipped); a directory without any stays itself, to be reported on its line;
    a file is taken whatever its name (the content decides its format)."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.rglob("*")
                       if p.suffix.lower() in HISTORY_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        out.extend(found or [path])
    return out


def report_dirs(files: list[Path], out: Path) -> list[Path]:
    """One report directory per file under ``out``: the file's name without its suffix, then ``-2``, ``-3``...
    for later files of the same name."""
    taken: set[str] = set()
    dirs = []
    for path in files:
        name = path.stem or path.name
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique)
        dirs.append(out / unique)
    return dirs


@dataclass
class Tally:
    """The total line: how many files ended in each way, and the time the batch took."""

    counts: dict[int, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    interrupted: bool = False

    def add(self, code: int) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1

    @property
    def code(self) -> int:
        return worst(list(self.counts))

    def line(self) -> str:
        files = sum(self.counts.values())
        parts = ", ".join(f"{self.counts.get(code, 0)} {OUTCOME_NAMES[code]}" for code in reversed(WORST_FIRST)
                          if self.counts.get(code) or code in (EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN))
        return (f"total: {files} file{'s' if files != 1 else ''}: {parts} in {time.monotonic() - self.started:.3f} s;"
                f" exit {self.code}")


def run_batch(files: list[Path], check_one: Callable[[Path], int], report_error: Callable[[Path, int, str], None],
              stop: Callable[[], bool] = lambda: False, *, lanes: int = 1,
              flush: Callable[[Path], None] = lambda path: None,
              interrupt: Callable[[], None] = lambda: None) -> Tally:
    """Check every file with ``check_one`` (which prints its own line and returns its exit code); a file that
    raises is reported by ``report_error`` (file, exit code, message) and the batch goes on.  ``stop`` ends the
    batch early (after Ctrl-C interrupted a check), and so does Ctrl-C between checks; the tally says so.

    With ``lanes`` > 1, that many files are checked at once in threads (for searches that run elsewhere, on a
    Dask cluster: one file is read while another's keys are searched); ``check_one`` then holds its lines back
    and ``flush(path)`` prints them, in the order of ``files``.  On Ctrl-C, ``interrupt`` stops the checks still
    running in the other lanes."""
    if lanes > 1:
        return _run_in_lanes(files, check_one, report_error, stop, lanes, flush, interrupt)
    tally = Tally()
    for path in files:
        try:
            code = _checked(path, lambda: check_one(_history_file(path)), report_error)
        except KeyboardInterrupt:       # Ctrl-C outside a search (a search ends unknown: interrupted itself)
            _interrupted(path, tally, report_error)
            break
        tally.add(code)
        if stop():
            tally.interrupted = True
            break
    return tally


def _run_in_lanes(files: list[Path], check_one, report_error, stop, lanes: int, flush, interrupt) -> Tally:
    from concurrent.futures import ThreadPoolExecutor
    tally = Tally()
    pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="histcheck-file")
    futures = [pool.submit(lambda p=path: check_one(_history_file(p))) for path in files]
    try:
        for path, future in zip(files, futures):
            code = _checked(path, future.result, report_error)
            flush(path)
            tally.add(code)
            if stop():
                tally.interrupted = True
                break
    except KeyboardInterrupt:
        interrupt()
        _interrupted(path, tally, report_error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)   # the lanes still running stop at their next look
    return tally


def _history_file(path: Path) -> Path:
    if path.is_dir():
        raise InputError("a directory with no history files in it", path=str(path),
                         expected="files ending in " + ", ".join(HISTORY_SUFFIXES))
    return path


def _checked(path: Path, run: Callable[[], int], report_error: Callable[[Path, int, str], None]) -> int:
    """The exit code of one file's check; a file that raised is reported, and the batch goes on."""
    try:
        return run()
    except InputError as exc:
        report_error(path, EXIT_BAD_INPUT, _without_path(exc, path))
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - one file's internal error must not lose the others' verdicts
        if os.environ.get("HISTCHECK_DEBUG"):
            raise
        report_error(path, EXIT_INTERNAL, f"{type(exc).__name__}: {exc} (please report it)")
        return EXIT_INTERNAL


def _interrupted(path: Path, tally: Tally, report_error: Callable[[Path, int, str], None]) -> None:
    report_error(path, EXIT_UNKNOWN, "interrupted")
    tally.add(EXIT_UNKNOWN)
    tally.interrupted = True


def _without_path(exc: InputError, path: Path) -> str:
    """The error's message without the file name the line already starts with."""
    if exc.path not in (None, str(path)):
        return str(exc)
    text = (f"line {exc.line}: " if exc.line is not None else "") + exc.message
    return text + (f" (expected {exc.expected})" if exc.expected else "")
