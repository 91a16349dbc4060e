"""Random executions of correct systems are never flagged: histories simulated against a true set, counter, bank
and id generator, with concurrent operations taking effect at a point inside their interval and some crashing
(their effect happened or not)."""
from __future__ import annotations

import random
from typing import Any, Callable

from hypothesis import given, settings, strategies as st

from histcheck.checkers import check
from histcheck.history import History, history_from_dicts

Apply = Callable[[Any, str, Any], tuple[str, Any]]     # (state, f, value) -> (type, completion value)


def simulate(seed: int, n: int, next_op: Callable[[random.Random, int], tuple[str, Any]], state: Any,
             apply: Apply, final: tuple[str, Any] | None = None, crashing: frozenset | None = None) -> History:
    """``n`` operations, one process each, taking effect in the order of points drawn inside their intervals;
    one in eight crashes (``:info``), its effect applied or not by a coin (only operations in ``crashing``, when
    given)."""
    rng = random.Random(seed)
    ops = []
    for i in range(n):
        start, length = rng.uniform(0, 100), rng.uniform(1, 30)
        f, value = next_op(rng, i)
        ops.append({"p": i, "f": f, "value": value, "start": start, "end": start + length,
                    "point": start + rng.uniform(0.01, 0.99) * length,
                    "crash": rng.random() < 0.125 and (crashing is None or f in crashing)})
    if final is not None:
        ops.append({"p": n, "f": final[0], "value": final[1], "start": 1000, "end": 1001, "point": 1000.5,
                    "crash": False})
    for op in sorted(ops, key=lambda o: o["point"]):
        if op["crash"] and rng.random() < 0.5:
            op["type"], op["out"] = "info", op["value"]
            continue
        op["type"], op["out"] = apply(state, op["f"], op["value"])
        if op["crash"]:
            op["type"], op["out"] = "info", op["value"]
    events = []
    for op in ops:
        events.append((op["start"], {"type": "invoke", "process": op["p"], "f": op["f"], "value": op["value"],
                                     "time": int(op["start"] * 1e6)}))
        events.append((op["end"], {"type": op["type"], "process": op["p"], "f": op["f"], "value": op["out"],
                                   "time": int(op["end"] * 1e6)}))
    return history_from_dicts([e for _, e in sorted(events, key=lambda e: e[0])])


def set_apply(state: set, f: str, value: Any) -> tuple[str, Any]:
    if f == "add":
        state.add(value)
        return "ok", value
    return "ok", sorted(state)


def set_op(rng: random.Random, i: int) -> tuple[str, Any]:
    return ("read", None) if rng.random() < 0.3 else ("add", i)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_a_true_set_is_never_flagged(seed: int, n: int) -> None:
    history = simulate(seed, n, set_op, set(), set_apply, final=("read", None))
    assert check(history, "set").valid is True
    assert check(history, "set-full", linearizable="true").valid is not False


def counter_apply(state: list, f: str, value: Any) -> tuple[str, Any]:
    if f == "add":
        state[0] += value
        return "ok", value
    return "ok", state[0]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_a_true_counter_is_never_flagged(seed: int, n: int) -> None:
    history = simulate(seed, n, lambda rng, i: ("read", None) if rng.random() < 0.4 else ("add", rng.randint(0, 5)),
                       [0], counter_apply)
    assert check(history, "counter").valid is True


def bank_apply(state: dict, f: str, value: Any) -> tuple[str, Any]:
    if f == "read":
        return "ok", dict(state)
    if state[value["from"]] < value["amount"]:
        return "fail", value
    state[value["from"]] -= value["amount"]
    state[value["to"]] += value["amount"]
    return "ok", value


def bank_op(rng: random.Random, i: int) -> tuple[str, Any]:
    if rng.random() < 0.4:
        return "read", None
    src, dst = rng.sample(range(3), 2)
    return "transfer", {"from": src, "to": dst, "amount": rng.randint(1, 8)}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_a_true_bank_is_never_flagged(seed: int, n: int) -> None:
    history = simulate(seed, n, bank_op, {0: 10, 1: 10, 2: 10}, bank_apply, final=("read", None))
    assert check(history, "bank").valid is True
    assert check(history, "bank", total=30, accounts="0,1,2").valid is True


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_a_true_id_generator_is_never_flagged(seed: int, n: int) -> None:
    def generate(state: list, f: str, value: Any) -> tuple[str, Any]:
        state[0] += 1
        return "ok", state[0]
    history = simulate(seed, n, lambda rng, i: ("generate", None), [0], generate)
    assert check(history, "unique-ids").valid is True


def queue_apply(state: list, f: str, value: Any) -> tuple[str, Any]:
    if f == "enqueue":
        state.append(value)
        return "ok", value
    if f == "drain":
        taken, state[:] = list(state), []
        return "ok", taken
    return ("ok", state.pop(0)) if state else ("fail", None)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**9), n=st.integers(1, 30))
def test_a_true_queue_is_never_flagged(seed: int, n: int) -> None:
    # a dequeue that crashed after taking its element loses it for good, which total-queue rightly reports:
    # only enqueues crash here
    history = simulate(seed, n, lambda rng, i: ("dequeue", None) if rng.random() < 0.4 else ("enqueue", i), [],
                       queue_apply, final=("drain", None), crashing=frozenset({"enqueue"}))
    assert check(history, "queue").valid is True
    assert check(history, "total-queue").valid is True
