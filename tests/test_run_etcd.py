"""``histcheck run`` against a real 3-node etcd: a valid run, a SIGKILLed run, cleanup (Jepsen's field names of the
stored history are checked on the in-memory DB: tests/test_run_memory.py)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from histcheck.run import net

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None,
                                                      reason="etcd-server is not installed (bash .ci/setup)")]


HISTCHECK = [sys.executable, "-c", "from histcheck.cli import main; main()"]


def run_cli(args: list[str], store: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "histcheck.run", "--store", str(store), "--quiet", "--no-report", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def assert_nothing_left(pid: int) -> None:
    """No node, proxy or reaper process and no namespace or link of the run of ``pid`` survives it."""
    assert net.wait_until_gone(pid, timeout=10), (net.own_processes(pid), net.leftovers(pid))


def read_history(store: Path) -> list[dict]:
    import edn_format
    lines = (store / "latest" / "history.edn").read_text().splitlines()
    return [edn_format.loads(line) for line in lines if line.strip()]


def test_register_run_is_valid_and_leaves_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.Popen([*HISTCHECK, "run", "--store", str(tmp_path), "--quiet",
                             "--workload", "register", "--time-limit", "20", "--rate", "0", "--seed", "7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "valid" in out and "stored in" in out
    run_dir = (tmp_path / "latest").resolve()
    for name in ("history.edn", "history.jsonl", "test.json", "results.json", "results.edn", "timeline.html",
                 "explanation.txt"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "logs").iterdir())[:3] == ["n1.log", "n2.log", "n3.log"]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True
    test = json.loads((run_dir / "test.json").read_text())
    assert test["options"]["seed"] == 7 and test["options"]["time_limit"] == 20
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    completed = [op for op in ops if op["type"] in ("ok", "fail", "info")]
    assert len(completed) >= 1000, len(completed)
    assert_nothing_left(proc.pid)
    assert time.monotonic() - started < 90


def test_sigkilled_run_keeps_a_checkable_history(tmp_path: Path) -> None:
    import histcheck
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet",
                             "--time-limit", "8", "--rate", "0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    history_file = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the main phase has begun
        candidates = list(tmp_path.glob("*/2*/history.edn"))
        if candidates and candidates[0].stat().st_size > 0:
            history_file = candidates[0]
            break
        time.sleep(0.1)
    assert history_file is not None, "the run journaled nothing"
    time.sleep(4)  # halfway through the 8 s main phase
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    history = histcheck.load(str(history_file))
    assert len(history) > 300
    assert_nothing_left(proc.pid)
    analyzed = subprocess.run([*HISTCHECK, "analyze", str(history_file), "--model", "cas-register"],
                              capture_output=True, text=True, timeout=60)
    assert analyzed.returncode == 0, analyzed.stdout + analyzed.stderr  # valid: etcd without faults
    assert "valid" in analyzed.stdout


def test_missing_etcd_stops_at_once_with_install_hint(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 254
    assert "apt-get install" in result.stderr and "etcd-server" in result.stderr
    assert time.monotonic() - started < 15
    assert not list(tmp_path.iterdir())


def test_bad_option_exits_254(tmp_path: Path) -> None:
    result = run_cli(["--nodes", "0"], tmp_path)
    assert result.returncode == 254, (result.returncode, result.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_cleans_up_and_checks_what_it_has(sig: int, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet",
                             "--time-limit", "60", "--rate", "0", "--no-report"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.glob("*/2*/history.edn")):
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "stopped early" in out
    test = json.loads((tmp_path / "latest" / "test.json").read_text())
    assert test["stop_reason"] == signal.Signals(sig).name
    assert_nothing_left(proc.pid)
