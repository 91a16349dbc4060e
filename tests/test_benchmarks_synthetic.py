"""The synthetic history generator (benchmarks/synthetic.py) builds what it claims to build.

Histories simulated against a linearizable store must check as linearizable, the injected stale read must make
them non-linearizable, crashes must look like Jepsen's (``:info``, process retired), and a seed must fix the
history.  Small sizes only: the whole module runs in a few seconds.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import histcheck
from histcheck import formats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synthetic  # noqa: E402

WORKLOADS = ("cas-register", "register", "kv")


def small(workload: str, seed: int, anomaly: bool = False) -> synthetic.Synthetic:
    return synthetic.generate(ops=1200, keys=6, clients=10, crash_rate=0.05, anomaly=anomaly, workload=workload,
                              seed=seed)


def check(syn: synthetic.Synthetic, history: histcheck.History | None = None) -> histcheck.Result:
    return histcheck.check(history or syn.history, **syn.check_options(), time_limit=30)


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_without_anomaly_is_linearizable(workload: str, seed: int) -> None:
    syn = small(workload, seed)
    assert syn.linearizable
    assert check(syn).valid is True


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_anomaly_is_not_linearizable(workload: str, seed: int) -> None:
    syn = small(workload, seed, anomaly=True)
    assert not syn.linearizable
    result = check(syn)
    assert result.valid is False
    assert result.invalid_keys == [syn.anomaly["key"] if workload != "kv" else str(syn.anomaly["key"])]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_crashed_ops_are_info_and_their_process_is_retired(workload: str) -> None:
    syn = small(workload, 4)
    ops = syn.history.ops
    infos = [op for op in ops if op.type == "info"]
    assert infos and len(infos) == syn.stats["crashed"]
    assert all(op.extra["error"] == "timeout" for op in infos)
    for info in infos:
        later = [op for op in ops[ops.index(info) + 1:] if op.process == info.process]
        assert later == []
    replacements = {info.process + 10 for info in infos}
    assert replacements & {op.process for op in ops if op.type == "invoke"}


def test_values_are_independent_tuples_or_key_fields() -> None:
    assert small("cas-register", 1).history.key_style() == "tuple"
    assert small("kv", 1).history.key_style() == "field"
    single = synthetic.generate(ops=200, keys=1, clients=3, seed=1)
    assert single.history.key_style() is None


def test_same_seed_same_history_other_seed_other_history() -> None:
    a, b, c = (formats.dumps(small("cas-register", s, anomaly=True).history) for s in (7, 7, 8))
    assert a == b
    assert a != c


def test_round_trip_through_edn_keeps_the_verdict(tmp_path: Path) -> None:
    for anomaly in (False, True):
        syn = small("cas-register", 5, anomaly=anomaly)
        path = tmp_path / f"h{anomaly}.edn"
        formats.write(syn.history, path)
        assert check(syn, histcheck.load(path)).valid is (not anomaly)


def test_crashed_at_once() -> None:
    ok = synthetic.crashed_at_once(8, seed=2)
    assert sum(op.type == "info" for op in ok.history.ops) == 8
    assert check(ok).valid is True
    bad = synthetic.crashed_at_once(8, anomaly=True, seed=2)
    assert not bad.linearizable
    assert check(bad).valid is False


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("anomaly", [False, True])
def test_long_single_key_histories_agree_between_engines(seed: int, anomaly: bool) -> None:
    """One key, five hundred calls with crashes: the kernel's memo records keep a moving window of the linearized
    set (and its dominance rule looks only at recent crashed calls); the reference keeps whole sets.  Both must
    give the same verdict and fail at the same completion."""
    syn = synthetic.generate(ops=1000, keys=1, clients=5, threads_per_key=5, crash_rate=0.05, anomaly=anomaly,
                             seed=seed)
    kernel = histcheck.check(syn.history, **syn.check_options(), time_limit=60)
    reference = histcheck.check(syn.history, **syn.check_options(), engine="reference", time_limit=60)
    assert kernel.valid == reference.valid == (not anomaly)
    if anomaly:
        assert kernel.failure.op == reference.failure.op
