"""Windows every linearization must cross (checker/cut.py) and the crashed-call chain rules: a window refuted
from every reachable state means the prefix up to its completion has no linearization (against the brute-force
enumeration of the definition), and searches that try windows from their first steps give the verdict and the
failing operation of the definition and of the searches without them."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import histcheck
from histcheck.checker import reference
from histcheck.checker.cut import closure_window, reachable_states, window
from histcheck.checker.encode import make_partition
from histcheck.checker.reference import search_reference
from histcheck.checker.search import search_kernel
from histcheck.history import History
from histcheck.models import get as get_model

from test_checker import INITS, brute_force, concurrent_history, h

FINITE = ["register", "cas-register", "mutex", "set"]      # models whose reachable states can be listed


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(FINITE), seed=st.integers(0, 10**9), n=st.integers(1, 6),
       processes=st.integers(1, 4), crash=st.sampled_from([0.0, 0.3, 0.6]))
def test_a_refuted_window_means_the_prefix_has_no_linearization(model: str, seed: int, n: int, processes: int,
                                                                crash: float) -> None:
    history = concurrent_history(model, seed, n, processes, crash)
    m = get_model(model).configure(init=INITS[model])
    init_state = m.init_state(INITS[model])
    part = make_partition(None, history.calls(), m)
    states = reachable_states(m, init_state, part.inputs)
    assert states is not None and init_state in states
    failed = {pos for c in history.calls(include_failed=True) if c.status == "fail"
              for pos in (c.call_pos, c.return_pos)}
    for target in (c for c in part.calls if c.status == "ok"):
        q = target.return_pos
        # the prefix as the search sees it: calls still open at q may take effect, calls that fail later did not
        prefix = History([op for i, op in enumerate(history.ops[: q + 1]) if i not in failed])
        for p in sorted({c.call_pos for c in part.calls if c.call_pos <= target.call_pos}):
            win = window(part, m, p, q)
            exact = all(search_reference(win, m, s, cut_after=None).valid is False for s in states)
            closed, mandatory = closure_window(win, m, states)
            unlimited = search_reference(mandatory, closed, closed.everything, cut_after=None).valid is False
            assert exact or not unlimited          # unlimited crashed calls only add linearizations
            if exact:
                assert brute_force(prefix, model, INITS[model]) is False, (p, q, history.ops)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(FINITE + ["fifo-queue"]), seed=st.integers(0, 10**9), n=st.integers(1, 7),
       processes=st.integers(1, 4), crash=st.sampled_from([0.0, 0.3, 0.6]))
def test_searches_trying_windows_at_once_match_the_definition(model: str, seed: int, n: int, processes: int,
                                                              crash: float, monkeypatch) -> None:
    monkeypatch.setattr(reference, "CHECK_EVERY", 2)       # the same for every example: look at every step pair
    history = concurrent_history(model, seed, n, processes, crash)
    m = get_model(model).configure(init=INITS[model])
    init_state = m.init_state(INITS[model])
    part = make_partition(None, history.calls(), m)
    plain = search_reference(part, m, init_state, cut_after=None)
    assert plain.valid is brute_force(history, model, INITS[model])
    for outcome in (search_reference(part, m, init_state, cut_after=0),
                    search_kernel(part, m, init_state, cut_after=0, slice_steps=3)):
        assert outcome.valid is plain.valid
        if plain.valid is False:
            assert outcome.fail_pos == plain.fail_pos


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_a_stale_read_among_many_crashed_calls_is_decided(engine: str) -> None:
    """Ten clients on one register, 2,000 calls of which 40 crashed, and a stale read: without the windows the
    search meets the stale read under every choice of crashed calls applied before it."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from synthetic import generate
    syn = generate(4000, keys=1, clients=10, crash_rate=0.02, anomaly=True, threads_per_key=10)
    result = histcheck.check(syn.history, model="cas-register", init=0, engine=engine, time_limit=60,
                             memory_limit=256 << 20)
    assert result.valid is False
    assert result.failure.op["value"] == 1_000_000 and result.failure.op["f"] == "read"
    valid = generate(4000, keys=1, clients=10, crash_rate=0.02, anomaly=False, threads_per_key=10)
    assert histcheck.check(valid.history, model="cas-register", init=0, engine=engine).valid is True


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_crashed_calls_going_round_a_loop(engine: str) -> None:
    """Crashed cas calls 0->1, 1->2, 2->0 and reads that need the loop once (valid) or twice (invalid): chains of
    crashed calls that come back to a state they passed are not searched, and nothing is lost by that."""
    events = [(p, "invoke", "cas", pair) for p, pair in enumerate([(0, 1), (1, 2), (2, 0)])]
    events += [(p, "info", "cas", pair) for p, pair in enumerate([(0, 1), (1, 2), (2, 0)])]
    reads = [(10 + i, kind, "read", v) for i, v in enumerate([1, 2, 0]) for kind in ("invoke", "ok")]
    once = h(*events, *[(p, t, f, None if t == "invoke" else v) for p, t, f, v in reads])
    twice = h(*events, *[(p, t, f, None if t == "invoke" else v) for p, t, f, v in reads],
              (20, "invoke", "read", None), (20, "ok", "read", 1))
    for history in (once, twice):
        expected = brute_force(history, "cas-register", 0)
        assert histcheck.check(history, model="cas-register", init=0, engine=engine).valid is expected
    assert brute_force(once, "cas-register", 0) is True and brute_force(twice, "cas-register", 0) is False
