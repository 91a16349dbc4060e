"""Everything a run can be refused for is refused before any node starts: an unknown target (``kill:n9`` on three
nodes), a capability the DB lacks, a bad schedule (and a schedule without a nemesis), a bad failpoint.  The
refusal is exit 254 within a second of the command's own start-up, leaves no store directory, and spawns no
process: the DB's program and ``ip`` are replaced by scripts that leave a mark when run."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from histcheck.errors import InputError
from histcheck.run.runner import RunOptions, Runner


def _fake_programs(tmp_path: Path) -> tuple[dict, Path]:
    """A PATH whose etcd, ip and setpriv only write a mark (so any spawn would show)."""
    bin_dir, mark = tmp_path / "bin", tmp_path / "spawned"
    bin_dir.mkdir()
    for name in ("etcd", "ip", "setpriv", "redis-server", "redis-sentinel"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho {name} >> {mark}\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, mark


def _cli(args: list[str], tmp_path: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "histcheck.run", "--store", str(tmp_path / "store"), "--quiet", *args]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    return done, time.monotonic() - start


def _startup(env: dict) -> float:
    """What the interpreter and histcheck's imports cost on this machine now (the part that is not the refusal)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import histcheck.run.command, histcheck.run.runner"], check=True,
                   env=env, timeout=60)
    return time.monotonic() - start


def test_kill_n9_on_three_nodes_exits_254_at_once_and_starts_nothing(tmp_path: Path) -> None:
    """Timed against the interpreter's own start-up, measured alongside; the best of three of each, since the
    machine is shared and one sample can be seconds late."""
    env, mark = _fake_programs(tmp_path)
    runs = [(_startup(env), _cli(["--nemesis", "kill:n9", "--time-limit", "20"], tmp_path, env)) for _ in range(3)]
    baseline = min(b for b, _ in runs)
    seconds = min(s for _, (_, s) in runs)
    done = runs[-1][1][0]
    assert done.returncode == 254, done.stderr
    assert "'n9' is not a node of this cluster" in done.stderr and "n1 n2 n3" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    print(f"kill:n9 refused in {seconds:.2f} s (interpreter and imports alone: {baseline:.2f} s)")
    assert seconds < baseline + 1.0, (seconds, baseline)
    assert not mark.exists(), mark.read_text()  # no node, no namespace, no launcher ran
    assert not (tmp_path / "store").exists()


def test_runner_refuses_in_process_within_a_second(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(InputError) as err:
        Runner(RunOptions(db="memory", nemesis="kill:n9", store=str(tmp_path)))
    assert "n9" in str(err.value) and time.monotonic() - start < 1.0
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--db", "memory", "--nemesis", "membership"], "needs the DB capability 'membership'"),
    (["--db", "memory", "--nemesis", "partition:[n1] | [n2 n7]"], "'n7', not a node of this cluster"),
    (["--db", "memory", "--nemesis", "packet:20:n1>n9"], "'n9', not a node of this cluster"),
    (["--db", "memory", "--nemesis", "when-leader:n4"], "'n4' is not a node of this cluster"),
    (["--db", "memory", "--nemesis", "kill:minority", "--nodes", "2"], "a minority of 2 nodes is no node"),
    (["--db", "memory", "--nemesis", "partition:ring"], "cuts no link on 3 nodes"),
    (["--db", "memory", "--nemesis", "kill", "--nemesis-schedule", "every:x"], "'x' is not a number of seconds"),
    (["--db", "memory", "--nemesis", "kill", "--nemesis-schedule", "every:2:0"], "held for some time"),
    (["--db", "memory", "--nemesis", "kill@seq:30-40", "--time-limit", "5"], "starts no fault within the 5 s"),
    (["--db", "memory", "--nemesis-schedule", "every:1:1"], "without a nemesis"),
    (["--db", "memory", "--nemesis", "failpoint:stale-read=explode"], "is not a failpoint action"),
    (["--db", "memory", "--nemesis", "failpoint:no-such-bug=return"], "has no failpoint 'no-such-bug'"),
    (["--db", "memory", "--nemesis", "failpoint:stale-read=return,failpoint:lost-write=return"], "both record"),
    (["--db", "memory", "--nemesis", "bogus"], "unknown nemesis 'bogus'"),
    (["--db", "memory", "--nemesis", "clock"], "names no program it runs"),
    (["--db", "nosuchdb"], "neither a DB"),
])
def test_refused_before_the_cluster_starts(args: list[str], message: str, tmp_path: Path) -> None:
    done, _ = _cli(args, tmp_path)
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "store").exists()
