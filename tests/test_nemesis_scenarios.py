"""Every named scenario (``histcheck run --scenario NAME``) runs against real etcd and its stated expectation
holds: leader-failure, two-faults (5 nodes), majority-failure (unavailable writes, not an invalid history),
persistence, partition-heal, catch-up and new-node.  Each also leaves nothing behind."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from histcheck.run.runner import RunOptions
from histcheck.nemesis.scenarios import SCENARIOS, run_scenario

from nemesis_helpers import assert_nothing_left

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_expectation_holds(name: str, tmp_path: Path) -> None:
    options = RunOptions(store=str(tmp_path), seed=5, report=False, recover=0.5)
    outcome, held, lines = run_scenario(name, options)
    assert held, "\n".join(f"{'ok' if ok else 'FAILED'}: {text}" for ok, text in lines)
    assert not [e for e in outcome.errors if "nemesis" in e or ":" in e and e.split(":")[0] in
                ("kill", "restart", "leave", "join", "stop-all", "recover")], outcome.errors
    assert_nothing_left()
