"""Random serial executions are never flagged by the Elle checkers (hypothesis).

Transactions are executed one at a time, in some order, against a dict; their invocations and completions are then
laid out with overlapping timings.  Two layouts:

* each transaction's effect falls inside its own interval (the order of execution is the order of those instants):
  the history is strict serializable, so no model may be ruled out;
* the timings are arbitrary, unrelated to the execution order: the history is serializable but may break real
  time, so it is checked against ``serializable`` only.

Failed transactions have no effect, crashed ones may or may not have had one; neither may ever cause a finding.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from histcheck.history import history_from_dicts
from histcheck.checkers.elle.list_append import ListAppend
from histcheck.checkers.elle.rw_register import RwRegister
from histcheck.values import Keyword

TXN = Keyword("txn")
STATUSES = st.sampled_from(["ok"] * 8 + ["fail", "info"])


@st.composite
def executions(draw, kind: str, timed: bool):
    n = draw(st.integers(1, 30))
    keys = draw(st.integers(1, 4))
    processes = draw(st.integers(1, 5))
    specs = []
    for _ in range(n):
        mops = draw(st.lists(st.tuples(st.sampled_from(["r", "w"]), st.integers(0, keys - 1)), min_size=1,
                             max_size=4))
        specs.append({"mops": mops, "status": draw(STATUSES), "applied": draw(st.booleans())})
    order = draw(st.permutations(range(n)))
    # The timings: a process runs one transaction at a time; a crashed one holds its process for ever.
    busy_until: dict[int, float] = {}
    fresh = processes
    for rank, i in enumerate(order if timed else range(n)):
        spec = specs[i]
        p = draw(st.integers(0, processes - 1))
        if timed:
            # The effect instant ``rank`` lies inside [start, end]; starts grow with rank.
            start = rank - draw(st.floats(0.01, 0.99))
            end = rank + draw(st.floats(0.01, 3.0))
        else:
            start = busy_until.get(p, 0.0) + draw(st.floats(0.01, 3.0))
            end = start + draw(st.floats(0.01, 3.0))
        if busy_until.get(p, float("-inf")) >= start:
            p, fresh = fresh, fresh + 1
        busy_until[p] = end if spec["status"] != "info" else float("inf")
        spec.update(process=p, start=start, end=end)
    # Execute serially.
    state: dict[int, object] = {}
    counter = 0
    for i in order:
        spec = specs[i]
        local = dict(state)
        done = []
        for f, k in spec["mops"]:
            if f == "w":
                counter += 1
                if kind == "list-append":
                    local[k] = tuple(local.get(k, ())) + (counter,)
                    done.append([Keyword("append"), k, counter])
                else:
                    local[k] = counter
                    done.append([Keyword("w"), k, counter])
            else:
                current = local.get(k)
                if kind == "list-append":
                    current = tuple(current or ())
                done.append([Keyword("r"), k, current])
        spec["done"] = done
        if spec["status"] == "ok" or spec["status"] == "info" and spec["applied"]:
            state = local
    return _history(specs)


def _history(specs: list[dict]):
    events = []
    for spec in specs:
        invoke_value = [[f, k, None if f == "r" else v] for f, k, v in spec["done"]]
        events.append((spec["start"], {"type": "invoke", "process": spec["process"], "f": TXN,
                                       "value": invoke_value}))
        if spec["status"] != "info":
            value = spec["done"] if spec["status"] == "ok" else invoke_value
            events.append((spec["end"], {"type": spec["status"], "process": spec["process"], "f": TXN,
                                         "value": value}))
    events.sort(key=lambda e: e[0])
    maps = []
    for i, (_, m) in enumerate(events):
        m["index"] = i
        maps.append(m)
    return history_from_dicts(maps)


def _never_flagged(result):
    assert result.valid in (True, "unknown"), [(a.kind, a.facts) for a in result.anomalies]
    if result.valid == "unknown":
        assert result.cause == "empty-transaction-graph"
    assert result.not_models == [] and result.also_not == []


@settings(max_examples=100, deadline=None)
@given(executions("list-append", timed=True))
def test_strict_serial_list_append_is_never_flagged(history):
    _never_flagged(ListAppend().check(history))


@settings(max_examples=100, deadline=None)
@given(executions("list-append", timed=False))
def test_serial_list_append_is_serializable(history):
    _never_flagged(ListAppend().check(history, **{"consistency-models": "serializable"}))


@settings(max_examples=100, deadline=None)
@given(executions("rw-register", timed=True))
def test_strict_serial_rw_register_is_never_flagged(history):
    _never_flagged(RwRegister().check(history))
    _never_flagged(RwRegister().check(history, **{"wfr-keys": "true"}))


@settings(max_examples=100, deadline=None)
@given(executions("rw-register", timed=False))
def test_serial_rw_register_is_serializable(history):
    _never_flagged(RwRegister().check(history, **{"consistency-models": "serializable", "wfr-keys": "true"}))
