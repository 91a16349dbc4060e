"""``histcheck run --workload list-append`` on a real etcd cluster: Elle's workload judged by the list-append checker.

etcd's txn API is strict serializable, so the run must be valid, and ``analyze`` of the stored history (here: the
checker on ``histcheck.load`` of it) must give the same verdict the run printed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import histcheck
from histcheck.checkers.elle.list_append import ListAppend
from histcheck.run import net

pytestmark = pytest.mark.cluster


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed")
def test_list_append_on_etcd_is_valid(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet",
                             "--workload", "list-append", "--time-limit", "10", "--rate", "0", "--concurrency", "4",
                             "--recover", "0.5", "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate(timeout=120)
    assert net.wait_until_gone(proc.pid, timeout=10), net.own_processes(proc.pid)
    assert proc.returncode == 0, out + err
    latest = (tmp_path / "latest").resolve()
    results = json.loads((latest / "results.json").read_text())
    test = json.loads((latest / "test.json").read_text())
    assert results["valid"] is True and results["checker"] == "list-append"
    assert results["edges"] == ["process", "realtime"]
    assert test["stats"]["ok"] > 100
    history = histcheck.load(latest / "history.edn")
    again = ListAppend().check(history)
    assert again.valid is True and again.ops == results["ops"]
    # The transactions really were multi-key and saw each other: the graph has edges of every data kind.
    assert again.details["edge-count"] > again.ops
    reads = [m for op in history if op.type == "ok" for m in op.value if m[0] == "r" and m[2]]
    assert reads, "no transaction read a non-empty list"
