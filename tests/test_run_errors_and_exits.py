"""Against real etcd: the error rule and the node watcher.

* A node killed by the kill nemesis (SIGKILL), and another stopped by the stop nemesis (SIGTERM, a fault of its
  own), refuse connections; every request they refused is ``:fail`` (it certainly did nothing), none is ``:info``
  (docs/semantics.md, the client-error rule); and the watcher reports neither exit (both were asked for).  In
  both network modes: a dead node's proxy refuses too (histcheck/run/proxy.py), so while a node is down its
  worker records ``:fail``, with at most two ``:info`` (the call in flight when the fault struck, one more).
* A node killed with ``kill -9`` from outside, with no nemesis, is noticed: a nemesis-style ``:info`` event
  ``n3 exited, signal 9`` in the history, ``node_exits`` in test.json, and the first note of the verdict.
"""
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

from histcheck.run import net, procs
from histcheck.run.runner import RunOptions, Runner

from nemesis_helpers import assert_nothing_left, history

MODES = ["proxy"] + (["netns"] if net.is_root() else [])
pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")]


def options(tmp_path: Path, **overrides) -> RunOptions:
    base = dict(workload="register", time_limit=6, rate=60, store=str(tmp_path), op_timeout=1.0, recover=0.5,
                seed=21, report=False)
    base.update(overrides)
    return RunOptions(**base)


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_nodes_refused_requests_are_fail(mode: str, tmp_path: Path) -> None:
    started = time.monotonic()
    nemesis = "kill:n2@seq:1-3,stop:n3@seq:3.5-5.5"
    outcome = Runner(options(tmp_path, nemesis=nemesis, network=mode)).run()
    print(f"etcd kill and stop run ({mode}): {time.monotonic() - started:.1f} s")
    ops = history(outcome)
    refused = [op for op in ops if "ConnectionRefusedError" in (op.get("error") or "")]
    assert len(refused) >= 5, [op.get("error") for op in ops if op.get("error")][:10]
    assert all(op["type"] == "fail" for op in refused), [op for op in refused if op["type"] != "fail"][:3]
    assert {op["f"] for op in refused} & {"write", "cas"}, "writes were refused too, and are :fail"
    workers = {op["process"] % 5 for op in refused}
    assert {1, 2} <= workers, workers  # worker 1 talks to n2 (killed), worker 2 to n3 (stopped)
    done = {op["f"]: op["value"] for op in ops if op["process"] == "nemesis" and op["value"] and "nodes" in op["value"]}
    assert done["kill"]["nodes"] == ["n2"] and done["stop-node"]["nodes"] == ["n3"], done
    assert "start-node" in done and "restart" in done
    for fault, recovery, worker in (("kill", "restart", 1), ("stop-node", "start-node", 2)):
        crashed = [op for op in ops_while_down(ops, fault, recovery) if op["process"] % 5 == worker
                   and op["type"] == "info"]
        assert len(crashed) <= 2, crashed   # the call in flight when the node went, and at most one more
    assert not [op for op in ops if op["f"] == "node-exited"] and not outcome.errors, outcome.errors
    assert outcome.result.valid is True, outcome.result.to_dict()
    assert_nothing_left()


def ops_while_down(ops: list[dict], fault: str, recovery: str) -> list[dict]:
    """Client completions from the end of the ``fault`` step (the node is down) to the start of ``recovery``."""
    nemesis = [op for op in ops if op["process"] == "nemesis"]
    down = next(i for i, op in enumerate(nemesis)
                if op["f"] == fault and isinstance(op.get("value"), dict) and "nodes" in op["value"])
    back = next(op for op in nemesis[down:] if op["f"] == recovery)
    return [op for op in ops if op["process"] != "nemesis" and op["type"] != "invoke"
            and nemesis[down]["time"] <= op["time"] <= back["time"]]


def etcd_node_pid(runner_pid: int, name: str) -> int | None:
    """The pid of the runner's etcd child started as ``--name NAME`` (read from /proc, as an operator would)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == runner_pid and any(a.endswith(b"etcd") for a in argv[:1]) and name.encode() in argv:
            return int(entry.name)
    return None


def test_a_node_killed_from_outside_is_recorded_and_named(tmp_path: Path) -> None:
    """``kill -9`` of n3's etcd from outside a run with no nemesis: in the history, test.json and the summary."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet",
                             "--no-report", "--time-limit", "5", "--rate", "60", "--op-timeout", "1",
                             "--recover", "0.5", "--seed", "21"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        journal = tmp_path / "latest" / "history.jsonl"
        assert procs.wait_until(lambda: journal.exists() and journal.stat().st_size > 0, 60), "no main phase"
        time.sleep(1.5)
        pid = etcd_node_pid(proc.pid, "n3")
        assert pid is not None, "n3's etcd is not a child of the runner"
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"etcd outside-kill run: {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, out + err  # two of three still serve: consistent
    assert "n3 exited, signal 9 at" in out and "1 node exit(s) nobody asked for" in out, out
    ops = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    events = [op for op in ops if op["process"] == "nemesis"]
    assert [op["f"] for op in events] == ["node-exited", "node-exited"], events
    assert events[1]["value"] == "n3 exited, signal 9" and events[1]["type"] == "info"
    test = json.loads((tmp_path / "latest" / "test.json").read_text())
    assert [(e["node"], e["signal"]) for e in test["node_exits"]] == [("n3", "SIGKILL")], test["node_exits"]
    assert test["stats"]["node_exits"] == 1 and any("n3 exited, signal 9" in e for e in test["errors"])
    assert net.wait_until_gone(proc.pid, timeout=10), net.own_processes(proc.pid)
