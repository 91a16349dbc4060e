"""The plumbing a nemesis plugs into, exercised by a small nemesis against the in-memory DB (no program needed).

``IsolateOne`` cuts n1 off from the other nodes and the clients for a second, through the network's
``partition``/``heal`` hooks.  The run must record each step as Jepsen does (``:info`` ops of process
``:nemesis``), always run the final heal, stay valid (the store is linearizable), and leave nothing behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator


from histcheck.run import net
from histcheck.nemesis.base import Nemesis
from histcheck.run.runner import RunOptions, Runner



class IsolateOne(Nemesis):
    name = "isolate-n1"
    colour = "#e06666"

    def __init__(self) -> None:
        self.cut: list[list[str]] | None = None

    def schedule(self, rng: Any, time_limit: float) -> Iterator[tuple[float, str, Any]]:
        yield 1.0, "start-partition", None
        yield 2.5, "stop-partition", None
        yield 3.0, "start-partition", None  # left in force: the final heal must undo it

    def invoke(self, f: str, value: Any) -> Any:
        if f == "start-partition":
            self.cut = [["n1"], ["n2", "n3", "clients"]]
            self.db.network.partition(self.cut)
            return self.cut
        self.db.network.heal()
        self.cut = None
        return "network healed"

    def heal(self) -> list[tuple[str, Any]]:
        return [("stop-partition", None)] if self.cut else []

    def active(self) -> str:
        return "n1 isolated" if self.cut else ""


def test_nemesis_steps_are_recorded_healed_and_cleaned(tmp_path: Path) -> None:
    options = RunOptions(db="memory", workload="register", time_limit=4, rate=200, store=str(tmp_path),
                         op_timeout=0.3, recover=0.2, seed=3, report=False)
    outcome = Runner(options, nemesis=IsolateOne()).run()
    assert outcome.result is not None and outcome.result.valid is True, outcome.result.to_dict()
    ops = [json.loads(line) for line in (Path(outcome.path) / "history.jsonl").read_text().splitlines()]
    nemesis_ops = [op for op in ops if op["process"] == "nemesis"]
    assert [op["f"] for op in nemesis_ops] == ["start-partition"] * 2 + ["stop-partition"] * 2 + \
        ["start-partition"] * 2 + ["stop-partition"] * 2
    assert all(op["type"] == "info" for op in nemesis_ops)
    assert nemesis_ops[1]["value"] == [["n1"], ["n2", "n3", "clients"]]
    clients_of_n1 = [op for op in ops if op["process"] == 0 and op["type"] in ("info", "fail")]
    assert clients_of_n1, "worker 0 (on n1) should have seen the partition"
    test = json.loads((Path(outcome.path) / "test.json").read_text())
    assert test["nemesis"]["nemesis"] == "isolate-n1"
    assert test["db"]["db"] == "memory" and test["node_exits"] == []
    assert not net.own_processes(os.getpid())
