"""History: pairing invocations with completions, nemesis operations kept aside, independent keys, pandas."""
from __future__ import annotations

import math

import pytest

import histcheck
from histcheck.errors import HistoryError
from histcheck.formats import loads
from histcheck.history import History, Op

TEXT = """{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value [:a 1]}
{:index 1, :time 11, :type :info, :process :nemesis, :f :start, :value [:isolated {"n1" #{"n2"}}]}
{:index 2, :time 12, :type :invoke, :process 1, :f :read, :value [:b nil]}
{:index 3, :time 13, :type :ok, :process 0, :f :write, :value [:a 1], :node "n1"}
{:index 4, :time 14, :type :info, :process 1, :f :read, :value [:b nil], :error :timeout}
{:index 5, :time 15, :type :invoke, :process 6, :f :write, :value [:b 2]}
{:index 6, :time 16, :type :fail, :process 6, :f :write, :value [:b 2]}
"""


def history() -> History:
    return loads(TEXT, format="edn", source="t.edn")


def test_pairing_statuses_and_values() -> None:
    calls = history().calls(include_failed=True)
    assert [(c.process, c.status) for c in calls] == [(0, "ok"), (1, "info"), (6, "fail")]
    ok, info, fail = calls
    assert ok.return_pos == 3 and ok.index == 3 and ok.invoke.index == 0
    assert math.isinf(info.return_pos)          # crashed: returns at +infinity
    assert fail.return_pos == 6
    assert [c.process for c in history().calls()] == [0, 1]     # failed calls dropped by default


def test_nemesis_kept_aside() -> None:
    h = history()
    assert [op.f for op in h.nemesis_ops] == ["start"]
    assert all(op.is_client for op in h.client_ops)
    assert h.summary()["nemesis"] == 1


def test_independent_tuple_keys_are_split() -> None:
    h = history()
    assert h.key_style() == "tuple"
    groups = h.split_keys(h.calls(), "tuple")
    assert set(groups) == {"a", "b"}
    assert groups["a"][0].value == 1


def test_key_field_detected() -> None:
    h = loads('{:process 0, :type :invoke, :f :put, :key "k", :value "x"}\n'
              '{:process 0, :type :ok, :f :put, :key "k", :value "x"}\n', format="porcupine-kv")
    assert h.key_style() == "field"


def test_extra_keys_survive() -> None:
    op = history()[3]
    assert op.extra == {"node": "n1"}


def test_dataframe_round_trip() -> None:
    h = history()
    frame = h.to_dataframe()
    assert list(frame.columns[:6]) == ["index", "time", "type", "process", "f", "value"]
    assert "error" in frame.columns and "node" in frame.columns
    assert len(frame[frame["type"] == "invoke"]) == 3
    back = History.from_dataframe(frame)
    assert [op.to_dict() for op in back] == [op.to_dict() for op in h]


def test_invoke_while_open_names_both_lines() -> None:
    h = loads("{:type :invoke, :process 0, :f :read, :value nil}\n"
              "{:type :invoke, :process 0, :f :write, :value 1}\n", format="edn", source="x.edn")
    with pytest.raises(HistoryError) as err:
        h.calls()
    assert "x.edn, line 2" in str(err.value) and "line 1" in str(err.value)


def test_completion_without_invocation() -> None:
    h = History([Op("ok", 3, "read", 1, index=0, line=9)], source="y.edn")
    with pytest.raises(HistoryError) as err:
        h.calls()
    assert "y.edn, line 9" in str(err.value) and "no invocation" in str(err.value)


def test_open_at_end_is_crashed() -> None:
    h = History([Op("invoke", 0, "write", 1, index=0)])
    call = h.calls()[0]
    assert call.status == "open" and call.crashed
    assert histcheck.check(h, model="register", init=0).valid is True
