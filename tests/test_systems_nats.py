"""NATS Server 2.9 with JetStream, described only by examples/systems/nats.toml and its nats-py client: a real
3-node cluster with an R3 key-value bucket.

Each test takes 15-35 s on two cores: a fault-free run (valid), ``partition,kill`` in both network modes (every
fault healed and recorded, a verdict, nothing left behind), and a proxy-mode partition that stops the minority.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from histcheck.run.clients import ClientError
from systems_helpers import (MODES, assert_faults_healed, assert_nothing_left, minority_cannot_commit, needs,
                             once, run_system)

pytest.importorskip("nats", reason="nats-py is not installed (pip install -e '.[test]')")
pytestmark = [pytest.mark.cluster, needs("nats-server", "nats-server")]


def test_a_fault_free_register_run_is_valid(tmp_path: Path) -> None:
    outcome = run_system("nats.toml", tmp_path, network=MODES[-1], time_limit=4)
    assert outcome.exit_code == 0, outcome.result.summary() if outcome.result else outcome.errors
    assert outcome.stats["ok"] > 100 and outcome.stats["info"] == 0
    assert_nothing_left()


@pytest.mark.parametrize("mode", MODES)
def test_partition_and_kill_are_healed_recorded_and_judged(mode: str, tmp_path: Path) -> None:
    outcome = run_system("nats.toml", tmp_path, network=mode, nemesis="partition,kill", time_limit=8)
    assert_faults_healed(outcome)
    assert outcome.result is not None and outcome.exit_code in (0, 1), outcome.result.summary()
    assert_nothing_left()


def test_a_proxy_partition_stops_the_minority_from_committing(tmp_path: Path) -> None:
    def minority_write_fails(db) -> None:
        with pytest.raises(ClientError):
            once(db, "n1", lambda c: c.write("hc.minority", "minority"), timeout=2)
    minority_cannot_commit("nats.toml", tmp_path, "hc.minority", minority_write_fails)
