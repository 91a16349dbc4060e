"""The nemesis finds real bugs, and Ctrl-C heals: Redis Sentinel under a partition that isolates the primary with
the clients loses acknowledged writes (invalid in at least 4 of 5 short attempts); etcd with serializable reads
under a partition serves stale reads (not linearizable); SIGINT in the middle of a partition heals the network
before the runner exits and leaves nothing behind."""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from histcheck import nemesis
from histcheck.run import net, procs

from nemesis_helpers import assert_nothing_left, history, nemesis_steps, run

pytestmark = pytest.mark.cluster
ATTEMPTS = 5


@pytest.mark.skipif(shutil.which("redis-sentinel") is None, reason="redis-sentinel not installed")
@pytest.mark.skipif(not net.is_root(), reason="the proxies cannot tell Redis replication from clients; needs root")
def test_redis_partition_loses_acknowledged_writes(tmp_path: Path) -> None:
    invalid, lost = 0, []
    for attempt in range(ATTEMPTS):
        outcome = run(tmp_path / str(attempt), nemesis.build("partition@seq:0.5-5"), db="redis", workload="set",
                      time_limit=5.5, seed=attempt, rate=100)
        result = outcome.result.to_dict()
        invalid += result["valid"] is False
        found = [re.search(r"lost (\d+)", note) for note in result.get("notes", [])]
        lost.append(next((int(m.group(1)) for m in found if m), 0))
        groups = next(done for f, _, done in nemesis_steps(history(outcome)) if f == "start-partition")["groups"]
        assert "clients" in groups[0]  # the primary and the clients on one side
        assert_nothing_left()
    print(f"redis partition: invalid {invalid}/{ATTEMPTS}, lost acknowledged adds per attempt {lost}")
    assert invalid >= 4 and sum(n > 0 for n in lost) >= 4, (invalid, lost)


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")
def test_etcd_serializable_reads_are_stale_under_partition(tmp_path: Path) -> None:
    """A follower cut off keeps answering serializable reads from its old state while the majority moves on."""
    outcome = run(tmp_path, nemesis.build("partition:follower@seq:0.5-5"), read_mode="serializable",
                  time_limit=5.5, rate=100, workload_options={"mix": {"read": 3, "write": 1, "cas": 1}})
    assert outcome.result.valid is False, outcome.result.to_dict()
    failure = outcome.result.to_dict()
    print(f"etcd serializable partition: valid={failure['valid']} after {failure['ops']} ops")
    assert_nothing_left()


def _wait_for(path: Path, text: str, timeout: float) -> bool:
    return procs.wait_until(lambda: path.exists() and text in path.read_text(), timeout, interval=0.2)


@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")
def test_ctrl_c_during_a_partition_heals_before_exit(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet", "--no-report",
           "--nemesis", "partition:[n1] | [n2 n3]", "--nemesis-schedule", "seq:0.5-100", "--time-limit", "60",
           "--op-timeout", "1", "--recover", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jsonl = tmp_path / "latest" / "history.jsonl"
        assert _wait_for(jsonl, '"groups"', 60), "the partition never started"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    ops = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    steps = nemesis_steps(ops)
    assert [f for f, _, _ in steps] == ["start-partition", "stop-partition"], steps
    assert steps[-1][2] == "final heal: network healed"
    test = json.loads((tmp_path / "latest" / "test.json").read_text())
    assert test["stop_reason"] == "SIGINT" and test["status"] == "done", test
    assert net.wait_until_gone(proc.pid, timeout=10), net.own_processes(proc.pid)
