"""The in-memory DB end to end, through the same ``--nemesis failpoint:...`` path a real system's failpoints take:
fault-free and faulted runs of the linearizable store are valid; each injected bug (stale reads, lost writes, a
split brain on partition) is found INVALID by the workload's checker; every fault step is recorded and healed.
Each run lasts a couple of seconds and starts no process."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from histcheck.run.memory_db import MemoryDB, MemoryNetwork, strikes
from histcheck.run.runner import RunOptions, Runner

SPLIT = "partition:[n1] | [n2 n3]@seq:0.3-1.3,failpoint:split-brain=return:n1@seq:0.2-1.4"


def run(tmp_path: Path, nemesis: str = "none", **overrides: Any) -> tuple[Any, list[dict]]:
    options = dict(db="memory", workload="register", nemesis=nemesis, time_limit=1.5, rate=200, concurrency=5,
                   store=str(tmp_path), op_timeout=0.3, recover=0.1, seed=4, report=False)
    options.update(overrides)
    started = time.monotonic()
    outcome = Runner(RunOptions(**options)).run()
    print(f"{nemesis} ({options['workload']}): {outcome.result.valid} in {time.monotonic() - started:.1f} s")
    ops = [json.loads(line) for line in (Path(outcome.path) / "history.jsonl").read_text().splitlines()]
    return outcome, ops


def steps(ops: list[dict]) -> list[tuple[str, Any]]:
    """(f, completion value) of each nemesis step, checking the invoke/complete pairing."""
    nem = [op for op in ops if op["process"] == "nemesis"]
    assert all(op["type"] == "info" for op in nem) and len(nem) % 2 == 0
    assert all(a["f"] == b["f"] for a, b in zip(nem[::2], nem[1::2]))
    return [(b["f"], b.get("value")) for b in nem[1::2]]


@pytest.mark.parametrize("nemesis", ["none", "partition@every:0.3:0.6", "kill:one@every:0.3:0.6",
                                     "pause@every:0.3:0.6", "stop:leader@every:0.3:0.6",
                                     "packet:50:one@every:0.3:0.6"])
def test_the_store_is_linearizable_under_every_fault(nemesis: str, tmp_path: Path) -> None:
    outcome, ops = run(tmp_path, nemesis)
    assert outcome.result.valid is True, outcome.result.to_dict()
    assert not outcome.errors, outcome.errors
    if nemesis != "none":
        assert steps(ops), "the nemesis recorded no step"


@pytest.mark.parametrize("bug, nemesis, workload", [
    ("stale-read", "failpoint:stale-read=return@seq:0.3-1.4", "register"),
    ("lost-write", "failpoint:lost-write=return:one@seq:0.3-1.4", "register"),
    ("lost-write", "failpoint:lost-write=50%return@seq:0.3-1.4", "set"),
    ("split-brain", SPLIT, "register"),
])
def test_each_injected_bug_is_found_invalid(bug: str, nemesis: str, workload: str, tmp_path: Path) -> None:
    outcome, ops = run(tmp_path, nemesis, workload=workload)
    assert outcome.result.valid is False, (bug, outcome.result.to_dict())
    recorded = steps(ops)
    set_steps = [v for f, v in recorded if f == "set-failpoint"]
    assert set_steps and set_steps[0]["failpoint"] == bug, recorded
    assert recorded[-1][0] in ("clear-failpoint", "stop-partition"), recorded  # the final heal ran
    assert any(f == "clear-failpoint" for f, _ in recorded)


def test_the_same_partition_without_the_bug_is_valid(tmp_path: Path) -> None:
    outcome, ops = run(tmp_path, "partition:[n1] | [n2 n3]@seq:0.3-1.3")
    assert outcome.result.valid is True, outcome.result.to_dict()
    minority = [op for op in ops if op["process"] == 0 and op["type"] == "fail" and "majority" in op.get("error", "")]
    assert minority, "worker 0 (on the isolated n1) should have been refused"


def test_a_stopped_node_refuses_and_refusals_are_fail(tmp_path: Path) -> None:
    outcome, ops = run(tmp_path, "kill:n2@seq:0.3-1.3")
    refused = [op for op in ops if "connection refused" in (op.get("error") or "")]
    assert refused and all(op["type"] == "fail" for op in refused), refused[:3]
    paused_outcome, paused_ops = run(tmp_path / "pause", "pause:n2@seq:0.3-1.3")
    unanswered = [op for op in paused_ops if "did not answer" in (op.get("error") or "")]
    assert unanswered and {op["type"] for op in unanswered if op["f"] != "read"} <= {"info"}


def test_logical_links_and_failpoint_actions() -> None:
    network = MemoryNetwork()
    db = MemoryDB(["n1", "n2", "n3"], network, "", "")
    db.setup()
    assert db.leader() == "n1" and db.capabilities() >= {"failpoints", "processes", "leader", "links"}
    network.cut_links([frozenset(("n1", "n2")), frozenset(("n1", "n3"))])
    assert db.leader() == "n2"
    client = db.client("n1", timeout=0.1)
    with pytest.raises(Exception, match="majority"):
        client.write("k", "1")
    network.heal()
    client.write("k", "1")
    db.set_failpoint("n3", "stale-read", "return")
    client.write("k", "2")
    assert db.client("n3", 0.1).read("k") == "1" and db.client("n2", 0.1).read("k") == "2"
    import random
    rng = random.Random(1)
    assert not strikes("off", rng) and strikes("return", rng)
    assert 30 < sum(strikes("50%return", rng) for _ in range(100)) < 70


@pytest.mark.parametrize("workload", ["multi-register", "set", "counter", "bank", "append"])
def test_every_workload_is_valid_on_the_store(workload: str, tmp_path: Path) -> None:
    """Every client call of the six-call interface, through every workload's own checker."""
    outcome, ops = run(tmp_path, "kill:one@every:0.3:0.5", workload=workload)
    assert outcome.result.valid is True, outcome.result.to_dict()
    assert sum(op["type"] == "ok" for op in ops) > 20


def test_the_stored_history_has_jepsens_fields_and_types(tmp_path: Path) -> None:
    """The store's history.edn through the command line: Jepsen's keys in Jepsen's order, indexes, times."""
    import subprocess
    import sys

    import edn_format
    from edn_format import Keyword
    done = subprocess.run([sys.executable, "-m", "histcheck.run", "--db", "memory", "--store", str(tmp_path),
                           "--quiet", "--no-report", "--time-limit", "1", "--rate", "100", "--recover", "0",
                           "--nemesis", "kill@every:0.2:0.3"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = (tmp_path / "latest" / "history.edn").read_text().splitlines()
    ops = [edn_format.loads(line) for line in lines if line.strip()]
    assert ops, "empty history"
    for i, op in enumerate(ops):
        keys = [k.name for k in op.keys()]
        assert keys[:6] == ["index", "time", "type", "process", "f", "value"], keys
        assert op[Keyword("index")] == i
        assert isinstance(op[Keyword("time")], int) and op[Keyword("time")] >= 0
        assert op[Keyword("type")] in (Keyword("invoke"), Keyword("ok"), Keyword("fail"), Keyword("info"))
        assert isinstance(op[Keyword("process")], int) or op[Keyword("process")] == Keyword("nemesis")
        assert isinstance(op[Keyword("f")], Keyword)
        if op[Keyword("f")] == Keyword("cas"):
            assert len(op[Keyword("value")]) == 2
    times = [op[Keyword("time")] for op in ops]
    assert times == sorted(times)


def test_a_bug_through_the_command_line_exits_1(tmp_path: Path) -> None:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "histcheck.run", "--db", "memory", "--store", str(tmp_path),
                           "--quiet", "--no-report", "--time-limit", "1.5", "--rate", "200", "--recover", "0",
                           "--nemesis", "failpoint:stale-read=return", "--nemesis-schedule", "seq:0.3-1.4"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "INVALID" in done.stdout, done.stdout + done.stderr
