"""The checker: sequential histories are linearizable, the numba kernel agrees with the plain-Python reference on
random concurrent histories (with and without crashed operations), budgets give unknown with a cause, and values
a model cannot read are rejected with their line."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import histcheck
from histcheck.checker.encode import make_partition
from histcheck.checker.reference import search_reference
from histcheck.checker.search import search_kernel
from histcheck.errors import InputError
from histcheck.history import History, Op
from histcheck.models import get as get_model
from histcheck.models.base import Inconsistent

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- random operations per model ------------------------------------------------------------------------------


def random_invocation(model: str, rnd: random.Random) -> tuple[str, object]:
    """An (f, invoke value) pair for ``model`` over a tiny value domain, so that collisions are common."""
    v = rnd.randrange(3)
    if model == "register":
        return rnd.choice([("read", None), ("write", v)])
    if model == "cas-register":
        return rnd.choice([("read", None), ("write", v), ("cas", (v, rnd.randrange(3)))])
    if model == "mutex":
        return rnd.choice([("acquire", None), ("release", None)])
    if model == "fifo-queue":
        return rnd.choice([("enqueue", v), ("dequeue", None)])
    if model == "set":
        return rnd.choice([("add", v), ("read", None)])
    raise ValueError(model)


INITS = {"register": 0, "cas-register": 0, "mutex": False, "fifo-queue": (), "set": frozenset()}


def sequential_history(model_name: str, seed: int, n: int, crash_rate: float) -> History:
    """Run random operations one after another against the model itself, recording what it answered.

    Interleaves several processes but completes each operation before the next one starts; a crashed operation
    may have taken effect or not (chosen at random), exactly as docs/semantics.md allows.
    """
    rnd = random.Random(seed)
    model = get_model(model_name).configure(init=INITS[model_name])
    state = model.init_state(INITS[model_name])
    ops: list[Op] = []
    process = 0
    for _ in range(n):
        f, value = random_invocation(model_name, rnd)
        ops.append(Op("invoke", process, f, value, index=len(ops)))
        observed = _observe(model_name, state, f, value)
        nxt = model.step(state, _input(model_name, f, observed))
        crashed = rnd.random() < crash_rate
        if crashed:
            if not isinstance(nxt, Inconsistent) and rnd.random() < 0.5:
                state = nxt
            ops.append(Op("info", process, f, value, index=len(ops)))
            process += 1
            continue
        if isinstance(nxt, Inconsistent):
            ops.append(Op("fail", process, f, value, index=len(ops)))
        else:
            state = nxt
            ops.append(Op("ok", process, f, observed, index=len(ops)))
    return History(ops)


def _observe(model_name: str, state, f, value):
    if f == "read":
        return state
    if f == "dequeue":
        return state[0] if state else None
    return value


def _input(model_name: str, f, value):
    if f == "cas":
        return ("cas", value[0], value[1])
    if model_name == "mutex":
        return (f,)
    if f == "dequeue" and value is None:
        return ("dequeue", object())
    return (f, value)


def concurrent_history(model_name: str, seed: int, n: int, processes: int, crash_rate: float) -> History:
    """Random concurrent history with random results: some are linearizable, many are not."""
    rnd = random.Random(seed)
    ops: list[Op] = []
    open_ops: dict[int, tuple[str, object]] = {}
    ids = list(range(processes))
    next_id = processes
    started = 0
    while started < n or open_ops:
        p = rnd.choice(ids)
        if p in open_ops:
            f, value = open_ops.pop(p)
            roll = rnd.random()
            if roll < crash_rate:
                ops.append(Op("info", p, f, value, index=len(ops)))
                ids[ids.index(p)] = next_id
                next_id += 1
            elif f in ("read", "dequeue"):
                result = rnd.randrange(3) if model_name != "set" else frozenset(rnd.sample(range(3), rnd.randrange(4)))
                ops.append(Op("ok", p, f, result, index=len(ops)))
            else:
                ops.append(Op("ok" if roll < 0.9 else "fail", p, f, value, index=len(ops)))
        elif started < n:
            f, value = random_invocation(model_name, rnd)
            open_ops[p] = (f, value)
            ops.append(Op("invoke", p, f, value, index=len(ops)))
            started += 1
    return History(ops)


MODELS = ["register", "cas-register", "mutex", "fifo-queue", "set"]

# -- properties -------------------------------------------------------------------------------------------------


@SETTINGS
@given(model=st.sampled_from(MODELS), seed=st.integers(0, 10**9), n=st.integers(0, 40),
       crash=st.sampled_from([0.0, 0.1, 0.3]))
def test_sequential_histories_are_linearizable(model: str, seed: int, n: int, crash: float) -> None:
    history = sequential_history(model, seed, n, crash)
    for engine in ("kernel", "reference"):
        result = histcheck.check(history, model=model, init=INITS[model], engine=engine)
        assert result.valid is True, (engine, history.ops)


@SETTINGS
@given(model=st.sampled_from(MODELS), seed=st.integers(0, 10**9), n=st.integers(1, 14),
       processes=st.integers(1, 5), crash=st.sampled_from([0.0, 0.15, 0.4]))
def test_kernel_agrees_with_reference(model: str, seed: int, n: int, processes: int, crash: float) -> None:
    history = concurrent_history(model, seed, n, processes, crash)
    m = get_model(model).configure(init=INITS[model])
    init_state = m.init_state(INITS[model])
    part = make_partition(None, history.calls(), m)
    ref = search_reference(part, m, init_state)
    ker = search_kernel(part, m, init_state, slice_steps=7)   # tiny slices: exercise resuming
    assert ker.valid == ref.valid
    if ref.valid is False:
        assert ker.fail_pos == ref.fail_pos
        assert {s for s, _ in ker.stuck} <= {s for s, _ in _all_stuck(part, m, init_state)}
        assert len(ker.longest) == len(ref.longest)


@SETTINGS
@given(model=st.sampled_from(MODELS), seed=st.integers(0, 10**9), n=st.integers(1, 30),
       processes=st.integers(1, 6), crash=st.sampled_from([0.0, 0.15, 0.4]))
def test_quick_search_is_the_resumable_search(model: str, seed: int, n: int, processes: int, crash: float) -> None:
    """The one-call quick search builds the same entries and runs the same kernel as the resumable driver: the
    same verdict, failing position, stuck configurations, longest linearization and step count."""
    history = concurrent_history(model, seed, n, processes, crash)
    m = get_model(model).configure(init=INITS[model])
    init_state = m.init_state(INITS[model])
    part = make_partition(None, history.calls(), m)
    quick = search_kernel(part, m, init_state)
    driven = search_kernel(part, m, init_state, quick=False)
    assert (quick.valid, quick.fail_pos, quick.stuck, quick.longest, quick.explored, quick.states) == \
        (driven.valid, driven.fail_pos, driven.stuck, driven.longest, driven.explored, driven.states)


def test_quick_search_hands_over_when_it_runs_out() -> None:
    """A quick search out of steps or memory leaves the history to the resumable driver, which decides it."""
    from histcheck.checker import search as S
    history = concurrent_history("cas-register", 3, 60, 6, 0.2)
    m = get_model("cas-register").configure(init=0)
    part = make_partition(None, history.calls(), m)
    expected = search_kernel(part, m, 0, quick=False)
    old = S.QUICK_STEPS
    S.QUICK_STEPS = 5
    try:
        assert S._quick_search(part.columns(), _prefilled(m, part), 64, None) is None
        handed = search_kernel(part, m, 0)
    finally:
        S.QUICK_STEPS = old
    assert (handed.valid, handed.fail_pos, handed.explored) == (expected.valid, expected.fail_pos, expected.explored)
    tight = search_kernel(part, m, 0, memory_limit=20_000)       # the quick memo may not grow past the cap
    assert tight.valid in (expected.valid, None)


def _prefilled(m, part):
    from histcheck.checker.encode import StateTable
    table = StateTable(m, 0, list(dict.fromkeys(part.inputs)))
    assert table.prefill()
    return table


def test_a_register_prepares_each_distinct_call_once_and_alike() -> None:
    """``prepare_calls`` answers as ``prepare`` does call by call, telling apart values Python finds equal
    (true and 1, 1.0 and 1) and crashed reads from ok ones; equal inputs come out as one object."""
    events = []
    values = [1, True, 1.0, None, "1", 2, (1, 2), (True, 2), [1, 2]]
    for i, v in enumerate(values * 2):
        for f in ("read", "write", "cas") if isinstance(v, (tuple, list)) else ("read", "write"):
            events += [(i % 3, "invoke", f, v), (i % 3, "ok" if i % 4 else "info", f, v)]
    history = h(*events)
    for name in ("register", "cas-register"):
        m = get_model(name).configure(init=0)
        calls = [c for c in history.calls() if name == "cas-register" or c.f != "cas"]
        assert list(map(repr, m.prepare_calls(calls))) == [repr(m.prepare(c)) for c in calls]   # True is not 1
        inputs = [op for op in m.prepare_calls(calls) if op == ("write", 2)]
        assert len(inputs) >= 2 and all(op is inputs[0] for op in inputs)


def _all_stuck(part, m, init_state):
    return search_reference(part, m, init_state, stuck_limit=10**6).stuck


def test_kernel_memo_growth_and_lazy_rows_agree_with_reference() -> None:
    """A history large enough to grow the memo several times and fill table rows lazily."""
    for seed in range(20):
        history = concurrent_history("cas-register", seed, 60, 6, 0.2)
        ref = histcheck.check(history, model="cas-register", init=0, engine="reference")
        ker = histcheck.check(history, model="cas-register", init=0, engine="kernel")
        assert ker.valid == ref.valid
        if ref.failure:
            assert ker.failure.op["index"] == ref.failure.op["index"]

# -- semantics ----------------------------------------------------------------------------------------------------


def h(*events) -> History:
    ops = [Op(t, p, f, v, index=i) for i, (p, t, f, v) in enumerate(events)]
    return History(ops)


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_crashed_write_may_take_effect_late_or_never(engine: str) -> None:
    crashed = h((0, "invoke", "write", 1), (0, "info", "write", 1),
                (1, "invoke", "read", None), (1, "ok", "read", 0),
                (2, "invoke", "read", None), (2, "ok", "read", 1))
    assert histcheck.check(crashed, model="register", init=0, engine=engine).valid is True
    flip_back = h((0, "invoke", "write", 1), (0, "info", "write", 1),
                  (1, "invoke", "read", None), (1, "ok", "read", 1),
                  (2, "invoke", "read", None), (2, "ok", "read", 0))
    assert histcheck.check(flip_back, model="register", init=0, engine=engine).valid is False


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_failed_operations_did_not_happen(engine: str) -> None:
    history = h((0, "invoke", "write", 1), (0, "fail", "write", 1),
                (1, "invoke", "read", None), (1, "ok", "read", 1))
    result = histcheck.check(history, model="register", init=0, engine=engine)
    assert result.valid is False
    assert result.failure.op["index"] == 3
    assert result.failure.final_paths[0][-1].reason == "can't read 1 from register 0"


def test_nemesis_operations_never_enter_the_model() -> None:
    history = h(("nemesis", "info", "start", None), (0, "invoke", "write", 1), (0, "ok", "write", 1),
                ("nemesis", "info", "stop", None), (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert histcheck.check(history, model="register", init=0).valid is True


def test_nil_read_absent_versus_unknown() -> None:
    history = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None),
                (1, "ok", "read", None))
    assert histcheck.check(history, model="register", init=None).valid is False          # absent
    assert histcheck.check(history, model="register", init=None, nil_read="unknown").valid is True
    assert histcheck.check(history, model="register", init=0).valid is True              # Knossos
    assert histcheck.check(history, model="register", init=0, nil_read="absent").valid is False


def test_independent_keys_are_checked_separately() -> None:
    history = h((0, "invoke", "write", ("a", 1)), (0, "ok", "write", ("a", 1)),
                (1, "invoke", "read", ("b", None)), (1, "ok", "read", ("b", 0)),
                (1, "invoke", "read", ("a", None)), (1, "ok", "read", ("a", 2)))
    result = histcheck.check(history, model="register", init=0)
    assert result.valid is False
    assert result.failure.key == "a"
    assert {k.key: k.valid for k in result.keys} == {"a": False, "b": True}


def test_time_budget_gives_unknown_with_cause() -> None:
    history = _many_concurrent_adds(22)
    result = histcheck.check(history, model="set", init=[], time_limit=0.2)
    assert result.valid == "unknown" and result.cause == "time"


def test_memory_budget_gives_unknown_with_cause() -> None:
    history = _many_concurrent_adds(22)
    result = histcheck.check(history, model="set", init=[], memory_limit=2 << 20)
    assert result.valid == "unknown" and result.cause == "memory"


def _many_concurrent_adds(n: int) -> History:
    """n concurrent adds that all succeed, then a read of an element nobody added.

    Before it can say no, the search has to try every subset of the adds (each is a different set): 2^n
    configurations; and with 2^n reachable states a window (cut.py) cannot be tried from every one of them.
    """
    events = [(p, "invoke", "add", p + 1) for p in range(n)] + [(p, "ok", "add", p + 1) for p in range(n)]
    events += [(100, "invoke", "read", None), (100, "ok", "read", [999])]
    return h(*events)


def test_a_read_nobody_wrote_after_many_concurrent_writes_is_refuted_by_a_window() -> None:
    """22 concurrent writes, then a read of 999: 22 * 2^21 configurations for the search alone; the window of
    the read refutes it from every state (cut.py), and names the read."""
    events = [(p, "invoke", "write", p + 1) for p in range(22)] + [(p, "ok", "write", p + 1) for p in range(22)]
    events += [(100, "invoke", "read", None), (100, "ok", "read", 999)]
    result = histcheck.check(h(*events), model="register", init=0, time_limit=30)
    assert result.valid is False and result.failure.op["index"] == len(events) - 1


def test_thirty_writes_crashed_at_once_are_decided() -> None:
    """The case that defeats Knossos and Porcupine: crashed writes whose values are all read later."""
    n = 30
    events = [(p, "invoke", "write", p + 1) for p in range(n)] + [(p, "info", "write", p + 1) for p in range(n)]
    for i, v in enumerate([3, 3, 17, 8, 8, 30, 1]):
        events += [(100 + i, "invoke", "read", None), (100 + i, "ok", "read", v)]
    valid = histcheck.check(h(*events), model="register", init=0, time_limit=30)
    assert valid.valid is True
    events += [(200, "invoke", "read", None), (200, "ok", "read", 17)]     # 17 was overwritten by then
    invalid = histcheck.check(h(*events), model="register", init=0, time_limit=30)
    assert invalid.valid is False and invalid.failure.op["index"] == len(events) - 1
    ref = histcheck.check(h(*events[:40] + events[60:]), model="register", init=0, engine="reference")
    ker = histcheck.check(h(*events[:40] + events[60:]), model="register", init=0)
    assert ref.valid == ker.valid


def test_crashed_writes_nobody_reads_are_dropped() -> None:
    events = [(p, "invoke", "write", p + 1) for p in range(30)] + [(p, "info", "write", p + 1) for p in range(30)]
    events += [(100, "invoke", "read", None), (100, "ok", "read", 5), (101, "invoke", "read", None),
               (101, "ok", "read", 999)]
    result = histcheck.check(h(*events), model="register", init=0, time_limit=10)
    assert result.valid is False and result.failure.op["index"] == 63


def test_cas_value_that_is_not_a_pair_is_rejected() -> None:
    ops = [Op("invoke", 0, "cas", 3, index=0, line=7), Op("ok", 0, "cas", 3, index=1, line=8)]
    with pytest.raises(InputError) as err:
        histcheck.check(History(ops, source="h.edn"), model="cas-register", init=0)
    assert "h.edn" in str(err.value) and "line 8" in str(err.value) and "[from to]" in str(err.value)


def test_result_serialises_to_json_and_edn() -> None:
    history = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None),
                (1, "ok", "read", 2))
    result = histcheck.check(history, model="register", init=0)
    import json
    data = json.loads(result.to_json())
    assert data["valid"] is False and data["op"]["index"] == 3 and data["previous_ok"]["index"] == 1
    edn = result.to_edn()
    assert edn.startswith("{:valid false") and ":final-paths" not in edn or ":final_paths" in edn
    from histcheck.formats.edn import parse_value
    parsed = parse_value(edn)
    assert parsed["valid"] is False


def kv_history(seed: int, n: int, processes: int, crash_rate: float, keys: str = "ab") -> History:
    """Random concurrent kv history over a few keys, with random get results."""
    rnd = random.Random(seed)
    ops: list[Op] = []
    open_ops: dict[int, tuple[str, str, object]] = {}
    started = 0
    while started < n or open_ops:
        p = rnd.randrange(processes)
        if p in open_ops:
            f, key, value = open_ops.pop(p)
            if rnd.random() < crash_rate:
                ops.append(Op("info", p, f, value, index=len(ops), extra={"key": key}))
                continue
            if f == "get":
                value = rnd.choice(["", "x", "y", "xy", "yx", "xx"])
            ops.append(Op("ok", p, f, value, index=len(ops), extra={"key": key}))
        elif started < n:
            f = rnd.choice(["get", "put", "append"])
            key = rnd.choice(keys)
            value = None if f == "get" else rnd.choice("xy")
            open_ops[p] = (f, key, value)
            ops.append(Op("invoke", p, f, value, index=len(ops), extra={"key": key}))
            started += 1
    return History(ops)


@SETTINGS
@given(seed=st.integers(0, 10**9), n=st.integers(1, 16), processes=st.integers(1, 5),
       crash=st.sampled_from([0.0, 0.2]))
def test_kv_as_one_object_agrees_with_per_key_and_engines_agree(seed: int, n: int, processes: int,
                                                                crash: float) -> None:
    history = kv_history(seed, n, processes, crash)
    per_key = histcheck.check(history, model="kv", init="")
    whole = histcheck.check(history, model="kv", init="", partition=False)
    whole_ref = histcheck.check(history, model="kv", init="", partition=False, engine="reference")
    assert per_key.valid == whole.valid == whole_ref.valid
    if whole.valid is False:
        assert whole.failure.op["index"] == whole_ref.failure.op["index"] == per_key.failure.op["index"]


@SETTINGS
@given(seed=st.integers(0, 10**9), n=st.integers(1, 40), processes=st.integers(2, 8),
       crash=st.sampled_from([0.0, 0.1, 0.3]))
def test_compositional_search_agrees_with_key_by_key_checks(seed: int, n: int, processes: int,
                                                            crash: float) -> None:
    """Many keys, many clients, crashes: the one-object search (kernel and reference) gives the verdict of the
    keys checked one by one, and narrows a failure to the same operation."""
    history = kv_history(seed, n, processes, crash, keys="abcd")
    per_key = histcheck.check(history, model="kv", init="")
    for engine in ("kernel", "reference"):
        whole = histcheck.check(history, model="kv", init="", partition=False, engine=engine)
        assert whole.valid == per_key.valid
        if whole.valid is False:
            assert whole.failure.op["index"] == per_key.failure.op["index"]
            if any("compositional" in note for note in whole.notes):   # else one key: nothing to narrow to
                assert whole.failure.key == per_key.failure.key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), n=st.integers(1, 6), processes=st.integers(1, 4),
       crash=st.sampled_from([0.0, 0.3, 0.6]))
def test_compositional_search_matches_the_definition(seed: int, n: int, processes: int, crash: float) -> None:
    """Tiny kv histories over three keys checked as one object, against the brute-force enumeration."""
    history = kv_history(seed, n, processes, crash, keys="abc")
    expected = brute_force(history, "kv", "")
    for engine in ("kernel", "reference"):
        assert histcheck.check(history, model="kv", init="", partition=False, engine=engine).valid is expected


def backjump_history(keys: str = "bcdefgh") -> History:
    """Keys b-h, each with four concurrent puts and two gets (of 0 and of 1), so that each key can end in one of
    three states that later gets could tell apart; then key a, broken: a get of a value nobody put.  Everything
    overlaps; a's completions come last."""
    events = [(0, "invoke", "put", ("a", "x")), (1, "invoke", "get", ("a", None))]
    finished = []
    for j, k in enumerate(keys):
        base = 10 * j + 10
        events += [(base + p, "invoke", "put", (k, str(p))) for p in range(4)]
        events += [(base + 4 + g, "invoke", "get", (k, None)) for g in range(2)]
        finished += [(base + p, "ok", "put", (k, str(p))) for p in range(4)]
        finished += [(base + 4 + g, "ok", "get", (k, str(g))) for g in range(2)]
    events += finished + [(0, "ok", "put", ("a", "x")), (1, "ok", "get", ("a", "y"))]
    return History([Op(t, p, f, v[1], index=i, extra={"key": v[0]}) for i, (p, t, f, v) in enumerate(events)])


def test_compositional_search_backjumps_past_other_keys() -> None:
    """A search that remembers whole configurations meets key a's dead end under every combination of the
    other keys' orders; the compositional search charges it to key a and stops at once."""
    result = histcheck.check(backjump_history(), model="kv", init="", partition=False, memory_limit=64 << 20)
    assert result.valid is False
    assert result.failure.key == "a" and result.failure.op["f"] == "get"
    assert result.keys[0].states < 1000      # remembering whole configurations costs about 84,000


def test_parallel_workers_give_the_same_answer() -> None:
    events = []
    for k in range(12):
        events += [(k, "invoke", "write", (k, 1)), (k, "ok", "write", (k, 1)),
                   (100 + k, "invoke", "read", (k, None)), (100 + k, "ok", "read", (k, 1 if k != 7 else 2))]
    history = h(*events)
    serial = histcheck.check(history, model="register", init=0, workers=1)
    parallel = histcheck.check(history, model="register", init=0, workers=2)
    assert serial.valid is False and parallel.valid is False
    assert serial.failure.key == parallel.failure.key == 7
    assert [k.valid for k in sorted(serial.keys, key=lambda k: k.key)] == \
        [k.valid for k in sorted(parallel.keys, key=lambda k: k.key)]


def brute_force(history: History, model_name: str, init) -> bool:
    """The definition, by enumeration: some subset of the crashed calls plus all ok calls, in some order that
    respects real time, is a legal sequential run of the model.  Only for tiny histories."""
    import itertools
    m = get_model(model_name).configure(init=init)
    calls = history.calls()
    inputs = [m.prepare(c) for c in calls]
    live = [(c, op) for c, op in zip(calls, inputs) if op is not None]
    ok = [x for x in live if not x[0].crashed]
    crashed = [x for x in live if x[0].crashed]
    for r in range(len(crashed) + 1):
        for chosen in itertools.combinations(crashed, r):
            group = ok + list(chosen)
            for order in itertools.permutations(group):
                if any(a[0].return_pos < b[0].call_pos for i, b in enumerate(order) for a in order[i + 1:]):
                    continue
                state = m.init_state(init)
                for _, op in order:
                    state = m.step(state, op)
                    if isinstance(state, Inconsistent):
                        break
                else:
                    return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(MODELS), seed=st.integers(0, 10**9), n=st.integers(1, 6),
       processes=st.integers(1, 4), crash=st.sampled_from([0.0, 0.3, 0.6]))
def test_kernel_matches_the_definition_on_tiny_histories(model: str, seed: int, n: int, processes: int,
                                                         crash: float) -> None:
    history = concurrent_history(model, seed, n, processes, crash)
    expected = brute_force(history, model, INITS[model])
    assert histcheck.check(history, model=model, init=INITS[model]).valid is expected
    assert histcheck.check(history, model=model, init=INITS[model], engine="reference").valid is expected


def test_one_object_check_refuses_independent_tuples() -> None:
    history = h((0, "invoke", "write", ("a", 1)), (0, "ok", "write", ("a", 1)),
                (1, "invoke", "read", ("a", None)), (1, "ok", "read", ("a", 1)))
    assert histcheck.check(history, model="register", init=0).valid is True
    with pytest.raises(InputError) as err:
        histcheck.check(history, model="register", init=0, partition=False)
    assert "independent" in str(err.value)


class _SnapshotKV(histcheck.models.base.Model):
    """Writes with a key as footprint, and whole-state snapshots with none: they do not commute."""

    name = "snapshot-kv"
    default_init = 0

    def init_state(self, init):
        return (("a", 0), ("b", 0))

    def prepare(self, call):
        if call.f == "w":
            return ("w", call.value[0], call.value[1])
        return ("snap", tuple(call.value))

    def step(self, state, op):
        values = dict(state)
        if op[0] == "w":
            values[op[1]] = op[2]
            return tuple(sorted(values.items()))
        return state if op[1] == state else Inconsistent("bad snapshot")

    def footprint(self, op):
        return op[1] if op[0] == "w" else None


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_whole_state_calls_turn_the_footprint_reduction_off(engine: str) -> None:
    """Found in review: the only order is w(a,1), snapshot, w(b,1); the reduction must not hide it."""
    ops = [Op("invoke", 0, "w", ("a", 1)), Op("invoke", 1, "snap", None), Op("invoke", 2, "w", ("b", 1)),
           Op("ok", 2, "w", ("b", 1)), Op("ok", 1, "snap", (("a", 1), ("b", 0))), Op("ok", 0, "w", ("a", 1))]
    for i, op in enumerate(ops):
        op.index = i
    assert histcheck.check(History(ops), _SnapshotKV(), partition=False, engine=engine).valid is True


def test_ctrl_c_with_parallel_workers_returns_promptly() -> None:
    import os
    import signal
    import threading
    import time as clock

    from histcheck.models.register import CasRegister

    class Slow(CasRegister):
        name = "slow-register"

        def step(self, state, op):
            clock.sleep(0.02)
            return super().step(state, op)

    ops = []
    for k in range(8):
        for j in range(30):
            ops += [Op("invoke", k, "write", (k, j)), Op("ok", k, "write", (k, j)),
                    Op("invoke", k, "read", (k, None)), Op("ok", k, "read", (k, j))]
    for i, op in enumerate(ops):
        op.index = i
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = clock.monotonic()
    result = histcheck.check(History(ops), Slow(), 0, workers=2)
    timer.cancel()
    assert result.valid == "unknown" and result.cause == "interrupted"
    assert clock.monotonic() - started < 6


def test_dataframe_round_trip_keeps_nil_values() -> None:
    history = h((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None),
                (1, "ok", "read", None), (2, "invoke", "read", None), (2, "ok", "read", 1))
    back = History.from_dataframe(history.to_dataframe())
    assert [op.value for op in back] == [op.value for op in history]
    assert histcheck.check(back, model="register", init=0).valid is True


def test_values_and_initial_values_a_model_cannot_use_are_input_errors() -> None:
    kv_ops = [Op("invoke", 0, "put", "a", index=0, extra={"key": "k"}), Op("ok", 0, "put", "a", index=1, extra={"key": "k"}),
              Op("invoke", 1, "get", None, index=2, extra={"key": "k"}), Op("ok", 1, "get", 5, index=3, extra={"key": "k"})]
    with pytest.raises(InputError):
        histcheck.check(History(kv_ops), model="kv", init="")
    with pytest.raises(InputError):
        histcheck.check(History(kv_ops[:2]), model="kv", init=0)
    register = h((0, "invoke", "write", 1), (0, "ok", "write", 1))
    assert histcheck.check(register, model="register", init={"x": 0}).valid is True


def test_compositional_failure_names_its_key_and_says_when_it_could_not_be_located() -> None:
    """Found in review: narrowed failures lacked the key in their operations, and a failure whose keys' own
    searches ran out of budget came back with no location and no word of why."""
    from histcheck.checker.failure import narrow_failure
    from histcheck.checker.encode import make_partition
    from histcheck.checker.reference import SearchOutcome
    events = [("invoke", 0, "get", None, "a"), ("ok", 0, "get", "x", "a"),
              ("invoke", 1, "put", "y", "b"), ("ok", 1, "put", "y", "b")]
    ops = [Op(t, p, f, v, index=i, extra={"key": k}) for i, (t, p, f, v, k) in enumerate(events)]
    whole = histcheck.check(History(ops), model="kv", init="", partition=False)
    assert whole.valid is False and whole.failure.key == "a" and whole.failure.op["key"] == "a"
    m = get_model("kv").configure(init="")
    part = make_partition(None, History(ops).calls(), m)
    gave_up = narrow_failure(part, SearchOutcome(False, blame=0), lambda *a, **k: SearchOutcome(None, "time"), m,
                             m.init_state(""))
    assert gave_up.valid is False and gave_up.cause == "time"
    with pytest.raises(AssertionError):
        narrow_failure(part, SearchOutcome(False, blame=0), lambda *a, **k: SearchOutcome(True), m,
                       m.init_state(""))


def test_a_history_checked_again_gives_the_same_answer() -> None:
    """Pairing is done once per history: a second check (independent [k v] values split already, another model,
    the reference engine) sees the same calls, and a history whose ops grew is paired anew."""
    history = h((0, "invoke", "write", ("a", 1)), (0, "ok", "write", ("a", 1)),
                (1, "invoke", "read", ("b", None)), (1, "ok", "read", ("b", 0)),
                (1, "invoke", "read", ("a", None)), (1, "ok", "read", ("a", 1)))
    first = histcheck.check(history, model="register", init=0)
    assert first.valid is True and len(first.keys) == 2
    assert history.calls() is not history.calls() and history.calls()[0] is history.calls()[0]
    for engine in ("kernel", "reference"):
        again = histcheck.check(history, model="cas-register", init=0, engine=engine)
        assert again.valid is True and {k.key for k in again.keys} == {"a", "b"}
    history.ops += [Op("invoke", 2, "read", ("a", None), index=6), Op("ok", 2, "read", ("a", 2), index=7)]
    grown = histcheck.check(history, model="register", init=0)
    assert grown.valid is False and grown.failure.key == "a" and grown.failure.op["index"] == 7
