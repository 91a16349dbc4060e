"""Each Jepsen checker on small histories built here: with an anomaly injected it is found and named, and on the
same history without it nothing is found.  Plus composition (merge-valid), inference and the explanations."""
from __future__ import annotations

import pytest

from histcheck.checker.result import Result
from histcheck.checkers import check, compose, get, infer, merge_valid
from histcheck.errors import InputError
from histcheck.explain.anomalies import EXPLAINERS, explain_anomaly, explain_result
from histcheck.history import History, Op, history_from_dicts

MS = 1_000_000


def events(*rows: tuple) -> History:
    """``(type, process, f, value)`` or ``(type, process, f, value, time_ms)`` rows, in history order."""
    maps = []
    for row in rows:
        t, p, f, v = row[:4]
        m = {"type": t, "process": p, "f": f, "value": v}
        if len(row) > 4:
            m["time"] = row[4] * MS
        maps.append(m)
    return history_from_dicts(maps)


def call(p: int, f: str, v, out=None, t: str = "ok") -> list[tuple]:
    """An invocation immediately completed (``out`` is the completion's value, ``v`` by default)."""
    return [("invoke", p, f, v), (t, p, f, v if out is None else out)]


def kinds(result: Result) -> list[str]:
    return sorted({a.kind for a in result.anomalies})


# -- set ------------------------------------------------------------------------------------------------------

def set_history(final: list) -> History:
    return events(*call(0, "add", 1), *call(1, "add", 2), ("invoke", 2, "add", 3), ("info", 2, "add", 3),
                  ("invoke", 3, "read", None), ("ok", 3, "read", final))


def test_set_clean_history_is_valid_and_counts_a_recovered_add() -> None:
    result = check(set_history([1, 2, 3]), "set")
    assert result.valid is True and result.anomalies == []
    assert result.details["recovered"] == [3] and result.details["lost"] == []
    assert result.checker == "set" and result.to_dict()["recovered-count"] == 1


def test_set_finds_a_lost_element_and_names_it() -> None:
    result = check(set_history([1, 3]), "set")
    assert result.valid is False and kinds(result) == ["lost"]
    assert result.details["lost"] == [2] and result.details["lost-count"] == 1
    sentence = explain_anomaly(result.anomalies[0])[0]
    assert sentence.startswith("Element 2 was added by process 1's add 2 (invoked at index 2, ok at index 3)")
    assert "absent from the final read" in sentence and "index 7" in sentence


def test_set_finds_an_unexpected_element() -> None:
    result = check(set_history([1, 2, 9]), "set")
    assert result.valid is False and kinds(result) == ["unexpected"]
    assert result.details["unexpected"] == [9]
    assert "no add of 9 was ever invoked" in explain_anomaly(result.anomalies[0])[0]


def test_set_without_a_completed_read_is_unknown_with_its_own_cause() -> None:
    result = check(events(*call(0, "add", 1), ("invoke", 1, "read", None), ("info", 1, "read", None)), "set")
    assert result.valid == "unknown" and result.cause == "no-final-read"
    assert "no read of the set completed" in result.cause_message
    assert "Unknown" in explain_result(result)[0]


# -- set-full -------------------------------------------------------------------------------------------------

def test_set_full_clean_history_is_stable_at_once() -> None:
    h = events(("invoke", 0, "add", 1, 0), ("ok", 0, "add", 1, 1), ("invoke", 1, "read", None, 2),
               ("ok", 1, "read", [1], 3))
    result = check(h, "set-full")
    assert result.valid is True and result.anomalies == []
    assert result.details["stable-count"] == 1 and result.details["stale-count"] == 0
    assert result.details["stable-latencies"] == {"0": 0, "0.5": 0, "0.95": 0, "0.99": 0, "1": 0}


def stale_history() -> History:
    """Element 1 is known at 10 ms; a read invoked at 20 ms misses it, one invoked at 50 ms sees it."""
    return events(("invoke", 0, "add", 1, 0), ("ok", 0, "add", 1, 10), ("invoke", 1, "read", None, 20),
                  ("ok", 1, "read", [], 21), ("invoke", 1, "read", None, 50), ("ok", 1, "read", [1], 51))


def test_set_full_measures_a_stale_element_and_judges_it_only_when_linearizable() -> None:
    result = check(stale_history(), "set-full")
    assert result.valid is True
    assert result.details["stale"] == [1] and result.details["stable-latencies"]["1"] == 10
    strict = check(stale_history(), "set-full", linearizable="true")
    assert strict.valid is False and kinds(strict) == ["stale"]
    assert "10 ms later" in explain_anomaly(strict.anomalies[0])[0]


def test_set_full_finds_a_lost_element() -> None:
    h = events(("invoke", 0, "add", 1, 0), ("ok", 0, "add", 1, 1), ("invoke", 1, "read", None, 2),
               ("ok", 1, "read", [1], 3), ("invoke", 1, "read", None, 40), ("ok", 1, "read", [], 41))
    result = check(h, "set-full")
    assert result.valid is False and kinds(result) == ["lost"]
    # Jepsen's lost time is just after the last read that saw it was invoked (2 ms); known at 1 ms
    assert result.details["lost"] == [1] and result.details["lost-latencies"]["1"] == 1
    sentence = explain_anomaly(result.anomalies[0])[0]
    assert "invoked at index 2" in sentence and "index 4" in sentence


def test_set_full_with_no_read_after_the_adds_is_unknown() -> None:
    h = events(("invoke", 1, "read", None, 0), ("ok", 1, "read", [], 1), *call(0, "add", 1))
    result = check(h, "set-full")
    assert result.valid == "unknown" and result.cause == "no-stable-element"
    assert result.details["never-read"] == [1]


def test_set_full_finds_duplicates_and_unexpected_elements() -> None:
    clean = events(*call(0, "add", 1), ("invoke", 1, "read", None), ("ok", 1, "read", [1]))
    assert check(clean, "set-full").valid is True
    dup = events(*call(0, "add", 1), ("invoke", 1, "read", None), ("ok", 1, "read", [1, 1, 7]))
    result = check(dup, "set-full")
    assert result.valid is False and kinds(result) == ["duplicated", "unexpected"]
    assert result.details["duplicated"] == {1: 2}


# -- counter --------------------------------------------------------------------------------------------------

def counter_history(read: int) -> History:
    return events(*call(0, "add", 2), ("invoke", 1, "add", 5), ("fail", 1, "add", 5), ("invoke", 2, "add", 1),
                  ("info", 2, "add", 1), ("invoke", 3, "read", None), ("ok", 3, "read", read))


@pytest.mark.parametrize("read", [2, 3])
def test_counter_reads_within_bounds_are_valid(read: int) -> None:
    result = check(counter_history(read), "counter")
    assert result.valid is True and result.details["reads"] == [[2, read, 3]]


@pytest.mark.parametrize("read", [1, 4, 7])
def test_counter_reads_outside_bounds_are_named(read: int) -> None:
    result = check(counter_history(read), "counter")
    assert result.valid is False and kinds(result) == ["out-of-bounds"]
    assert result.details["errors"] == [[2, read, 3]]
    assert "between 2" in explain_anomaly(result.anomalies[0])[0]


def test_counter_refuses_a_decrement() -> None:
    with pytest.raises(InputError, match="non-negative"):
        check(events(*call(0, "add", -1)), "counter")


# -- bank -----------------------------------------------------------------------------------------------------

def bank_history(*reads: dict) -> History:
    rows = [*call(0, "transfer", {"from": 0, "to": 1, "amount": 5})]
    for read in reads:
        rows += call(1, "read", None, read)
    return events(*rows)


def test_bank_infers_total_and_accounts_from_the_first_read() -> None:
    result = check(bank_history({0: 50, 1: 50}, {0: 45, 1: 55}), "bank")
    assert result.valid is True and result.details["total"] == 100 and result.details["accounts"] == [0, 1]
    assert any("inferred from the first read" in n for n in result.notes)


@pytest.mark.parametrize("read,kind", [({0: 45, 1: 56}, "wrong-total"), ({0: 105, 1: -5}, "negative-value"),
                                       ({0: 50, 1: 40, 2: 10}, "unexpected-key"), ({0: 100, 1: None}, "nil-balance")])
def test_bank_names_each_error(read: dict, kind: str) -> None:
    result = check(bank_history({0: 50, 1: 50}, read), "bank")
    assert result.valid is False and kinds(result) == [kind]
    assert result.details["errors"][kind]["count"] == 1 and result.details["first-error"]["type"] == kind
    assert "index 5" in explain_anomaly(result.anomalies[0])[0]


def test_bank_negative_balances_allowed_and_given_totals() -> None:
    h = bank_history({0: 105, 1: -5})
    assert check(h, "bank", **{"negative-balances": "allowed"}).valid is True
    assert check(h, "bank", total="100", accounts="0,1").valid is False
    assert check(h, "bank", total="100", accounts="0,1", **{"negative-balances": "allowed"}).valid is True
    assert check(h, "bank", total=99).valid is False
    with pytest.raises(InputError, match="total='lots'"):
        check(h, "bank", total="lots")
    with pytest.raises(InputError, match="no option 'totl'"):
        check(h, "bank", totl="100")


def test_bank_without_reads_is_unknown() -> None:
    result = check(bank_history(), "bank")
    assert result.valid == "unknown" and result.cause == "no-read"


# -- long-fork ------------------------------------------------------------------------------------------------

def processless(*rows: tuple) -> History:
    """Ops without a :process, as elle-cli's long-fork history has them."""
    return History([Op(t, None, f, v, index=i) for i, (t, f, v) in enumerate(rows)])


R3 = ((("r", 0, None), ("r", 1, None), ("r", 2, None)))


def test_long_fork_finds_the_fork_of_jepsens_example() -> None:
    h = processless(("invoke", "read", R3), ("invoke", "read", R3[::-1]),
                    ("ok", "read", (("r", 0, 1), ("r", 1, 1), ("r", 2, None))),
                    ("ok", "read", (("r", 2, 1), ("r", 0, 1), ("r", 1, None))))
    result = check(h, "long-fork", **{"group-size": "3"})
    assert result.valid is False and kinds(result) == ["long-fork"]
    assert result.details["reads-count"] == 2 and len(result.details["forks"]) == 1
    assert result.anomalies[0].facts == {"first_only": [1], "second_only": [2]}
    assert "index 2" in explain_anomaly(result.anomalies[0])[0]


def test_long_fork_ordered_reads_are_valid_and_group_size_is_inferred() -> None:
    h = processless(("ok", "read", (("r", 0, 1), ("r", 1, None), ("r", 2, None))),
                    ("ok", "read", (("r", 0, 1), ("r", 1, 1), ("r", 2, None))),
                    ("ok", "read", (("r", 0, None), ("r", 1, None), ("r", 2, None))))
    result = check(h, "long-fork")
    assert result.valid is True and result.details["early-read-count"] == 1
    assert "group size 3 inferred from the reads" in result.notes
    with pytest.raises(InputError, match="not the group size 2"):
        check(h, "long-fork", **{"group-size": 2})


def test_long_fork_two_writes_of_one_key_is_unknown() -> None:
    h = events(*call(0, "txn", (("w", 0, 1),)), *call(1, "txn", (("w", 0, 1),)))
    result = check(h, "long-fork")
    assert result.valid == "unknown" and result.cause == "multiple-writes"


# -- unique-ids, queue, total-queue ---------------------------------------------------------------------------

def test_unique_ids() -> None:
    clean = events(*call(0, "generate", None, 1), *call(1, "generate", None, 2))
    result = check(clean, "unique-ids")
    assert result.valid is True and result.details["range"] == [1, 2]
    dup = events(*call(0, "generate", None, 1), *call(1, "generate", None, 1))
    result = check(dup, "unique-ids")
    assert result.valid is False and kinds(result) == ["duplicated"] and result.details["duplicated"] == {1: 2}
    assert "returned 2 times" in explain_anomaly(result.anomalies[0])[0]


def queue_history(*dequeues: int) -> History:
    rows = [*call(0, "enqueue", 1), *call(0, "enqueue", 2), ("invoke", 1, "enqueue", 3), ("fail", 1, "enqueue", 3)]
    for v in dequeues:
        rows += call(2, "dequeue", None, v)
    return events(*rows)


def test_queue_every_dequeue_came_from_somewhere() -> None:
    assert check(queue_history(1, 2), "queue").valid is True
    assert check(queue_history(1, 2), "queue").details["final-queue"] == []
    for values, kind in (((1, 3), "unexpected"), ((1, 1), "duplicated")):
        result = check(queue_history(*values), "queue")
        assert result.valid is False and kinds(result) == [kind]


def test_total_queue_lost_unexpected_duplicated_recovered() -> None:
    assert check(queue_history(2, 1), "total-queue").valid is True
    lost = check(queue_history(2), "total-queue")
    assert lost.valid is False and kinds(lost) == ["lost"] and lost.details["lost"] == [1]
    odd = check(queue_history(1, 2, 2, 9), "total-queue")
    assert odd.valid is False and kinds(odd) == ["duplicated", "unexpected"]
    assert odd.details["duplicated"] == [2] and odd.details["unexpected"] == [9]
    recovered = events(("invoke", 0, "enqueue", 5), ("info", 0, "enqueue", 5), *call(1, "drain", None, [5]))
    result = check(recovered, "total-queue")
    assert result.valid is True and result.details["recovered"] == [5]


# -- linearizable ---------------------------------------------------------------------------------------------

def test_linearizable_carries_its_failure_as_an_anomaly() -> None:
    stale = events(*call(0, "write", 1), *call(1, "read", None, 0))
    result = check(stale, "linearizable", model="register", init="0")
    assert result.valid is False and kinds(result) == ["linearizability"] and result.failure is not None
    assert "cannot be linearized for the register model" in explain_anomaly(result.anomalies[0])[0]
    fine = events(*call(0, "write", 1), *call(1, "read", None, 1))
    assert check(fine, "linearizable", model="register", init="0").anomalies == []


# -- composition, inference, needs_process --------------------------------------------------------------------

def test_merge_valid_is_jepsens() -> None:
    assert merge_valid([]) is True
    assert merge_valid([True, True]) is True
    assert merge_valid([True, "unknown"]) == "unknown"
    assert merge_valid(["unknown", False, True]) is False
    with pytest.raises(ValueError):
        merge_valid([None])


def test_compose_keeps_every_sub_result() -> None:
    h = set_history([1, 3])
    composed = compose([get("set"), get("set-full")]).check(h)
    assert composed.valid is False and set(composed.results) == {"set", "set-full"}
    data = composed.to_dict()
    assert data["set"]["lost"] == [2] and data["set-full"]["checker"] == "set-full"
    unknown = compose({"a": get("set"), "b": get("unique-ids")}).check(events(*call(0, "add", 1)))
    assert unknown.valid == "unknown" and unknown.cause == "no-final-read"


@pytest.mark.parametrize("history,name", [
    (set_history([1, 2]), "set"),
    (events(*call(0, "add", 1), *call(1, "read", None, [1]), *call(1, "read", None, [1])), "set-full"),
    (counter_history(2), "counter"),
    (events(*call(0, "add", 1), *call(0, "add", 1)), "counter"),
    (bank_history({0: 1}), "bank"),
    (events(*call(0, "read", None, {0: 5, 1: 5})), "bank"),
    (events(*call(0, "generate", None, 1)), "unique-ids"),
    (events(*call(0, "enqueue", 1), *call(0, "drain", None, [1])), "total-queue"),
    (events(*call(0, "txn", (("append", 1, 2), ("r", 1, None)), (("append", 1, 2), ("r", 1, (2,))))),
     "list-append"),
    (events(*call(0, "txn", (("w", 1, 2),))), "rw-register"),
    (events(*call(0, "txn", (("w", 1, 2), ("r", 2, None)), (("w", 1, 2), ("r", 2, 3)))), "rw-register"),
    (events(*call(0, "txn", (("w", 1, 1),)), *call(1, "txn", R3, (("r", 0, None), ("r", 1, 1), ("r", 2, None))),
            *call(0, "txn", (("w", 2, 1),))), "long-fork"),
    (events(*call(0, "append", (0, 1)), *call(1, "read", (0, None), (0, (1,)))), "append"),
])
def test_inference_from_the_operations(history: History, name: str) -> None:
    assert infer(history).checker == name


def test_linearizability_histories_are_left_to_the_models() -> None:
    assert infer(events(*call(0, "write", 1), *call(1, "read", None, 1))) is None
    assert infer(events(*call(0, "txn", (("read", "x", None), ("write", "y", 2))))) is None


def test_a_checker_that_needs_processes_refuses_ops_without_one() -> None:
    h = History([Op("invoke", None, "add", 1, index=0, line=1), Op("ok", None, "add", 1, index=1, line=2)])
    with pytest.raises(InputError, match="no :process"):
        check(h, "set")


def test_every_builtin_kind_has_an_explainer() -> None:
    for kind in ("lost", "unexpected", "duplicated", "stale", "out-of-bounds", "wrong-total", "negative-value",
                 "unexpected-key", "nil-balance", "long-fork", "linearizability"):
        assert kind in EXPLAINERS


# -- the workloads are judged through the registry -------------------------------------------------------------

def test_workloads_name_their_checkers() -> None:
    from histcheck.workloads.bank import Bank
    from histcheck.workloads.counter import Counter
    from histcheck.workloads.register import Register
    from histcheck.workloads.set import SetWorkload
    assert SetWorkload().check(set_history([1, 3])).details["lost"] == [2]
    assert Counter().check(counter_history(7)).checker == "counter"
    bank = Bank({"accounts": 2, "total": 100})
    assert bank.check(bank_history({0: 50, 1: 50})).valid is True
    assert bank.check(bank_history({0: 60, 1: 60})).valid is False       # the run's total, not the first read's
    assert bank.describe()["checker-options"] == {"accounts": [0, 1], "total": 100}
    register = Register().check(events(*call(0, "write", 1), *call(1, "read", None, 1)))
    assert register.valid is True and register.checker == "linearizable" and register.model == "cas-register"


def test_models_are_read_from_the_registry() -> None:
    from histcheck import registry
    from histcheck.models import MODELS
    assert list(MODELS) == registry.names("models")
    assert MODELS["set"] is registry.get("models", "set")


def test_checkers_that_need_no_process_judge_ops_without_one() -> None:
    h = processless(("invoke", "enqueue", 1), ("ok", "enqueue", 1), ("ok", "dequeue", 1), ("ok", "generate", 7),
                    ("ok", "read", {0: 3}))
    assert check(h, "total-queue").details["ok-count"] == 1
    assert check(h, "unique-ids").details["acknowledged-count"] == 1
    assert check(h, "bank").details["read-count"] == 1


def test_bank_balances_that_are_not_numbers_are_bad_input() -> None:
    with pytest.raises(InputError, match="not a number"):
        check(bank_history({0: "ten", 1: 5}), "bank")
