"""``histcheck run`` judges each workload with its registered checker, and ``histcheck analyze`` of the stored
history gives the same verdict with the checker inferred (real etcd clusters on loopback, short runs)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from histcheck.cli import main
from histcheck.run import net

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None,
                                                      reason="etcd-server is not installed")]


def run(store: Path, workload: str, *extra: str) -> tuple[int, dict, Path]:
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(store), "--quiet",
                             "--time-limit", "2", "--rate", "0", "--recover", "0.5", "--workload", workload,
                             "--concurrency", "4", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate(timeout=90)
    assert net.wait_until_gone(proc.pid, timeout=10), net.own_processes(proc.pid)
    latest = (store / "latest").resolve()
    return proc.returncode, json.loads((latest / "results.json").read_text()), latest


@pytest.mark.parametrize("workload,checker", [("set", "set"), ("counter", "counter"), ("bank", "bank"),
                                              ("append", "append")])
def test_run_verdict_is_the_stored_historys_verdict(workload: str, checker: str, tmp_path: Path) -> None:
    code, results, latest = run(tmp_path, workload, *([] if workload == "set" else ["--no-report"]))
    assert results["checker"] == checker and code == {True: 0, False: 1}.get(results["valid"], 2)
    again = CliRunner().invoke(main, ["analyze", "--json", str(latest / "history.edn")], catch_exceptions=False)
    data = json.loads(again.output)
    assert again.exit_code == code and data["checker"] == checker and data["valid"] == results["valid"]
    if workload == "set":
        explanation = (latest / "explanation.txt").read_text()
        assert explanation.startswith("Valid: the set checker found nothing wrong")
        assert (latest / "timeline.html").exists()
