"""The network hooks the nemesis builds on, against real etcd: partition cuts node links, heal restores them."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from histcheck.run import net
from histcheck.run.clients import ClientError, EtcdClient
from histcheck.run.etcd import EtcdDB

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None,
                                                      reason="etcd-server is not installed (bash .ci/setup)")]
MODES = ["proxy"] + (["netns"] if net.is_root() else [])


def eventually(fn, timeout: float = 15):
    """fn() once it stops raising ClientError (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.parametrize("mode", MODES)
def test_partition_isolates_a_node_and_heal_restores_it(mode: str, tmp_path: Path) -> None:
    db = EtcdDB(["n1", "n2", "n3"], net.choose_network(mode), str(tmp_path / "data"), str(tmp_path / "logs"))
    try:
        db.setup()
        eventually(lambda: db.client("n2", 3).write("k", "old"))
        eventually(lambda: db.client("n1", 3).read("k") == "old" or (_ for _ in ()).throw(ClientError()))
        db.network.partition([["n1"], ["n2", "n3"]])
        with pytest.raises(ClientError):
            db.client("n1", 1.5).write("k", "lost?")
        eventually(lambda: db.client("n2", 2).write("k", "new"))
        stale = EtcdClient(*_dial(db, "n1"), timeout=2, serializable=True)
        assert stale.read("k") == "old"  # the isolated member serves a stale serializable read
        db.network.heal()
        # the timed-out write through n1 is indeterminate: it may still commit after "new" once healed
        eventually(lambda: _converged(db) or (_ for _ in ()).throw(ClientError()))
        db.network.partition([["n2", "n3"], ["n1", "clients"]])
        with pytest.raises(ClientError):
            db.client("n2", 1.5).read("k")  # clients are cut from the other side
        db.network.heal()
        eventually(lambda: db.client("n2", 2).read("k"))
    finally:
        db.teardown()
    assert not net.own_processes(__import__("os").getpid())
    if mode == "netns":
        assert not net.leftovers(__import__("os").getpid())


def _converged(db: EtcdDB) -> bool:
    seen = {db.client(n, 2).read("k") for n in ("n1", "n2", "n3")}
    return len(seen) == 1 and seen <= {"new", "lost?"}


def _dial(db: EtcdDB, name: str) -> tuple[str, int]:
    endpoint = db.nodes[name].net.ports["client"]
    return endpoint.dial_host, endpoint.dial_port
