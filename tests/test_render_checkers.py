"""The timeline and figures in the checker's language: badges per checker, anomalies marked, every corpus history
rendered (no browser here: test_browser.py opens the pages)."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import histcheck
from histcheck.checker.result import UNKNOWN, Anomaly, Result
from histcheck.checkers import check, compose, get
from histcheck.checkers import set as set_checker
from histcheck.cli import main
from histcheck.errors import HistoryError
from histcheck.render.clipped import clipped_edn
from histcheck.render.marks import LABELS, badges, verdict_text
from histcheck.render.timeline import render_timeline, timeline_data, value_limit
from histcheck.values import Keyword, show

from conftest import CORPUS
from render_histories import lost_set, write_skew_list_append


def embedded(page: str) -> dict:
    blob = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


# -- badges -------------------------------------------------------------------------------------------------

def test_badge_of_a_set_that_lost_writes_counts_them():
    history = lost_set()
    (badge,) = badges(check(history, "set"))
    assert (badge.text, badge.valid) == ("lost writes: 3", False)
    assert badge.title.startswith("set: INVALID: the set checker found 3 lost")


def test_badge_of_write_skew_names_g2_item():
    (badge,) = badges(check(write_skew_list_append(), "list-append"))
    assert (badge.text, badge.valid) == ("G2-item", False)


def test_badge_of_a_valid_check_names_the_checker_and_linearizability_keeps_its_words():
    history = lost_set(lost=())
    assert verdict_text(check(history, "set")) == "valid: set"
    valid = Result(True, "cas-register", ops=3)
    invalid = Result(False, "cas-register", ops=3)
    assert (verdict_text(valid), verdict_text(invalid)) == ("linearizable", "NOT linearizable")
    assert verdict_text(None) == "not checked"


def test_badge_of_unknown_says_the_cause_and_its_message():
    history = lost_set()
    history.ops = history.ops[:-2]                      # no final read
    (badge,) = badges(check(history, "set"))
    assert badge.valid == UNKNOWN and badge.text.startswith("unknown: no-final-read (no read of the set")
    assert len(badge.text) <= 64 and "could not decide" in badge.title


def test_composed_check_has_a_badge_per_checker():
    history = lost_set()
    result = compose([get("set"), get("set-full")]).check(history)
    assert [b.text for b in badges(result)] == ["lost writes: 3", "lost writes: 3"]
    data = timeline_data(history, result)
    assert [b["text"] for b in data["badges"]] == ["lost writes: 3", "lost writes: 3"]
    assert data["verdict"] == "lost writes: 3 \u00b7 lost writes: 3"


def test_a_kind_nobody_labels_is_named_as_it_is():
    result = Result(False, "plugin", ops=2, checker="plugin", anomalies=[Anomaly("weird"), Anomaly("weird")])
    assert verdict_text(result) == "weird: 2"
    assert verdict_text(Result(False, "plugin", ops=2, checker="plugin")) == "NOT valid: plugin"


# -- marks ----------------------------------------------------------------------------------------------------

def test_lost_adds_and_the_final_read_are_marked_first_first():
    history = lost_set()
    data = timeline_data(history, check(history, "set"))
    ops, marks = data["ops"], data["anomalies"]
    adds = {op.value: op.index for op in history.ops if op.type == "ok" and op.f == "add"}
    final = history.ops[-1].index
    assert [[ops["index"][i] for i in m[1]] for m in marks["marks"]] == \
        [[adds[7], final], [adds[19], final], [adds[23], final]]
    assert marks["kinds"] == [["lost", "lost writes", "#d62728", 3]]
    text = marks["texts"][marks["marks"][0][2]]
    assert text.startswith("lost: Element 7 was added by process") and "absent from the final read" in text


def test_every_lost_add_is_marked_beyond_the_anomalies_listed():
    lost = tuple(range(0, 200, 2))                      # 100 lost: more than the set checker lists
    history = lost_set(n_adds=200, lost=lost)
    result = check(history, "set")
    assert len(result.anomalies) == set_checker.LIMIT < len(lost)
    data = timeline_data(history, result)
    ops, marks = data["ops"], data["anomalies"]
    final = history.ops[-1].index
    add_of = {op.index: op.value for op in history.ops if op.type == "ok" and op.f == "add"}
    marked = sorted(add_of[ops["index"][m[1][0]]] for m in marks["marks"])
    assert marked == list(lost)
    assert all(ops["index"][m[1][-1]] == final for m in marks["marks"])   # each with the read that misses it
    starts = [ops["start"][m[1][0]] for m in marks["marks"]]
    assert starts == sorted(starts)
    assert marks["kinds"][0][3] == 100


def test_cycle_transactions_are_marked_with_their_edges():
    history = write_skew_list_append()
    result = check(history, "list-append")
    data = timeline_data(history, result)
    (mark,) = data["anomalies"]["marks"]
    assert sorted(data["ops"]["index"][i] for i in mark[1]) == sorted(op["index"] for op in result.anomalies[0].ops)
    text = data["anomalies"]["texts"][mark[2]]
    assert text.startswith("G2-item: So T1 -> T2 -> T1") and "write skew" in text
    assert text.count("rw  key") == 2


def test_a_valid_or_linearizability_result_marks_nothing():
    history = lost_set(lost=())
    assert timeline_data(history, check(history, "set"))["anomalies"] is None


def test_transactions_are_short_edn_on_the_bar_and_whole_in_the_tooltip():
    history = write_skew_list_append()
    data = timeline_data(history, check(history, "list-append"))
    vals, ops = data["vals"], data["ops"]
    last = len(ops["out"]) - 1                         # the final read of every key
    whole = vals[ops["out"][last]]
    assert whole == show(history.ops[-1].value) and len(whole) > 48
    label = vals[ops["label"][last]]
    assert len(label) < 80 and label.startswith("[[:r 0 [") and "\u2026+" in label


def test_the_page_of_a_long_list_append_history_stays_small():
    history = write_skew_list_append(before=1500, after=1500, keys=5)   # reads of 600 elements at the end
    page = render_timeline(history, check(history, "list-append"))
    per_call = value_limit(len(history.calls()))
    assert len(page.encode()) < 4 * 3000 * per_call
    assert max(len(v) for v in embedded(page)["vals"]) < per_call + 40


# -- clipped EDN ------------------------------------------------------------------------------------------------

edn_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from([Keyword("r"), Keyword("w")]),
    lambda inner: st.lists(inner, max_size=6) | st.lists(inner, max_size=6).map(tuple)
    | st.dictionaries(st.integers(), inner, max_size=4) | st.frozensets(st.integers(), max_size=5),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(edn_values, st.integers(min_value=1, max_value=60))
def test_clipped_edn_is_the_formats_edn_when_it_fits_and_says_what_it_cut(value, limit):
    whole = show(value)
    assert clipped_edn(value, 10 ** 6) == whole
    clipped = clipped_edn(value, limit)
    if clipped != whole:
        assert "\u2026" in clipped
    if len(whole) <= limit:
        assert clipped == whole


def test_clipped_edn_of_a_long_read():
    assert clipped_edn(list(range(1000)), 30) == "[0 1 2 3 4 5 6 7 8 9 10 11 12 \u2026+987]"
    assert clipped_edn([[Keyword("append"), 1, 2], [Keyword("r"), 3, list(range(100))]], 30) == \
        "[[:append 1 2] [:r 3 [0 1 2 \u2026+97]]]"


# -- every history the checkers accept renders ------------------------------------------------------------

def checker_rows() -> list[dict]:
    table = CORPUS / "CHECKERS.tsv"
    if not table.exists():
        return []
    with table.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _row_param(row: dict):
    """A row whose file the loader refuses cannot be rendered: it is expected to fail, saying why."""
    try:
        histcheck.load(CORPUS / row["path"])
    except HistoryError as exc:
        return pytest.param(row, id=row["path"], marks=pytest.mark.xfail(
            raises=AssertionError, strict=True, reason=f"the history does not load: {exc}"))
    return pytest.param(row, id=row["path"])


ROWS = [_row_param(r) for r in checker_rows()]


@pytest.mark.skipif(not ROWS, reason=f"the checkers' corpus table is absent ({CORPUS / 'CHECKERS.tsv'})")
@pytest.mark.parametrize("row", ROWS)
def test_corpus_row_renders_with_the_anomaly_on_the_badge(row: dict, tmp_path: Path) -> None:
    out = tmp_path / "report"
    options = [a for opt in row["options"].split() for a in ("--checker-option", opt)]
    ran = CliRunner().invoke(main, ["analyze", "--checker", row["checker"], *options, str(CORPUS / row["path"]),
                                    "--out", str(out)], catch_exceptions=False)
    assert ran.exit_code == {"true": 0, "false": 1}[row["valid"]], ran.output
    assert not (out / "report-errors.txt").exists(), (out / "report-errors.txt").read_text()
    data = embedded((out / "timeline.html").read_text(encoding="utf-8"))
    results = json.loads((out / "results.json").read_text())
    (badge,) = data["badges"]
    if row["valid"] == "true":
        assert badge["text"] == f"valid: {row['checker']}" and badge["valid"] is True
    else:
        assert badge["valid"] is False and results["anomaly-types"]
        for kind in results["anomaly-types"]:
            assert LABELS.get(kind, kind) in badge["text"], (kind, badge)
        assert data["anomalies"]["marks"], "an invalid check with nothing marked on the timeline"
    cycles = [a["kind"] for a in results.get("anomalies", []) if a.get("facts", {}).get("cycle")]
    for kind in cycles:
        assert (out / f"cycle-{kind}.png").stat().st_size > 5000
    if not cycles:
        assert not list(out.glob("cycle-*.png"))


def test_operations_without_a_process_are_drawn_on_a_lane_of_their_own(tmp_path: Path):
    """elle-cli's long-fork history: reads without a :process, each invocation followed by its completion."""
    from histcheck.checkers.report import write
    from histcheck.history import History, Op
    group = ((Keyword("r"), 0, None), (Keyword("r"), 1, None), (Keyword("r"), 2, None))
    rows = [("invoke", group), ("ok", ((Keyword("r"), 0, 1), (Keyword("r"), 1, 1), (Keyword("r"), 2, None))),
            ("invoke", group[::-1]), ("ok", ((Keyword("r"), 2, 1), (Keyword("r"), 0, 1), (Keyword("r"), 1, None)))]
    history = History([Op(t, None, "read", v, index=i) for i, (t, v) in enumerate(rows)], source="long-fork.edn")
    result = check(history, "long-fork", **{"group-size": "3"})
    data = timeline_data(history, result)
    assert data["lanes"] == [{"name": "no :process", "procs": ["nil"]}]
    ops = data["ops"]
    assert (ops["start"], ops["end"], ops["iidx"], ops["index"]) == ([0, 2], [1, 3], [0, 2], [1, 3])
    assert data["verdict"] == "long-fork" and data["anomalies"]["marks"] == [[0, [0, 1], 0]]
    write(tmp_path, history, result)
    assert not (tmp_path / "report-errors.txt").exists(), (tmp_path / "report-errors.txt").read_text()
    assert (tmp_path / "timeline.html").exists()


def test_transactions_without_f_are_labelled_by_their_value():
    history = histcheck.load(CORPUS / "elle-cli/elle/paper-example.edn") if (CORPUS / "elle-cli").exists() else None
    if history is None:
        pytest.skip(f"the corpus is absent ({CORPUS})")
    data = timeline_data(history, check(history, "list-append"))
    assert data["fs"] == [""] and "None" not in json.dumps(data["vals"])
