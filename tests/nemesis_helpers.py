"""Helpers shared by the nemesis tests: a probe around a nemesis, history reading, and the leftovers check."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from histcheck.run import net
from histcheck.nemesis.base import Nemesis
from histcheck.run.runner import RunOptions, Runner
from histcheck.nemesis.links import links_for


class Probe(Nemesis):
    """Wraps a nemesis and counts the nemesis's nftables drop rules after every step (namespaces only)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.colour = inner.name, inner.colour
        self.rules: list[tuple[str, int]] = []

    def check(self, db: Any) -> None:
        self.inner.check(db)

    def check_schedule(self, time_limit: float) -> None:
        self.inner.check_schedule(time_limit)

    def watch_stop(self, event: Any) -> None:
        self.inner.watch_stop(event)

    def setup(self, db: Any) -> None:
        self.db = db
        self.inner.setup(db)

    def schedule(self, rng: Any, time_limit: float) -> Any:
        return self.inner.schedule(rng, time_limit)

    def invoke(self, f: str, value: Any) -> Any:
        try:
            return self.inner.invoke(f, value)
        finally:
            self.rules.append((f, links_for(self.db).rule_count()))

    def heal(self) -> list:
        return self.inner.heal()

    def active(self) -> str:
        return self.inner.active()

    def describe(self) -> dict:
        return self.inner.describe()


def run(tmp_path: Path, nemesis: Any, **overrides: Any) -> Any:
    options = dict(workload="register", time_limit=6, rate=50, store=str(tmp_path), op_timeout=1.0, recover=0.5,
                   seed=11, report=False)
    options.update(overrides)
    return Runner(RunOptions(**options), nemesis=nemesis).run()


def history(outcome: Any) -> list[dict]:
    text = (Path(outcome.path) / "history.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def nemesis_steps(ops: list[dict]) -> list[tuple[str, Any, Any]]:
    """(f, invocation value, completion value) of each recorded nemesis step."""
    nem = [op for op in ops if op["process"] == "nemesis"]
    assert all(op["type"] == "info" for op in nem)
    assert len(nem) % 2 == 0 and all(a["f"] == b["f"] for a, b in zip(nem[::2], nem[1::2]))
    return [(a["f"], a.get("value"), b.get("value")) for a, b in zip(nem[::2], nem[1::2])]


def assert_nothing_left() -> None:
    pid = os.getpid()
    assert net.wait_until_gone(pid, timeout=10), (net.own_processes(pid), net.is_root() and net.leftovers(pid))
