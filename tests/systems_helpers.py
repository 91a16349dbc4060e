"""What the real-system tests share: a run of a described system, and the checks that it healed, recorded every
fault and left nothing behind; the proxy-mode minority check."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from histcheck.run import described, net, procs
from histcheck.run.clients import ClientError
from histcheck.run.runner import Outcome, RunOptions, Runner

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "systems"
MODES = ["proxy"] + (["netns"] if net.is_root() else [])


def run_system(toml: str, tmp_path: Path, *, network: str, nemesis: str = "none", time_limit: float = 6,
               read_mode: str = "linearizable") -> Outcome:
    options = RunOptions(db=str(EXAMPLES / toml), nodes=3, time_limit=time_limit, rate=60, concurrency=5,
                         network=network, nemesis=nemesis, read_mode=read_mode, store=str(tmp_path / "store"),
                         report=False, recover=2)
    return Runner(options).run()


def nemesis_fs(outcome: Outcome) -> list[str]:
    """The :f of every nemesis completion in the stored history, in order."""
    text = (Path(outcome.path) / "history.edn").read_text()
    return re.findall(r":process :nemesis, :f :([\w-]+)", text)[1::2]


def assert_nothing_left() -> None:
    pid = os.getpid()
    assert net.wait_until_gone(pid, timeout=15), net.own_processes(pid) + (net.leftovers(pid) if net.is_root() else [])


def assert_faults_healed(outcome: Outcome) -> None:
    """Every fault that started was stopped, and the run recorded each step."""
    fs = nemesis_fs(outcome)
    assert "start-partition" in fs and "kill" in fs, fs
    for start, stop in (("start-partition", "stop-partition"), ("kill", "restart")):
        last = max(i for i, f in enumerate(fs) if f == start)  # the final heal stops every fault again
        assert stop in fs[last:] and fs.count(stop) >= fs.count(start), fs
    assert not [e for e in outcome.errors if "report" not in e], outcome.errors


def eventually(fn: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def once(db: Any, node: str, call: Callable[[Any], Any], timeout: float = 3) -> Any:
    client = db.client(node, timeout)
    try:
        return call(client)
    finally:
        client.close()


def minority_cannot_commit(toml: str, tmp_path: Path, key: str, minority_write_fails: Callable[[Any], None],
                           after_heal: Callable[[Any], None] | None = None) -> None:
    """Proxy mode: cut n1 from n2 and n3 (per-pair ports, no protocol read); the majority still commits, n1
    cannot, no connection bypasses the proxies, and after healing everyone agrees on the majority's value."""
    cls = described.db_class_for(str(EXAMPLES / toml))
    db = cls(["n1", "n2", "n3"], net.ProxyNetwork(), str(tmp_path / "data"), str(tmp_path / "logs"))
    try:
        db.setup()
        eventually(lambda: once(db, "n1", lambda c: c.write(key, "before")))
        db.network.partition([["n1"], ["n2", "n3"]])
        assert not (found := db.network.bypasses()), found
        eventually(lambda: once(db, "n2", lambda c: c.write(key, "majority")))
        minority_write_fails(db)
        assert not (found := db.network.bypasses()), found
        db.network.heal()
        seen: list = []

        def agreed() -> bool:
            try:
                seen[:] = [once(db, n, lambda c: c.read(key)) for n in ("n1", "n2", "n3")]
            except ClientError as exc:
                seen[:] = [str(exc)]
            return seen == ["majority"] * 3
        assert procs.wait_until(agreed, timeout=30, interval=0.5), seen
        if after_heal is not None:
            after_heal(db)
    finally:
        db.teardown()
    assert_nothing_left()


def needs(binary: str, package: str) -> pytest.MarkDecorator:
    import shutil
    return pytest.mark.skipif(shutil.which(binary) is None, reason=f"{package} is not installed (bash .ci/setup)")
