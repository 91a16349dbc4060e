"""Every workload, and Redis Sentinel, through ``histcheck run`` against real clusters (short runs, no faults).

(The unprivileged proxy topology runs whole tests in tests/test_nemesis_faults.py.)"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from histcheck.run import net

pytestmark = pytest.mark.cluster

needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed")
needs_redis = pytest.mark.skipif(shutil.which("redis-sentinel") is None, reason="redis-sentinel is not installed")


def run(store: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(store), "--quiet",
                             "--time-limit", "3", "--rate", "0", "--recover", "0.5", "--no-report", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=90)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    latest = (store / "latest").resolve()
    results = json.loads((latest / "results.json").read_text())
    test = json.loads((latest / "test.json").read_text())
    assert net.wait_until_gone(proc.pid, timeout=10), net.own_processes(proc.pid)
    return done, results, test


@needs_etcd
@pytest.mark.parametrize("workload", ["multi-register", "set", "counter", "bank", "append"])
def test_workload_on_etcd_is_valid(workload: str, tmp_path: Path) -> None:
    done, results, test = run(tmp_path, "--workload", workload, "--concurrency", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert results["valid"] is True
    assert test["workload"]["workload"] == workload and test["workload"]["checker"]
    assert test["stats"]["ok"] > 50


@needs_redis
def test_redis_sentinel_register_run_is_valid(tmp_path: Path) -> None:
    done, results, test = run(tmp_path, "--db", "redis", "--workload", "register")
    assert done.returncode == 0, done.stdout + done.stderr
    assert results["valid"] is True
    assert test["db"]["db"] == "redis" and test["stats"]["ok"] > 100
    logs = sorted(p.name for p in (tmp_path / "latest" / "logs").iterdir())
    assert logs[:3] == ["n1.log", "n2.log", "n3.log"]
