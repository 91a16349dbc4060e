"""Explanations and minimal counterexamples, on the public corpus and on hand-made results.

The claims the issue makes are tested as stated: the cas-failure explanation names the read, the write and the
pending cas by process and index; its minimal counterexample is small and rejected; and for *every* invalid corpus
history the minimal counterexample is rejected while removing any one of its operations makes it linearizable.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

import histcheck
from histcheck.checker.result import Failure, KeyResult, Result
from histcheck.explain import ddmin, explain, minimize
from histcheck.history import History
from histcheck.report import write_report

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason=f"corpus not found at {CORPUS}")
INITS = {"0": 0, "nil": None, '""': "", "": None}


def invalid_rows() -> list[dict]:
    if not (CORPUS / "MANIFEST.tsv").exists():
        return []
    with open(CORPUS / "MANIFEST.tsv") as fh:
        return [r for r in csv.DictReader(fh, delimiter="\t") if r["linearizable"] == "false"]


@pytest.fixture(scope="module")
def cas_failure():
    history = histcheck.load(CORPUS / "knossos/cas-register/bad/cas-failure.edn")
    result = histcheck.check(history, model="cas-register", init=0)
    return history, result, minimize(history, result, model="cas-register", init=0)


def without(ops: list, call) -> History:
    return History([op for op in ops if op is not call.invoke and op is not call.complete])


# -- cas-failure, as the issue states it ---------------------------------------------------------------------

@needs_corpus
def test_cas_failure_explanation_names_the_read_the_write_and_the_pending_cas(cas_failure):
    history, result, ce = cas_failure
    text = explain(history, result, ce)
    assert "Process 70's read of 0 (invoked at index 488, ok at index 491) cannot be linearized" in text
    assert "process 76's write of 2 completed at index 472" in text.lower()
    assert "process 77's cas [1 1] (invoked at index 463, crashed: :info at index 482)" in text
    assert "can't read 0" in text


@needs_corpus
def test_cas_failure_counterexample_is_small_rejected_and_shown_first(cas_failure):
    history, result, ce = cas_failure
    assert ce is not None and ce.minimal
    assert ce.calls <= 10
    assert 491 in ce.indexes and 472 in ce.indexes  # the failing read and the write of 2 it must follow
    assert histcheck.check(ce.history(), model="cas-register", init=0).valid is False
    text = explain(history, result, ce)
    assert text.index("Minimal counterexample") < text.index("What went wrong")
    assert "{:index 491, :type :ok, :process 70, :f :read, :value 0}" in text


@needs_corpus
def test_counterexample_keeps_original_ops_and_indexes(cas_failure):
    history, _, ce = cas_failure
    by_index = {op.index: op for op in history.ops}
    for op in ce.ops:
        original = by_index[op.index]
        assert (original.type, original.process, original.f, original.value) == (op.type, op.process, op.f,
                                                                                  op.value)
    assert [op.index for op in ce.ops] == sorted(op.index for op in ce.ops)


# -- the property, over the whole corpus -------------------------------------------------------------------

@needs_corpus
def test_every_invalid_corpus_history_shrinks_to_a_1_minimal_rejected_one():
    rows = invalid_rows()
    assert len(rows) >= 80
    started = time.monotonic()
    for row in rows:
        model, init = row["model"], INITS[row["init"]]
        history = histcheck.load(CORPUS / row["path"])
        result = histcheck.check(history, model=model, init=init)
        assert result.valid is False, row["path"]
        ce = minimize(history, result, model=model, init=init, budget=20)
        assert ce is not None and ce.minimal, row["path"]
        assert ce.calls < ce.original_calls or ce.original_calls == 1
        sub = ce.history()
        assert histcheck.check(sub, model=model, init=init).valid is False, row["path"]
        for call in sub.calls(include_failed=True):
            smaller = without(ce.ops, call)
            assert histcheck.check(smaller, model=model, init=init).valid is True, (row["path"], call)
    assert time.monotonic() - started < 90


@needs_corpus
def test_keyed_history_counterexample_is_on_the_failing_key():
    history = histcheck.load(CORPUS / "porcupine/kv/c10-bad.txt")
    result = histcheck.check(history, model="kv", init="")
    ce = minimize(history, result, model="kv", init="")
    assert ce.key == result.failure.key
    assert all(op.extra and op.extra.get("key") == ce.key for op in ce.ops)
    text = explain(history, result, ce)
    assert f'on key "{result.failure.key}"' in text
    assert "independent keys" in text


# -- ddmin on its own ----------------------------------------------------------------------------------------

def test_ddmin_finds_the_three_culprits():
    culprits = {3, 57, 91}
    calls = []
    found, finished = ddmin(list(range(100)), lambda kept: calls.append(1) or culprits <= set(kept),
                            time.monotonic() + 10)
    assert sorted(found) == sorted(culprits) and finished
    assert len(calls) < 400


def test_ddmin_reports_an_unfinished_search_when_out_of_time():
    found, finished = ddmin(list(range(50)), lambda kept: 7 in kept, time.monotonic() - 1)
    assert not finished and 7 in found


def test_minimize_with_a_fake_checker_keeps_whole_calls():
    ops = [histcheck.Op("invoke", p, "write", p, index=i) for i, p in enumerate(range(4))]
    ops += [histcheck.Op("ok", p, "write", p, index=4 + p) for p in range(4)]
    history = History(ops)
    result = Result(False, "register", 0, ops=4, failure=Failure(None, {"index": 6, "invoke_index": 2,
                                                                       "process": 2}, None))

    def fake(h, **_):  # rejected while processes 1 and 2 both appear
        procs = {op.process for op in h.ops}
        assert all(sum(op.process == p for op in h.ops) == 2 for p in procs)  # invocation and completion together
        bad = {1, 2} <= procs
        return Result(False if bad else True, "register", 0,
                      failure=Failure(None, {"index": 6}, None) if bad else None)

    ce = minimize(history, result, model="register", init=0, check=fake)
    assert sorted({op.process for op in ce.ops}) == [1, 2] and ce.minimal
    assert ce.indexes == [1, 2, 5, 6]


def test_minimize_returns_none_for_a_valid_result():
    history = History([histcheck.Op("invoke", 0, "read", None, index=0), histcheck.Op("ok", 0, "read", 0, index=1)])
    assert minimize(history, Result(True, "register", 0), model="register", init=0) is None


# -- hand-made results: unknown and valid ----------------------------------------------------------------------

def test_unknown_explains_the_cause_and_what_to_try():
    result = Result("unknown", "cas-register", 0, ops=5000, cause="time", seconds=30.0,
                    keys=[KeyResult(None, "unknown", 5000, cause="time", explored=123456, seconds=30.0)])
    text = explain(None, result)
    assert text.startswith("Unknown: the checker gave up (out of time)")
    assert "123,456 configurations" in text and "--time-limit" in text and ":info" in text
    memory = explain(None, Result("unknown", "mutex", None, cause="memory"))
    assert "--memory-limit" in memory and "--time-limit" not in memory


def test_valid_is_one_line():
    text = explain(None, Result(True, "cas-register", 0, ops=12))
    assert text.strip().count("\n") == 0 and text.startswith("Valid: the 12 operations are linearizable")


# -- the report directory ----------------------------------------------------------------------------------

@needs_corpus
def test_write_report_writes_every_file(cas_failure, tmp_path):
    history, result, _ = cas_failure
    paths = write_report(tmp_path, history, result, model="cas-register", init=0)
    names = {p.name for p in paths}
    assert {"results.json", "results.edn", "explanation.txt", "counterexample.edn", "timeline.html",
            "anomaly.png", "anomaly.svg", "latency-raw.png", "latency-quantiles.png", "rate.png"} <= names
    assert "report-errors.txt" not in names
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["valid"] is False and data["op"]["index"] == 491
    assert data["minimal_counterexample"]["minimal"] is True
    assert (tmp_path / "results.edn").read_text().startswith("{:valid false")
    again = histcheck.load(tmp_path / "counterexample.edn")
    assert [op.index for op in again.ops] == [op["index"] for op in data["minimal_counterexample"]["ops"]]
    assert histcheck.check(again, model="cas-register", init=0).valid is False
    assert (tmp_path / "explanation.txt").read_text().splitlines()[2].startswith("Minimal counterexample")


def test_write_report_for_a_valid_history_skips_the_anomaly(tmp_path):
    history = History([histcheck.Op("invoke", 0, "write", 1, index=0), histcheck.Op("ok", 0, "write", 1, index=1),
                       histcheck.Op("invoke", 1, "read", None, index=2), histcheck.Op("ok", 1, "read", 1, index=3)])
    result = histcheck.check(history, model="cas-register", init=0)
    assert result.valid is True
    names = {p.name for p in write_report(tmp_path, history, result, model="cas-register", init=0)}
    assert "anomaly.png" not in names and "counterexample.edn" not in names and "timeline.html" in names
    assert (tmp_path / "explanation.txt").read_text().startswith("Valid:")


@needs_corpus
def test_a_lone_read_gets_a_second_counterexample_with_the_writes_it_needs(tmp_path):
    history = histcheck.load(CORPUS / "knossos/cas-register/bad/mongodb-v0-ack-rollback-6.edn")
    result = histcheck.check(history, model="cas-register", init=0)
    ce = minimize(history, result, model="cas-register", init=0)
    assert ce.calls == 1 and ce.indexes == [775, 811]  # 1-minimal: a read of 4 alone is already impossible
    context = History(list(ce.context))
    assert [op.index for op in ce.context if op.type == "invoke"] == [336, 376, 775]  # write 4, write 0, read 4
    again = histcheck.check(context, model="cas-register", init=0)
    assert again.valid is False and again.failure.op["index"] == 811
    assert "keeping for every value read an operation that wrote it (3 operations" in explain(history, result, ce)
    write_report(tmp_path, history, result, model="cas-register", init=0, counterexample=ce, figures=False)
    story = histcheck.load(tmp_path / "counterexample-with-sources.edn")
    assert [op.index for op in story.ops] == [op.index for op in ce.context]
    assert histcheck.check(story, model="cas-register", init=0).valid is False


@needs_corpus
def test_kv_counterexample_files_keep_the_key_and_are_rejected(tmp_path):
    history = histcheck.load(CORPUS / "porcupine/kv/c01-bad.txt")
    result = histcheck.check(history, model="kv", init="")
    write_report(tmp_path, history, result, model="kv", init="", figures=False, timeline=False)
    for name in ("counterexample.edn", "counterexample-with-sources.edn"):
        again = histcheck.load(tmp_path / name)
        assert all(op.extra and op.extra["key"] == result.failure.key for op in again.ops)
        assert histcheck.check(again, model="kv", init="").valid is False
    story = histcheck.load(tmp_path / "counterexample-with-sources.edn")
    assert {op.f for op in story.ops} == {"append", "get"}


def test_write_report_for_an_unknown_result_says_what_to_try(tmp_path):
    history = History([histcheck.Op("invoke", 0, "write", 1, index=0), histcheck.Op("info", 0, "write", 1, index=1)])
    result = Result("unknown", "cas-register", 0, ops=1, cause="time", seconds=3.0)
    names = {p.name for p in write_report(tmp_path, history, result, model="cas-register", init=0)}
    assert {"results.json", "explanation.txt", "timeline.html", "rate.png"} <= names
    assert "counterexample.edn" not in names and "report-errors.txt" not in names
    text = (tmp_path / "explanation.txt").read_text()
    assert "Why unknown: out of time" in text and "What to try" in text
    assert json.loads((tmp_path / "results.json").read_text())["cause"] == "time"


@needs_corpus
def test_kv_explanations_name_the_missing_append_and_the_earlier_read():
    def text(name: str) -> str:
        history = histcheck.load(CORPUS / f"porcupine/kv/{name}")
        return explain(history, histcheck.check(history, model="kv", init=""))
    c01 = text("c01-bad.txt")
    assert ('which lacks process 0\'s append "x 0 3 y" (invoked at index 54, ok at index 55)' in c01)
    c10 = text("c10-bad.txt")
    assert ('Process 1\'s get of "x 3 0 yx 3 1 yx 4 0 y" (invoked at index 47, ok at index 50) had already '
            'returned' in c10)
    c50 = text("c50-bad.txt")
    assert 'lacks process 4\'s append "x 4 1 y"' in c50 and 'put of "x 15 6 y" (index 356)' in c50


def test_mutex_explanation_names_the_holder():
    Op = histcheck.Op
    history = History([Op("invoke", 0, "acquire", None, index=0), Op("ok", 0, "acquire", None, index=1),
                       Op("invoke", 1, "acquire", None, index=2), Op("ok", 1, "acquire", None, index=3)])
    result = histcheck.check(history, model="mutex")
    assert result.valid is False
    text = explain(history, result)
    assert "Process 0's acquire (invoked at index 0, ok at index 1) was the last lock operation" in text
    assert "No release overlaps" in text
    ce = minimize(history, result, model="mutex")
    assert ce.calls == 2 and ce.minimal
