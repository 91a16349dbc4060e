"""How long timeline.html takes to build and to open in headless Chromium, for 100,000-event histories.

Opening is measured as tests/test_browser.py does: from ``Page.navigate`` until the page says it is ready (its
data parsed, lanes built, first frame drawn).  Rows: the linearizability failure of test_browser's synthetic
register history, and a set history of the same size whose final read lost a tenth of the adds (every lost add
marked), and a list-append history with one write skew.  Run: ``python benchmarks/timeline_open.py [events]``;
``PYTHONPATH=../main python benchmarks/timeline_open.py`` measures the main checkout the same way (the script
puts its own directory first on the path, so PYTHONPATH wins over the editable install).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_browser import Browser, _renumber, synthetic  # noqa: E402  (the test's own driver and history)
from render_histories import lost_set, write_skew_list_append  # noqa: E402

import histcheck  # noqa: E402
from histcheck.checkers import check  # noqa: E402
from histcheck.render.timeline import write_timeline  # noqa: E402

REPEATS = 3


def cases(events: int):
    history, result = synthetic(events // 2)
    yield "register, linearizability failure", _renumber(history), result
    n = events // 2 - 1
    history = lost_set(n_adds=n, lost=tuple(range(0, n, 10)), processes=10)
    yield f"set, {len(range(0, n, 10))} lost adds", history, check(history, "set")
    history = write_skew_list_append(before=events // 4, after=events // 4 - 2, keys=50)
    yield "list-append, one G2-item", history, check(history, "list-append")


def main(events: int = 100_000) -> None:
    browser = Browser()
    try:
        print(f"histcheck from {Path(histcheck.__file__).parent}\n")
        print(f"| history | events | build (s) | page (MB) | open in Chromium (s), median of {REPEATS} |")
        print("|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for name, history, result in cases(events):
                started = time.perf_counter()
                page = write_timeline(Path(tmp) / "t.html", history, result)
                build = time.perf_counter() - started
                opens = [browser.open(page) for _ in range(REPEATS)]
                errors = browser.errors()
                print(f"| {name} | {len(history.ops)} | {build:.2f} | {page.stat().st_size / 1e6:.1f} | "
                      f"{statistics.median(opens):.2f} |" + (f" errors: {errors}" if errors else ""))
    finally:
        browser.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
