"""Every fault kind of ``nemesis/`` against real etcd with a workload running: at least one start/stop cycle each,
recorded as ``:info`` ops of ``:nemesis``, the verdict valid for linearizable reads, the nemesis's nftables rules in
force during faults and gone after the final heal, and nothing (process, namespace, proxy) left afterwards.

The process faults kill/pause on their own run here; kill of a minority/majority, stop-all and membership run in
``test_nemesis_scenarios``.  Also fast checks of the pieces: spec parsing, schedules, ring/bridge links, colours.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from histcheck import nemesis
from histcheck import registry
from histcheck.errors import InputError
from histcheck.run import net
from histcheck.nemesis import partition, schedules
from histcheck.nemesis.base import Combined

from nemesis_helpers import Probe, assert_nothing_left, history, nemesis_steps, run

needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed")
needs_root = pytest.mark.skipif(not net.is_root(), reason="network namespaces need root")


def test_spec_parsing_and_registry() -> None:
    assert isinstance(nemesis.build("partition,kill:leader"), Combined)
    assert nemesis.build("partition:[n1] | [n2 n3]").mode == "[n1] | [n2 n3]"
    assert nemesis.build("packet:20:n1>n2").loss == 20
    assert nemesis.build("none").name == "none" and nemesis.build("").name == "none"
    for bad in ("bogus-thing", "partition:nowhere", "kill,bogus", "none,kill", "kill:a:b"):
        with pytest.raises(InputError):
            nemesis.build(bad)
    colours = nemesis.colours()
    assert colours["start-partition"] == colours["partition"]
    assert len(set(colours.values())) == len(registry.names("nemeses")) + 1  # and the node exit's black
    assert nemesis.windows()["kill"] == "restart" and nemesis.windows()["stop-node"] == "start-node"


def test_every_nemesis_declares_its_capabilities_and_arguments() -> None:
    from histcheck.run.db import CAPABILITIES
    for name in registry.names("nemeses"):
        cls = registry.get("nemeses", name)
        assert cls.requires <= CAPABILITIES, name
        assert isinstance(cls.args, tuple), name
    assert nemesis.build("kill:leader").requires == {"processes", "leader"}
    assert nemesis.build("partition").requires == {"links"}
    assert nemesis.build("membership").requires >= {"membership", "wipe"}
    assert nemesis.build("failpoint:x=return").requires == {"failpoints"}


def test_schedules() -> None:
    rng = random.Random(1)
    assert schedules.Every(2, 3).windows(rng, 12) == [(2, 5), (7, 10)]
    windows = schedules.parse("random:1-2:1-2").windows(rng, 20)
    assert windows and all(1 <= b - a <= 2 for a, b in windows)
    assert schedules.parse("seq:1-2,4-6").windows(rng, 5) == [(1, 2), (4, 6)]


def test_partition_shapes() -> None:
    five = ["n1", "n2", "n3", "n4", "n5"]
    cut = partition.ring(five)
    for n in five:  # every node keeps a majority (itself and two neighbours), no two the same one
        assert sum(1 for m in five if m != n and frozenset((n, m)) not in cut) == 2
    groups, cut = partition.bridge(["n1", "n2", "n3"], random.Random(3))
    assert len(cut) == 1 and set(groups[0]) & set(groups[1])
    assert partition.parse_grouping("[n1] | [n2 n3]") == [["n1"], ["n2", "n3"]]


def _check_run(outcome, probe: Probe, expect_fs: set[str]) -> list:
    assert outcome.result is not None and outcome.result.valid is True, outcome.result.to_dict()
    steps = nemesis_steps(history(outcome))
    assert expect_fs <= {f for f, _, _ in steps}, steps
    if net.is_root() and probe.inner.__class__.__name__ != "Latency":
        assert probe.rules[-1][1] == 0, probe.rules  # the final heal removed every nemesis rule
    assert not outcome.errors, outcome.errors
    assert_nothing_left()
    return steps


@needs_etcd
@needs_root
@pytest.mark.cluster
def test_every_partition_mode_in_namespaces(tmp_path: Path) -> None:
    nem = nemesis.build("partition:cycle@every:0.3:1")
    probe = Probe(nem)
    outcome = run(tmp_path, probe, time_limit=7, network="netns")
    steps = _check_run(outcome, probe, {"start-partition", "stop-partition"})
    modes = [done["mode"] for f, _, done in steps if f == "start-partition"]
    assert set(modes) == set(partition.MODES), modes
    assert any(n > 0 for f, n in probe.rules if f == "start-partition")  # drop rules were really in force


@needs_etcd
@needs_root
@pytest.mark.cluster
def test_loss_count_filter_pause_clock_in_namespaces(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    probe = Probe(nemesis.build("packet:40:one,count-filter:30,pause,clock@every:0.5:1.5"))
    outcome = run(tmp_path, probe, time_limit=5, network="netns")
    steps = _check_run(outcome, probe, {"start-packet", "stop-packet", "start-count-filter", "stop-count-filter",
                                        "pause", "resume", "bump-clock", "reset-clock"})
    assert any(n > 0 for f, n in probe.rules if f.startswith("start-"))
    bump = next(done for f, _, done in steps if f == "bump-clock")
    assert bump["note"] == "etcd (Go) ignores libfaketime" and bump["restarted_under_libfaketime"]  # found by
    # reading the program (Go's build-info section), not by the DB's name


@needs_etcd
@pytest.mark.cluster
def test_latency_loss_count_filter_kill_through_proxies(tmp_path: Path) -> None:
    probe = Probe(nemesis.build("latency:50:20,packet:20:all,count-filter:40,kill:leader@every:0.5:1.5"))
    outcome = run(tmp_path, probe, time_limit=5, network="proxy")
    steps = _check_run(outcome, probe, {"start-latency", "stop-latency", "start-packet", "stop-packet",
                                        "start-count-filter", "stop-count-filter", "kill", "restart"})
    kill = next(done for f, _, done in steps if f == "kill")
    assert kill["new_leader"] and kill["new_leader"] != kill["leader_before"], kill
    restart = next(done for f, _, done in steps if f == "restart" and done.get("nodes"))
    assert restart["caught_up"] is True, restart


@needs_etcd
@pytest.mark.cluster
def test_fault_switched_by_a_condition(tmp_path: Path) -> None:
    """``when-leader``: the first leader is cut off while it leads, and healed once another node leads."""
    probe = Probe(nemesis.build("when-leader"))
    # long enough for an election after the cut even on a loaded 2-core machine (one took over 4 s in CI trials)
    outcome = run(tmp_path, probe, time_limit=10)
    steps = _check_run(outcome, probe, {"start-partition", "stop-partition"})
    start = next(asked for f, asked, _ in steps if f == "start-partition")
    stop = next(asked for f, asked, _ in steps if f == "stop-partition" and isinstance(asked, dict))
    assert start["because"].endswith("leads") and stop["because"] != start["because"], steps


def test_combined_nemeses_draw_their_own_times() -> None:
    combined = nemesis.build("partition,kill")
    assert all(isinstance(p.plan, schedules.RandomIntervals) for p in combined.parts)
    assert isinstance(nemesis.build("partition").plan, schedules.Every)


@pytest.mark.parametrize("args", [["--scenario", "nope"], ["--nemesis", "kill:nobody"], ["--nemesis", "packet:x"],
                                  ["--nemesis", "partition,bogus"], ["--nemesis-schedule", "often"]])
def test_bad_nemesis_arguments_exit_254_before_any_cluster(args: list[str], tmp_path: Path) -> None:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "histcheck.run", "--store", str(tmp_path), "--quiet",
                           "--nemesis", "partition", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 254, done.stderr
    assert not list(tmp_path.iterdir()) or not list(tmp_path.rglob("history.edn"))
