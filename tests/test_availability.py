"""Availability figures per fault window, checked against values computed by hand from a history built for it."""
from __future__ import annotations

import json

import pytest

from fault_histories import Recorder, partition_kill_run
from histcheck import availability
from histcheck.history import History, Op


def two_faults() -> History:
    """A partition in force from 1.0 s to 3.1 s and a kill from 5.0 s to 6.0 s (invocation of the opening step
    to completion of the closing one), two workers, a crash inside the partition (process 0 goes on as 2)."""
    r = Recorder()
    r.add(0.0, "invoke", 0, "write", 1), r.add(0.1, "ok", 0, "write", 1)          # before: 100 ms
    r.add(0.2, "invoke", 1, "read"), r.add(0.25, "ok", 1, "read", 1)             # before: 50 ms
    r.add(1.0, "info", "nemesis", "start-partition"), r.add(1.05, "info", "nemesis", "start-partition",
                                                            {"groups": [["n1"], ["n2", "n3"]]})
    r.add(1.2, "invoke", 0, "write", 2), r.add(2.2, "info", 0, "write", 2, error="timeout")  # inside: info
    r.add(1.5, "invoke", 1, "read"), r.add(1.6, "fail", 1, "read")                          # inside: fail
    r.add(1.7, "invoke", 1, "read"), r.add(1.9, "ok", 1, "read", 1)                         # inside: ok, 200 ms
    r.add(2.5, "invoke", 2, "write", 3), r.add(3.5, "ok", 2, "write", 3)                    # inside: ok, 1000 ms
    r.add(3.0, "info", "nemesis", "stop-partition"), r.add(3.1, "info", "nemesis", "stop-partition", "healed")
    r.add(3.2, "invoke", 1, "read"), r.add(3.3, "ok", 1, "read", 3)                         # after: 100 ms
    r.add(3.6, "invoke", 2, "write", 4), r.add(3.7, "ok", 2, "write", 4)                    # after: 100 ms
    r.add(4.0, "invoke", 1, "read"), r.add(4.05, "ok", 1, "read", 4)                        # after: 50 ms
    r.add(5.0, "info", "nemesis", "kill"), r.add(5.1, "info", "nemesis", "kill", {"nodes": ["n1"]})
    r.add(5.5, "invoke", 1, "read"), r.add(5.6, "ok", 1, "read", 4)                         # inside kill: 100 ms
    r.add(5.9, "info", "nemesis", "restart"), r.add(6.0, "info", "nemesis", "restart", {"nodes": ["n1"]})
    r.add(6.2, "invoke", 2, "write", 5), r.add(6.5, "ok", 2, "write", 5)                    # after kill: 300 ms
    r.add(6.3, "invoke", 1, "read"), r.add(6.4, "fail", 1, "read")                          # after kill: failed
    return r.history("two-faults.edn")


def test_each_figure_of_each_window_matches_the_hand_computed_value():
    partition, kill = availability.windows(two_faults())
    assert (partition["kind"], partition["start"], partition["end"]) == ("partition", 1.0, 3.1)
    assert partition["label"] == 'start-partition [["n1"] ["n2" "n3"]]'
    assert partition["duration"] == pytest.approx(2.1)
    assert partition["inside"] == {"ok": 2, "fail": 1, "info": 1, "total": 4, "error_rate": 0.5}
    # first ok write invoked after 1.0 is the one invoked at 2.5, done at 3.5; after 3.1: done at 3.7
    assert partition["first_ok_write"] == {"after_open": pytest.approx(2.5), "after_close": pytest.approx(0.6)}
    assert partition["first_ok_read"] == {"after_open": pytest.approx(0.9), "after_close": pytest.approx(0.2)}
    before, inside, after = (partition["latency_ms"][s] for s in ("before", "inside", "after"))
    assert before == {"n": 2, "p50": 75.0, "p95": 97.5, "p99": 99.5, "max": 100.0}
    assert inside == {"n": 2, "p50": 600.0, "p95": 960.0, "p99": 992.0, "max": 1000.0}
    assert after == {"n": 3, "p50": 100.0, "p95": 100.0, "p99": 100.0, "max": 100.0}
    assert partition["invoked_after_close"] == {"writes": 2, "reads": 4} and partition["closed"]

    assert (kill["kind"], kill["start"], kill["end"], kill["label"]) == ("kill", 5.0, 6.0, 'kill ["n1"]')
    assert kill["inside"] == {"ok": 1, "fail": 0, "info": 0, "total": 1, "error_rate": 0.0}
    assert kill["first_ok_write"] == {"after_open": pytest.approx(1.5), "after_close": pytest.approx(0.5)}
    assert kill["first_ok_read"] == {"after_open": pytest.approx(0.6), "after_close": None}  # the read after 6.0 failed
    assert kill["invoked_after_close"] == {"writes": 1, "reads": 1}
    assert kill["latency_ms"]["before"]["n"] == 3  # the calm since the partition healed: the same three calls
    assert kill["latency_ms"]["after"] == {"n": 1, "p50": 300.0, "p95": 300.0, "p99": 300.0, "max": 300.0}


def test_summary_line_per_fault_kind():
    assert availability.summary_lines(two_faults()) == [
        "partition (1 window): writes resumed after 0.6 s; reads resumed after 0.2 s; "
        "50 % of operations failed or crashed inside",
        "kill (1 window): writes resumed after 0.5 s; reads never resumed after it; "
        "0 % of operations failed or crashed inside"]
    lines = availability.summary_lines(partition_kill_run())
    assert lines[0].startswith("partition (3 windows): writes resumed after ") and " median, " in lines[0]
    assert lines[1].startswith("kill (2 windows): ")


def test_kinds_take_the_median_and_worst_over_their_windows():
    data = availability.section(partition_kill_run())
    assert data["unit"] == "s" and [w["kind"] for w in data["windows"]].count("partition") == 3
    got = data["kinds"]["partition"]
    resumed = sorted(w["first_ok_write"]["after_close"] for w in data["windows"] if w["kind"] == "partition")
    assert got["windows"] == 3 and got["writes_resumed"]["median"] == pytest.approx(resumed[1])
    assert got["writes_resumed"]["worst"] == pytest.approx(resumed[2])
    inside = [w["inside"] for w in data["windows"] if w["kind"] == "partition"]
    assert got["error_rate"] == pytest.approx(sum(i["fail"] + i["info"] for i in inside)
                                              / sum(i["total"] for i in inside), abs=1e-4)
    json.dumps(data)  # plain data, ready for results.json


def test_a_window_after_which_nothing_was_tried_says_so():
    r = Recorder()
    r.add(0.0, "invoke", 0, "write", 1), r.add(0.1, "ok", 0, "write", 1)
    r.add(1.0, "info", "nemesis", "start-partition"), r.add(1.1, "info", "nemesis", "start-partition", "cut")
    r.add(1.2, "invoke", 0, "read"), r.add(2.2, "info", 0, "read", error="timeout")
    (only,) = availability.windows(r.history())
    assert only["closed"] is False and only["end"] == pytest.approx(2.2)  # open to the end of the history
    assert availability.summary_lines(r.history()) == [
        "partition (1 window): no write was tried after it; no read was tried after it; "
        "100 % of operations failed or crashed inside"]


def test_no_fault_no_section():
    history = History([Op("invoke", 0, "read", None, index=0, time=0), Op("ok", 0, "read", 1, index=1, time=5)])
    assert availability.section(history) is None and availability.summary_lines(history) == []
