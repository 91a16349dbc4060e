"""Against real etcd: the error rule and the node watcher.

* A node killed by the kill nemesis (SIGKILL), and another stopped by the stop nemesis (SIGTERM, a fault of its
  own), refuse connections; every request they refused is ``:fail`` (it certainly did nothing), none is ``:info``
  (docs/semantics.md, the client-error rule); and the watcher reports neither exit (both were asked for).
* A node killed with ``kill -9`` from outside, with no nemesis, is noticed: a nemesis-style ``:info`` event
  ``n3 exited, signal 9`` in the history, ``node_exits`` in test.json, and the first note of the verdict.

Network namespaces (root) for the first: through the proxies the proxy itself accepts the connection, so a dead
node's requests are resets after sending, which the rule must leave ``:info``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from histcheck.run import net, procs
from histcheck.run.runner import RunOptions, Runner

from nemesis_helpers import assert_nothing_left, history

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")]


def options(tmp_path: Path, **overrides) -> RunOptions:
    base = dict(workload="register", time_limit=6, rate=60, store=str(tmp_path), op_timeout=1.0, recover=0.5,
                seed=21, report=False)
    base.update(overrides)
    return RunOptions(**base)


@pytest.mark.skipif(not net.is_root(), reason="refusals reach the client only without proxies (namespaces: root)")
def test_a_killed_nodes_refused_requests_are_fail(tmp_path: Path) -> None:
    started = time.monotonic()
    nemesis = "kill:n2@seq:1-3,stop:n3@seq:3.5-5.5"
    outcome = Runner(options(tmp_path, nemesis=nemesis, network="netns")).run()
    print(f"etcd kill and stop run: {time.monotonic() - started:.1f} s")
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
    assert not [op for op in ops if op["f"] == "node-exited"] and not outcome.errors, outcome.errors
    assert outcome.result.valid is True, outcome.result.to_dict()
    assert_nothing_left()


def test_a_node_killed_from_outside_is_recorded_and_named(tmp_path: Path) -> None:
    runner = Runner(options(tmp_path, time_limit=5))
    killed: list[int] = []

    def kill_n3_from_outside() -> None:
        if procs.wait_until(lambda: runner.nemesis_runner is not None and runner.generator.phase == "run", 60):
            time.sleep(1.5)
            pid = runner.db.nodes["n3"].procs["etcd"].pid
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    outsider = threading.Thread(target=kill_n3_from_outside, daemon=True)
    outsider.start()
    started = time.monotonic()
    outcome = runner.run()
    outsider.join(timeout=5)
    print(f"etcd outside-kill run: {time.monotonic() - started:.1f} s")
    assert killed, "the outsider never saw the run start"
    events = [op for op in history(outcome) if op["process"] == "nemesis"]
    assert [op["f"] for op in events] == ["node-exited", "node-exited"], events
    assert events[1]["value"] == "n3 exited, signal 9" and events[1]["type"] == "info"
    test = json.loads((Path(outcome.path) / "test.json").read_text())
    assert [(e["node"], e["signal"]) for e in test["node_exits"]] == [("n3", "SIGKILL")], test["node_exits"]
    assert test["stats"]["node_exits"] == 1 and any("n3 exited, signal 9" in e for e in test["errors"])
    assert outcome.result.notes[0].startswith("n3 exited, signal 9"), outcome.result.notes
    assert outcome.result.valid is True, outcome.result.to_dict()  # two of three still serve: consistent
    assert_nothing_left()
