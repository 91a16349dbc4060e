"""The timeline's data and page, and the matplotlib figures (no browser here: see test_browser.py)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import histcheck
from histcheck.checker.result import Failure, Result, op_summary
from histcheck.explain import minimize
from histcheck.history import History, Op
from histcheck.render import faults, figures
from histcheck.render.faults import kind_colours
from histcheck.render.timeline import nemesis_intervals, render_timeline, timeline_data

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason=f"corpus not found at {CORPUS}")


@pytest.fixture(scope="module")
def cas_failure():
    history = histcheck.load(CORPUS / "knossos/cas-register/bad/cas-failure.edn")
    result = histcheck.check(history, model="cas-register", init=0)
    return history, result, minimize(history, result, model="cas-register", init=0)


def embedded(page: str) -> dict:
    blob = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


def timed_history() -> History:
    ops = [Op("invoke", 0, "write", 1, index=0, time=0), Op("invoke", 1, "read", None, index=1, time=1_000_000),
           Op("info", "nemesis", "start", "partition", index=2, time=2_000_000),
           Op("ok", 0, "write", 1, index=3, time=5_000_000), Op("ok", 1, "read", 1, index=4, time=9_000_000),
           Op("info", "nemesis", "stop", None, index=5, time=10_000_000),
           Op("invoke", 0, "read", None, index=6, time=11_000_000), Op("fail", 0, "read", None, index=7,
                                                                      time=12_000_000)]
    return History(ops, source="timed.edn")


# -- timeline data -----------------------------------------------------------------------------------------

@needs_corpus
def test_timeline_marks_the_failure_counterexample_and_linearization(cas_failure):
    history, result, ce = cas_failure
    data = timeline_data(history, result, ce, model="cas-register", init=0)
    ops, mark = data["ops"], data["failure"]
    failing = mark["op"]
    assert (ops["index"][failing], data["procs"][ops["proc"][failing]], ops["iidx"][failing]) == (491, "70", 488)
    assert data["lanes"][ops["lane"][failing]]["name"] == "worker 0" and data["concurrency"] == 10
    assert sorted(ops["iidx"][i] for i in mark["ce"]) == sorted(op.index for op in ce.ops if op.type == "invoke")
    points = mark["lin"]
    assert len(points) == len(result.failure.longest[0]) > 10
    xs = [p for _, p in points]
    assert xs == sorted(xs)
    for i, x in points:
        end = ops["end"][i] if ops["end"][i] >= 0 else data["n"]
        assert ops["start"][i] < x <= end
    assert data["states"], "the model could not replay the longest linearization"
    first = points[0][0]
    assert data["states"][first][0] == "0"
    assert data["nemesis"] and all(a <= b for a, b, *_ in data["nemesis"])
    pending = {(data["procs"][ops["proc"][i]], ops["iidx"][i]) for i in mark["pending"]}
    assert ("77", 463) in pending  # the crashed cas [1 1] the explanation names


@needs_corpus
def test_page_is_self_contained_and_embeds_the_data(cas_failure):
    history, result, ce = cas_failure
    page = render_timeline(history, result, ce, model="cas-register", init=0)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "fetch(" not in page and "XMLHttpRequest" not in page and "<link" not in page
    data = embedded(page)
    assert data["n"] == len(history.ops) and len(data["ops"]["lane"]) == len(history.calls(include_failed=True))
    assert data["verdict"] == "NOT linearizable"


def test_values_cannot_close_the_script_tag():
    ops = [Op("invoke", 0, "write", "</script><b>x", index=0), Op("ok", 0, "write", "</script><b>x", index=1)]
    page = render_timeline(History(ops), None)
    assert page.count("</script>") == 2  # the data block's and the code's, nothing from the value
    assert embedded(page)["vals"][0] == '"</script><b>x"'


@needs_corpus
def test_largest_corpus_history_page_is_under_5_mb():
    history = histcheck.load(CORPUS / "porcupine/kv/c50-bad.txt")
    result = histcheck.check(history, model="kv", init="")
    ce = minimize(history, result, model="kv", init="", budget=10)
    page = render_timeline(history, result, ce, model="kv", init="")
    assert len(page.encode()) < 5_000_000
    data = embedded(page)
    assert len(data["keys"]) == len({op.extra["key"] for op in history.ops})
    assert data["ops"]["key"][data["failure"]["op"]] == data["keys"].index(f'"{result.failure.key}"')


def test_100k_operation_page_stays_small():
    ops = []
    for n in range(50_000):
        p = n % 10
        ops += [Op("invoke", p, "write", n % 7, index=2 * n), Op("ok", p, "write", n % 7, index=2 * n + 1)]
    history = History(ops)
    bad = history.calls()[25_000]
    result = Result(False, "register", 0, ops=50_000, failure=Failure(None, op_summary(bad), None))
    page = render_timeline(history, result)
    assert len(page.encode()) < 6_000_000
    assert embedded(page)["failure"]["op"] == 25_000


def test_nemesis_intervals_pair_start_and_stop():
    history = timed_history()
    assert nemesis_intervals(history) == [[2, 5, 'start "partition"', GREY]]
    open_ended = History(history.ops[:5])
    assert nemesis_intervals(open_ended) == [[2, 5, 'start "partition"', GREY]]
    jepsen_style = History([Op("invoke", "nemesis", "kill", None, index=0), Op("info", "nemesis", "kill", "n1", index=1),
                            Op("invoke", "nemesis", "start-process", None, index=2),
                            Op("info", "nemesis", "start-process", "n1", index=3)])
    assert nemesis_intervals(jepsen_style) == [[0, 3, 'kill "n1"', KILL]]


# -- nemesis windows and colours ------------------------------------------------------------------------------

GREY, PARTITION, KILL = "#888888", "#e06666", "#7b3294"  # kill is not nemesis' #cc0000: too like partition


def two_nemeses() -> History:
    """Partition and kill (each step an :info pair), overlapping; the kill never healed; a final heal of the
    partition when none is in force."""
    rows = [(0, "invoke", 0, "write", 1), (1, "info", "nemesis", "start-partition", {"mode": "halves"}),
            (2, "info", "nemesis", "start-partition", {"cut": [["n1", "n3"]]}), (3, "ok", 0, "write", 1),
            (4, "info", "nemesis", "kill", {"target": "one"}), (5, "info", "nemesis", "kill", {"nodes": ["n2"]}),
            (6, "invoke", 1, "read", None), (7, "info", "nemesis", "stop-partition", None),
            (8, "info", "nemesis", "stop-partition", "healed"), (9, "ok", 1, "read", 1),
            (10, "info", "nemesis", "stop-partition", "final-heal"),
            (11, "info", "nemesis", "stop-partition", "final-heal"), (12, "invoke", 0, "read", None),
            (13, "ok", 0, "read", 1)]
    return History([Op(t, p, f, v, index=i, time=i * 1_000_000) for i, t, p, f, v in rows], source="two.edn")


@pytest.fixture
def without_nemesis_package(monkeypatch):
    """The nemesis tables cannot be read (a broken plugin nemesis raising while its colours are gathered)."""
    from histcheck import nemesis

    def broken() -> dict:
        raise RuntimeError("a plugin nemesis that cannot be loaded")
    monkeypatch.setattr(nemesis, "colours", broken)
    faults.nemesis_tables.cache_clear()
    yield
    monkeypatch.undo()
    faults.nemesis_tables.cache_clear()


def test_two_nemeses_paired_overlapping_and_left_open():
    got = nemesis_intervals(two_nemeses())
    assert [(a, b, colour) for a, b, _, colour in got] == [(1, 8, PARTITION), (4, 14, KILL)]
    assert got[0][2] == 'start-partition {"cut" [["n1" "n3"]]}'  # what was done (the completion's value), in EDN
    assert got[1][2] == 'kill ["n2"]'  # the nodes it hit


def test_timeline_data_colours_windows_and_legend():
    data = timeline_data(two_nemeses(), None)
    assert [w[3] for w in data["nemesis"]] == [PARTITION, KILL]
    assert data["nemesis_legend"] == [["partition", PARTITION], ["kill", KILL]]
    assert [w[:2] + w[3:4] for w in data["time"]["nemesis"]] == [[1.0, 8.0, PARTITION], [4.0, 13.0, KILL]]
    page = render_timeline(two_nemeses(), None)
    assert 'id="nemlegend"' in page and "D.nemesis_legend" in page and embedded(page)["nemesis_legend"]


def test_every_nemesis_pair_closes_its_own_window():
    from histcheck import nemesis
    for opener, closer in nemesis.windows().items():
        ops = [Op("info", "nemesis", opener, None, index=0), Op("info", "nemesis", opener, "done", index=1),
               Op("info", "nemesis", closer, None, index=2), Op("info", "nemesis", closer, "done", index=3),
               Op("invoke", 0, "read", None, index=4)]
        colour = kind_colours()[opener]
        assert nemesis_intervals(History(ops)) == [[0, 3, f'{opener} "done"', colour]], opener
    left_open = [Op("info", "nemesis", "stop-all", None, index=0), Op("info", "nemesis", "stop-all", ["n1"], index=1),
                 Op("invoke", 0, "read", None, index=2)]
    assert nemesis_intervals(History(left_open)) == [[0, 3, 'stop-all ["n1"]', kind_colours()["stop-all"]]]


def test_a_failed_step_says_so():
    ops = [Op("info", "nemesis", "start-packet", {"loss": 30}, index=0),
           Op("info", "nemesis", "start-packet", {"loss": 30}, index=1, extra={"error": "RuntimeError: no nft"}),
           Op("info", "nemesis", "stop-packet", None, index=2), Op("info", "nemesis", "stop-packet", {}, index=3)]
    assert nemesis_intervals(History(ops)) == [[0, 3, "start-packet failed: RuntimeError: no nft", "#f6b26b"]]


def test_jepsen_unpaired_and_paired_start_stop():
    unpaired = History([Op("info", "nemesis", f, None, index=i) for i, f in enumerate(["start", "stop", "start", "stop",
                                                                                       "start"])]
                       + [Op("invoke", 0, "read", None, index=5)])
    assert nemesis_intervals(unpaired) == [[0, 1, "start", GREY], [2, 3, "start", GREY], [4, 6, "start", GREY]]
    paired = History([Op("info", "nemesis", "start", None, index=0), Op("invoke", 0, "read", None, index=1),
                      Op("info", "nemesis", "start", "Cut off", index=2), Op("info", "nemesis", "stop", None, index=3),
                      Op("info", "nemesis", "stop", "fully connected", index=4)])
    assert nemesis_intervals(paired) == [[0, 4, 'start "Cut off"', GREY]]
    healed = History([Op("info", "nemesis", f, None, index=i) for i, f in enumerate(
        ["isolate", "isolate", "kill", "kill", "recover", "recover"])])  # Jepsen's recover heals everything
    assert [w[:2] for w in nemesis_intervals(healed)] == [[0, 5], [2, 5]]


def test_renders_when_the_nemesis_tables_cannot_be_read(without_nemesis_package, tmp_path):
    assert faults.nemesis_tables() == ({}, {}, {})
    got = nemesis_intervals(two_nemeses())
    assert got[0][:2] == [1, 8] and {w[3] for w in got} == {GREY}
    assert embedded(render_timeline(two_nemeses(), None))["nemesis_legend"] == [["start-partition, kill", GREY]]
    assert figures.rate(two_nemeses(), tmp_path / "rate.svg").stat().st_size > 0


def test_figures_shade_each_nemesis_in_its_colour(tmp_path):
    history = two_nemeses()
    bad = history.calls()[-1]
    result = Result(False, "register", 0, ops=3, failure=Failure(None, op_summary(bad), None))
    svgs = [figures.latency_raw(history, tmp_path / "raw.svg"), figures.latency_quantiles(history, tmp_path / "q.svg"),
            figures.rate(history, tmp_path / "rate.svg")]
    svgs += [p for p in figures.anomaly_window(history, result, None, tmp_path / "anomaly") if p.suffix == ".svg"]
    assert len(svgs) == 4
    for path in svgs:
        text = path.read_text().lower()
        assert PARTITION in text and KILL in text, path.name
    legend = (tmp_path / "rate.svg").read_text()
    assert "nemesis: partition" in legend and "nemesis: kill" in legend


# -- figures -----------------------------------------------------------------------------------------------

def test_clock_uses_time_when_every_client_op_has_it():
    clk = figures.clock(timed_history())
    assert clk.timed and clk.at[3] == pytest.approx(0.005)
    points = {(f, o): lat for f, o, _, lat in figures.latency_points(timed_history(), clk)}
    assert points[("write", "ok")] == pytest.approx(5.0) and points[("read", "ok")] == pytest.approx(8.0)
    assert points[("read", "fail")] == pytest.approx(1.0)
    untimed = History([Op(o.type, o.process, o.f, o.value, index=o.index) for o in timed_history().ops])
    clk2 = figures.clock(untimed)
    assert not clk2.timed and "no :time" in clk2.x_label and list(clk2.at[:3]) == [0, 1, 2]


@needs_corpus
def test_draw_all_writes_every_figure(cas_failure, tmp_path):
    history, result, ce = cas_failure
    paths = figures.draw_all(history, result, ce, tmp_path)
    assert sorted(p.name for p in paths) == ["anomaly.png", "anomaly.svg", "availability.png",
                                             "latency-quantiles.png", "latency-raw.png", "rate.png"]
    for p in paths:
        assert p.stat().st_size > 5_000
    svg = (tmp_path / "anomaly.svg").read_text()
    assert "#d62728" in svg and "#7b3fe4" in svg  # the failing op in red, the counterexample in purple
    from PIL import Image
    assert Image.open(tmp_path / "latency-raw.png").size[0] >= 800


def test_figures_without_a_failure_skip_the_anomaly_window(tmp_path):
    paths = figures.draw_all(timed_history(), Result(True, "register", 0), None, tmp_path)
    assert [p.name for p in paths] == ["latency-raw.png", "latency-quantiles.png", "rate.png", "availability.png"]


def test_time_axis_is_milliseconds_from_the_first_event():
    history = timed_history()
    data = timeline_data(history, None)
    t = data["time"]
    assert t["t0"] == [0.0, 1.0, 11.0] and t["t1"] == [5.0, 9.0, 12.0] and t["max"] == 12.0
    assert t["nemesis"] == [[2.0, 10.0, 'start "partition"', GREY, 'start "partition"', "start"]]
    untimed = History([Op(o.type, o.process, o.f, o.value, index=o.index) for o in history.ops])
    assert timeline_data(untimed, None)["time"] is None


def test_quantile_buckets_without_data_are_gaps_not_lines():
    import numpy as np
    xs, ys = np.array([0.1, 0.2, 3.8, 3.9]), np.array([1.0, 3.0, 5.0, 7.0])
    mids, vals = figures._bucketed(xs, ys, np.linspace(0, 4, 5), 0.5)
    assert list(mids) == [0.5, 1.5, 2.5, 3.5]
    assert vals[0] == 2.0 and np.isnan(vals[1]) and np.isnan(vals[2]) and vals[3] == 6.0


def test_anomaly_window_puts_close_nemesis_labels_on_rows_of_their_own():
    windows = [(10, 11, "start-partition [[n1] [n2 n3]]", "#e06666"), (12, 13, 'kill ["n2"]', "#7b3294"),
               (40, 60, "start-partition [[n1] [n2 n3]]", "#e06666")]
    assert figures._label_rows(windows, char_width=0.5) == [0, 1, 0]


def test_availability_figure_shades_each_fault_kind(tmp_path):
    from fault_histories import partition_kill_run
    svg = figures.availability(partition_kill_run(), tmp_path / "availability.svg").read_text().lower()
    assert PARTITION in svg and KILL in svg and "nemesis: partition" in svg and "nemesis: kill" in svg


# -- lanes by worker ---------------------------------------------------------------------------------------

def test_lanes_by_worker_with_retired_processes_inferred_and_recorded(tmp_path):
    from fault_histories import partition_kill_run
    from histcheck.render.lanes import worker_lanes
    history = partition_kill_run()
    processes = sorted({op.process for op in history.ops if op.is_client})
    lanes = worker_lanes(history)
    assert (lanes.concurrency, lanes.source, lanes.count) == (5, "inferred", 5)
    assert all(lanes.lane_of[p] == p % 5 for p in processes)
    assert sorted(p for held in lanes.held for p in held) == processes
    data = timeline_data(history, None)
    assert [lane["name"] for lane in data["lanes"]] == [f"worker {w}" for w in range(5)]
    assert data["lanes"][2]["procs"] == [str(p) for p in processes if p % 5 == 2]  # first used in this order
    assert len(data["lanes"][2]["procs"]) > 1  # the worker was retired at least once
    # the store's test.json says what the concurrency was; it wins over inference
    (tmp_path / "test.json").write_text(json.dumps({"options": {"concurrency": 10}}))
    recorded = History(history.ops, source=str(tmp_path / "history.edn"))
    lanes = worker_lanes(recorded)
    assert (lanes.concurrency, lanes.source) == (10, "test.json")
    assert all(lanes.held[lanes.lane_of[p]][0] % 10 == p % 10 for p in processes)


def test_processes_that_fit_no_worker_count_get_a_lane_each():
    from histcheck.render.lanes import worker_lanes
    # processes 0 and 2 overlap, as do 1 and 3: no count below 4 keeps a lane's processes one after another
    ops = [Op("invoke", p, "read", None, index=i) for i, p in enumerate([0, 1, 2, 3])]
    ops += [Op("ok", p, "read", 0, index=4 + i) for i, p in enumerate([0, 1, 2, 3])]
    lanes = worker_lanes(History(ops))
    assert lanes.concurrency == 4 and lanes.count == 4
    named = [Op("invoke", "a", "read", None, index=0), Op("ok", "a", "read", 0, index=1)]
    assert worker_lanes(History(named)).source == "one lane per process"
