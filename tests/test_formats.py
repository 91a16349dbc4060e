"""Reading and writing histories: the corpus, every syntax corner, every error, and round trips.

The corpus (../shared/corpus, 231 public histories) is the ground truth for "reads what real tools write";
edn_format is the oracle for "parses EDN like a general-purpose EDN reader"; hypothesis checks that whatever we
write we read back unchanged, and that the fast paths agree with the complete parser.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from histcheck import formats
from histcheck.errors import InputError
from histcheck.formats.edn import parse_value, read_edn
from histcheck.formats.ednwrite import edn
from histcheck.formats.jepsen_log import format_log_line
from histcheck.formats.lines import text_lines
from histcheck.formats.porcupine_kv import format_kv_line
from histcheck.history import TYPES, History, Op
from histcheck.values import EdnList, Keyword, Symbol, Tagged, to_plain

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def corpus_rows() -> list[dict]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = corpus_rows()
needs_corpus = pytest.mark.skipif(not ROWS, reason=f"corpus folder {CORPUS} is absent")


def naive_count(path: Path, fmt: str) -> int:
    """Ops counted without parsing: op lines in a log, ``:type`` keys in EDN."""
    text = path.read_text()
    if fmt == "jepsen-log":
        return len(re.findall(r"jepsen\.util - \S+\s+:", text))
    return text.count(":type")


def ops_of(text: str) -> list[Op]:
    return formats.loads(text, "edn").ops


def error_of(fn, *args) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)
    return info.value


# -- the corpus ---------------------------------------------------------------------------------------------------

@needs_corpus
def test_corpus_loads_detects_and_round_trips() -> None:
    """Every corpus file: detected format, op count, op lines, and the EDN/JSONL/JSON round trips."""
    assert len(ROWS) == 231
    seen = set()
    for row in ROWS:
        path = CORPUS / row["path"]
        fmt = row["format"]
        assert formats.detect(path) == fmt, row["path"]
        history = formats.load(path)
        assert history.format == fmt and history.source == str(path)
        assert len(history) == naive_count(path, fmt), row["path"]
        lines = path.read_text().split("\n")
        marker = "jepsen.util - " if fmt == "jepsen-log" else "{"
        assert [op.line for op in history.ops if marker not in lines[op.line - 1]] == [], row["path"]
        assert sorted(op.line for op in history.ops) == [op.line for op in history.ops]
        for out in ("edn", "jsonl", "json"):
            again = formats.loads(formats.dumps(history, out), out)
            assert again.ops == history.ops, (row["path"], out)
        seen.add(fmt)
    assert seen == {"edn", "jepsen-log", "porcupine-kv"}


@needs_corpus
def test_corpus_write_files_and_json_array(tmp_path: Path) -> None:
    """``write`` then ``load`` (format detected from the written file) gives the same history."""
    for row in ROWS[::10]:
        history = formats.load(CORPUS / row["path"])
        for out, name in (("edn", "h.edn"), ("jsonl", "h.jsonl"), ("json", "h.json")):
            target = tmp_path / name
            formats.write(history, target, out)
            again = formats.load(target)
            assert again.ops == history.ops, (row["path"], out)
            if history.ops:
                assert again.format == out


@needs_corpus
def test_corpus_known_shapes() -> None:
    """Spot checks of values against what the files say."""
    log = formats.load(CORPUS / "porcupine/etcd/etcd_000.log")
    first = log.ops[0]
    assert (first.index, first.process, first.type, first.f, first.value, first.line) == (0, 0, "invoke",
                                                                                        "read", None, 1)
    assert any(op.value == Keyword("timed-out") for op in log.ops)
    assert any(isinstance(op.value, tuple) and len(op.value) == 2 for op in log.ops)  # cas [from to]
    assert len(formats.load(CORPUS / "porcupine/etcd/etcd_095.log")) == 0
    kv = formats.load(CORPUS / "porcupine/kv/c01-ok.txt")
    assert kv.format == "porcupine-kv" and kv.key_style() == "field"
    assert kv.ops[0].extra == {"key": "0"} and kv.ops[0].value == "x 0 0 y"
    multi = formats.load(CORPUS / "knossos/multi-register/good/multi-register.edn")
    assert multi.ops[0].value == ((Keyword("read"), Keyword("x"), None),) and multi.ops[0].line == 2
    assert multi.ops[1].line == 7
    mutex = formats.load(CORPUS / "knossos/mutex/bad/etcd.edn")
    assert mutex.ops[1].extra == {"error": "not-held"} and mutex.ops[1].index == 1


@needs_corpus
def test_corpus_matches_edn_format() -> None:
    """Our EDN reader and edn_format agree on the hand-made Knossos files (comments, lists, odd spacing)."""
    paths = sorted((CORPUS / "knossos").rglob("*.edn"))
    paths = [p for p in paths if "memstress" not in p.name and p.stat().st_size < 40_000]
    assert paths
    for path in paths:
        ours = [op.to_dict() for op in formats.load(path).ops]
        theirs = edn_format.loads(path.read_text())
        assert len(ours) == len(theirs), path
        for position, (mine, other) in enumerate(zip(ours, theirs)):
            other = {str(k.name): from_edn_format(v) for k, v in other.items()}
            other.setdefault("index", position)
            other.setdefault("value", None)
            assert mine == other, path


def from_edn_format(value):
    """edn_format's values in histcheck's terms."""
    if isinstance(value, edn_format.Keyword):
        return Keyword(value.name)
    if isinstance(value, edn_format.Symbol):
        return Symbol(value.name)
    if isinstance(value, edn_format.ImmutableList):
        return tuple(from_edn_format(v) for v in value)
    if isinstance(value, tuple):
        return EdnList(from_edn_format(v) for v in value)
    if isinstance(value, frozenset):
        return frozenset(from_edn_format(v) for v in value)
    if isinstance(value, (dict, edn_format.ImmutableDict)):
        return {from_edn_format(k): from_edn_format(v) for k, v in value.items()}
    if isinstance(value, edn_format.Char):
        return str(value)
    return value


# -- EDN syntax ---------------------------------------------------------------------------------------------------

def test_edn_stream_with_index_time_and_extras() -> None:
    ops = ops_of('{:index 7, :time 123, :type :info, :process :nemesis, :f :start, :value nil, :node "n1"}\n'
                 "\n"
                 "{:index 8, :time 130, :type :invoke, :process 0, :f :cas, :value [1 2]}\n")
    assert [(op.index, op.time, op.line) for op in ops] == [(7, 123, 1), (8, 130, 3)]
    assert ops[0].process == "nemesis" and not ops[0].is_client and ops[0].extra == {"node": "n1"}
    assert ops[1].value == (1, 2)
    assert isinstance(ops[0].f, str)


def test_edn_vector_and_list_of_maps_with_comments() -> None:
    text = ("; a Knossos history\n"
            "[{:process 0, :type :invoke, :f :read, :value nil}\n"
            " ; a comment between ops\n"
            " {:process 0  :type :ok  :f :read  :value 3}]\n")
    ops = ops_of(text)
    assert [(op.index, op.line, op.value) for op in ops] == [(0, 2, None), (1, 4, 3)]
    listed = ops_of("({:process 0, :type :invoke, :f :read, :value nil}\n"
                    " {:process 0, :type :ok, :f :read, :value 3})\n")
    assert [op.to_dict() for op in listed] == [op.to_dict() for op in ops]


def test_edn_all_value_kinds() -> None:
    text = ('{:type :ok, :process 1, :f :txn, :value [#{1 2} (3 "a\\tb\\"c\\u00e9") {:k sym, "s" \\a} '
            ':ns/kw nil true false -4 2.5 1e3 7N 1.5M ##Inf \\newline \\u0041]}\n')
    (op,) = ops_of(text)
    assert op.value == (frozenset({1, 2}), EdnList((3, 'a\tb"cé')), {Keyword("k"): Symbol("sym"), "s": "a"},
                        Keyword("ns/kw"), None, True, False, -4, 2.5, 1000.0, 7, 1.5, float("inf"), "\n", "A")
    assert isinstance(op.value[1], EdnList) and isinstance(op.value[2][Keyword("k")], Symbol)
    assert type(op.value[3]) is Keyword


def test_edn_tags_records_and_discards() -> None:
    text = ('#_ {:type :ok, :process 9, :f :gone, :value nil}\n'
            '#jepsen.history.Op{:index 0, :time 1, :type :invoke, :process 0, :f :read, :value nil}\n'
            '{:type :ok, :process 0, :f :read, #_ :ignored #_ 1 :value #inst "2020-01-01T00:00:00Z", '
            ':id #uuid "0b3a6b1c-1111-4a4e-8a3a-111111111111"}\n'
            "{:type :ok, :process 0, :f :read, :value [1 #_ 2 3]} #_ {:not :an-op}\n")
    ops = ops_of(text)
    assert len(ops) == 3
    assert ops[0].index == 0 and ops[0].line == 2
    assert ops[1].value == Tagged("inst", "2020-01-01T00:00:00Z")
    assert ops[1].extra == {"id": Tagged("uuid", "0b3a6b1c-1111-4a4e-8a3a-111111111111")}
    assert ops[2].value == (1, 3)


def test_edn_map_spread_over_lines_reports_its_first_line() -> None:
    text = ('{:type :invoke,\n :f :write,\n :value "two\nlines",\n :process 3}\n'
            "{:type :ok, :f :write, :value nil, :process 3}\n")
    ops = ops_of(text)
    assert [op.line for op in ops] == [1, 6] and ops[0].value == "two\nlines"


def test_escapes_in_the_last_value_are_unescaped() -> None:
    """The hot loop converts a last ``:value`` on its own; a string with escapes must still be unescaped."""
    for written, value in (('"\\u001f"', "\x1f"), ('"a\\nb"', "a\nb"), ('"x\\\\"', "x\\"), ('"q\\"r"', 'q"r')):
        text = "{:index 0, :time 5, :type :invoke, :process 0, :f :w, :value " + written + "}\n"
        assert ops_of(text)[0].value == value, written


def test_edn_keys_become_plain_strings() -> None:
    (op,) = ops_of('{:type :ok, :process 0, :f :read, :value {:a 1}, :error [:timeout "x"]}\n')
    assert list(op.extra) == ["error"] and type(list(op.extra)[0]) is str
    assert type(list(op.value)[0]) is Keyword


def test_parse_value() -> None:
    assert parse_value('[:isolated {"n1" #{"n2"}}]') == (Keyword("isolated"), {"n1": frozenset({"n2"})})
    assert parse_value(":timed-out") == "timed-out" and parse_value("nil") is None
    with pytest.raises(InputError):
        parse_value("1 2")


# -- JSON ---------------------------------------------------------------------------------------------------------

def test_jsonl_elle_cli_style() -> None:
    text = ('{"type":"invoke","f":"read","process":0,"value":null}\n'
            '\n'
            '{"type":":ok","f":":read","process":0,"value":[1,[2,3]],"time":5,"error":"x"}\n'
            '{"type":"info","f":"start","process":":nemesis","value":{"a":[1]}}\n')
    ops = formats.loads(text, "auto").ops
    assert [(op.type, op.f, op.index, op.line) for op in ops] == [("invoke", "read", 0, 1), ("ok", "read", 1, 3),
                                                                  ("info", "start", 2, 4)]
    assert ops[1].value == (1, (2, 3)) and ops[1].time == 5 and ops[1].extra == {"error": "x"}
    assert ops[2].process == "nemesis" and ops[2].value == {"a": (1,)}


def test_json_array_lines() -> None:
    text = ('[\n  {"index": 3, "type": "invoke", "f": "read", "process": 0, "value": null},\n'
            '  {"index": 4,\n   "type": "ok", "f": "read", "process": 0, "value": 2}\n]\n')
    history = formats.loads(text, "auto")
    assert history.format == "json"
    assert [(op.index, op.line) for op in history.ops] == [(3, 2), (4, 3)]
    assert formats.loads("[]", "json").ops == []


# -- Jepsen logs --------------------------------------------------------------------------------------------------

def test_jepsen_log_tabs_spaces_and_noise() -> None:
    text = ("INFO  jepsen.core - Running test\n"
            "2017-03-08 16:48:54,330{GMT}\tINFO\t[jepsen worker 3] jepsen.util: 3\t:invoke\t:read\tnil\n"
            "INFO  jepsen.util - Relative time begins now\n"
            "INFO  jepsen.util - 3   :ok   :read   [1 2]\n"
            "INFO  jepsen.util - :nemesis\t:info\t:start\t[:isolated {\"n1\" #{\"n2\"}}]\n"
            "\tat clojure.core$eval.invoke(core.clj:3202)\n"
            "INFO  jepsen.util - 4\t:info\t:cas\t[1 2]\tindeterminate: timeout\n"
            "INFO  jepsen.util - 5\t:fail\t:read\t:timed-out\t:timeout\n")
    history = formats.loads(text, "auto")
    assert history.format == "jepsen-log"
    ops = history.ops
    assert [(op.index, op.line, op.type) for op in ops] == [(0, 2, "invoke"), (1, 4, "ok"), (2, 5, "info"),
                                                            (3, 7, "info"), (4, 8, "fail")]
    assert ops[1].value == (1, 2)
    assert ops[2].process == "nemesis" and ops[2].value == (Keyword("isolated"), {"n1": frozenset({"n2"})})
    assert ops[3].extra == {"error": "indeterminate: timeout"}
    assert ops[4].value == Keyword("timed-out") and ops[4].extra == {"error": Keyword("timeout")}


def test_jepsen_log_round_trip_through_log_lines() -> None:
    ops = [Op("invoke", 0, Keyword("cas"), (1, 2), index=0), Op("info", 0, Keyword("cas"), (1, 2), index=1),
           Op("info", "nemesis", Keyword("stop"), None, index=2)]
    text = "".join(format_log_line(op) + "\n" for op in ops)
    assert formats.loads(text, "jepsen-log").ops == ops


# -- detection ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, suffix, expected", [
    ("{:type :invoke, :process 0, :f :read, :value nil}\n", ".txt", "edn"),
    ("; comment\n\n[{:type :invoke, :process 0, :f :read, :value nil}]\n", ".json", "edn"),
    ("#jepsen.history.Op{:index 0, :type :invoke, :process 0, :f :read, :value nil}\n", "", "edn"),
    ('{"type": "invoke", "process": 0, "f": "read", "value": null}\n', ".edn", "jsonl"),
    ('[\n {"type": "invoke", "process": 0, "f": "read", "value": null}]\n', "", "json"),
    ("[]\n", ".json", "json"),
    ("[]\n", ".edn", "edn"),
    ("", ".jsonl", "jsonl"),
    ("", "", "edn"),
    ("", ".log", "jepsen-log"),
    ("INFO  jepsen.core - starting\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n", "", "jepsen-log"),
    ("INFO  jepsen.core - nothing yet\n", ".log", "jepsen-log"),
    ('{:process 0, :type :invoke, :f :put, :key "1", :value "x"}\n'
     '{:process 0, :type :ok, :f :put, :key "1", :value "x"}\n', ".txt", "porcupine-kv"),
    ('{:index 0, :process 0, :type :invoke, :f :put, :key "1", :value "x"}\n', ".txt", "edn"),
])
def test_detect(tmp_path: Path, text: str, suffix: str, expected: str) -> None:
    path = tmp_path / f"history{suffix}"
    path.write_text(text)
    assert formats.detect(path) == expected
    assert formats.load(path).format == expected


def test_detect_refuses_unknown_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("\nmy notes\nnothing here\n")
    err = error_of(formats.detect, path)
    assert err.line == 2 and err.path == str(path)


# -- errors -------------------------------------------------------------------------------------------------------

OK_LINE = "{:type :invoke, :process 0, :f :read, :value nil}\n"


@pytest.mark.parametrize("text, line, words", [
    (OK_LINE + "{:type :ok, :process 0,\n :f :read, :value [1 2\n", 2, "ends inside the map"),
    ("[" + OK_LINE + OK_LINE, 1, "ends inside the vector"),
    (OK_LINE + OK_LINE.replace(":invoke", ":bogus"), 2, "unknown :type"),
    (OK_LINE + '{:type :ok, :process 0, :f :read, :value "abc}\n', 2, "unterminated string"),
    (OK_LINE + OK_LINE + "{:type :ok, :process 0, :f :read, :value nil)\n", 3, ") closes the map"),
    (OK_LINE + "{:type :ok, :process 0, :f :read, :value 1.2.3}\n", 2, "cannot read '1.2.3'"),
    ("{:type :ok, :type :invoke, :process 0, :f :read, :value 1}\n", 1, "appears twice"),
    (OK_LINE + "{:process 0, :f :read, :value 1}\n", 2, "no :type"),
    (OK_LINE + "[1 2]\n", 2, "where an operation should be"),
    (OK_LINE + "{:type :ok, :process 0, :f :read, :value 1 :extra}\n", 2, "key but no value"),
    (OK_LINE + "]\n", 2, "unexpected ]"),
])
def test_edn_errors_name_the_line(text: str, line: int, words: str) -> None:
    err = error_of(formats.loads, text, "edn", "h.edn")
    assert err.line == line and words in err.message and err.path == "h.edn"


def test_log_garbage_op_line() -> None:
    text = ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
            "INFO  jepsen.core - fine\n"
            "INFO  jepsen.util - 0\t:ok\t:read\t[1 2\n"
            "INFO  jepsen.util - 0\tok\t:read\t3\n")
    err = error_of(formats.loads, text, "jepsen-log")
    assert err.line == 3
    err = error_of(formats.loads, text.replace("[1 2\n", "2\n"), "jepsen-log")
    assert err.line == 4 and "keyword" in err.message
    err = error_of(formats.loads, "INFO  jepsen.util - 1\t:invoke\t:read\n", "jepsen-log")
    assert err.line == 1 and "no value" in err.message


def test_json_errors_name_the_line() -> None:
    err = error_of(formats.loads, '{"type": "invoke", "process": 0, "f": "r", "value": 1}\n{"type": \n', "jsonl")
    assert err.line == 2
    err = error_of(formats.loads, '{"type": "nope", "process": 0, "f": "r", "value": 1}\n', "jsonl")
    assert err.line == 1 and "unknown :type" in err.message
    err = error_of(formats.loads, '[{"type": "invoke", "process": 0, "f": "r", "value": 1},\n\n', "json")
    assert err.line == 3 and "truncated" in err.message
    err = error_of(formats.loads, '[{"type": "invoke", "process": 0, "f": "r", "value": 1},\n 7]', "json")
    assert err.line == 2


@pytest.mark.parametrize("fmt", ["auto", "edn", "jsonl", "json", "jepsen-log", "porcupine-kv"])
def test_files_empty_missing_and_not_utf8(tmp_path: Path, fmt: str) -> None:
    empty = tmp_path / "empty.edn"
    empty.write_bytes(b"")
    assert len(formats.load(empty, fmt)) == 0
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"\n  \n")
    assert len(formats.load(blank, fmt)) == 0
    err = error_of(formats.load, tmp_path / "missing.edn", fmt)
    assert "no such file" in err.message and err.path.endswith("missing.edn")
    bad = tmp_path / "latin1.log"
    lines = {"edn": OK_LINE, "porcupine-kv": OK_LINE, "auto": OK_LINE,
             "jsonl": '{"type": "invoke", "process": 0, "f": "r", "value": 1}\n',
             "json": '[{"type": "invoke", "process": 0, "f": "r", "value": 1},\n',
             "jepsen-log": "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"}
    bad.write_bytes(lines[fmt].encode() * 2 + b'{:value "caf\xe9"}\n')
    err = error_of(formats.load, bad, fmt)
    assert err.line == 3 and "UTF-8" in err.message
    assert error_of(formats.load, tmp_path, fmt).path == str(tmp_path)


def test_deep_nesting_is_an_input_error_not_a_crash() -> None:
    """Values nested past MAX_DEPTH are refused by every reader with the line (the checker walks values
    recursively, so reading them would only move the crash); values just under the cap read."""
    from histcheck.formats.lines import MAX_DEPTH
    ok = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert formats.loads("{:type :ok, :process 0, :f :r, :value " + ok + "}\n", "edn").ops[0].line == 1
    assert formats.loads('{"type": "ok", "process": 0, "f": "r", "value": ' + ok + "}\n", "jsonl").ops
    for depth in (MAX_DEPTH + 1, 50_000):
        deep = "[" * depth + "]" * depth
        bare = [("edn", deep + "\n")] if depth > MAX_DEPTH + 1 else []  # one less: the outer [ is the history's
        for fmt, text in bare + [("edn", "{:type :ok, :process 0, :f :r, :value " + deep + "}\n"),
                          ("jsonl", '{"type": "ok", "process": 0, "f": "r", "value": ' + deep + "}\n"),
                          ("json", '[{"type": "ok", "process": 0, "f": "r", "value": ' + deep + "}]")]:
            err = error_of(formats.loads, "\n" + text, fmt)
            assert err.line == 2 and f"nested more than {MAX_DEPTH} deep" in err.message, (fmt, err)


def test_crlf_line_ends_and_byte_order_mark(tmp_path: Path) -> None:
    files = {"a.edn": '\ufeff[{:type :invoke, :process 0, :f :read, :value nil}\r\n'
                      ' {:type :ok, :process 0, :f :read, :value "a\r\nb"}]\r\n',
             "b.log": "INFO  jepsen.util - 0\t:invoke\t:read\tnil\r\nINFO  jepsen.util - 0   :ok   :read   3\r\n",
             "c.jsonl": '{"type": "invoke", "process": 0, "f": "r", "value": 1}\r\n\r\n'}
    seen = {}
    for name, text in files.items():
        path = tmp_path / name
        path.write_bytes(text.encode())
        history = formats.load(path)
        seen[name] = (history.format, [(op.line, op.value) for op in history.ops])
    assert seen == {"a.edn": ("edn", [(1, None), (2, "a\r\nb")]), "b.log": ("jepsen-log", [(1, None), (2, 3)]),
                    "c.jsonl": ("jsonl", [(1, 1)])}


def test_unknown_format_names() -> None:
    assert "one of" in str(error_of(formats.loads, "", "yaml"))
    assert "one of" in str(error_of(formats.dumps, History([]), "jepsen-log"))


# -- writers ------------------------------------------------------------------------------------------------------

def test_format_op_is_jepsens_layout() -> None:
    op = Op("invoke", 0, Keyword("read"), None, index=0, time=123)
    assert formats.format_op(op) == "{:index 0, :time 123, :type :invoke, :process 0, :f :read, :value nil}"
    op = Op("info", "nemesis", "start", [1, "a b"], index=5, extra={"error": Keyword("timeout"), "n": {"a": 1}})
    assert formats.format_op(op) == ('{:index 5, :type :info, :process :nemesis, :f :start, :value [1 "a b"], '
                                     ':error :timeout, :n {"a" 1}}')
    assert formats.format_op_json(op) == ('{"index": 5, "type": "info", "process": "nemesis", "f": "start", '
                                          '"value": [1, "a b"], "error": "timeout", "n": {"a": 1}}')


def test_edn_writer_values() -> None:
    assert edn((EdnList((1, Keyword("a"))), frozenset({2, 1}), Symbol("s"), 'q"\n', 1.5, float("-inf"),
                Tagged("inst", "x"))) == '[(1 :a) #{1 2} s "q\\"\\n" 1.5 ##-Inf #inst "x"]'


def test_porcupine_kv_writer_round_trip() -> None:
    ops = [Op("invoke", 3, Keyword("append"), "x 1 y", index=0, extra={"key": "7"}),
           Op("ok", 3, Keyword("append"), "x 1 y", index=1, extra={"key": "7"})]
    text = "".join(format_kv_line(op) + "\n" for op in ops)
    assert text.startswith('{:process 3, :type :invoke, :f :append, :key "7", :value "x 1 y"}')
    history = formats.loads(text, "auto")
    assert history.format == "porcupine-kv" and history.ops == ops


# -- properties ---------------------------------------------------------------------------------------------------

NAMES = st.builds(str.__add__, st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
                  st.text("abcdefghijklmnopqrstuvwxyz0123456789-?!*", max_size=7))
# Any text, and text made of the characters that matter to EDN, JSON and our line splitting.
TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
                 st.text('ab\\"\n\t\x1f, :{}[]()#;', max_size=8))
ATOMS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10, 10),
                  st.floats(allow_nan=False), TEXT, NAMES.map(Keyword),
                  NAMES.filter(lambda n: n not in ("nil", "true", "false")).map(Symbol))
HASHABLE = st.one_of(st.none(), st.integers(), TEXT, NAMES.map(Keyword))
VALUES = st.recursive(ATOMS, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(tuple),
    st.lists(inner, max_size=3).map(EdnList),
    st.frozensets(HASHABLE, max_size=3),
    st.dictionaries(st.one_of(NAMES.map(Keyword), TEXT, st.integers()), inner, max_size=3),
    inner.map(lambda v: Tagged("inst", v))), max_leaves=10)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT, NAMES.map(Keyword)),
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(tuple),
                            st.dictionaries(TEXT, inner, max_size=3)), max_leaves=10)
CORE = {"index", "time", "type", "process", "f", "value"}


EXTRA_KEYS = NAMES.filter(lambda n: n not in CORE)


def op_lists(values=VALUES):
    """Lists of ops with any field values; an index is either the op's position or an arbitrary integer.
    Strategies are built once here: building them inside a composite costs more than the test itself."""
    fields = st.tuples(st.sampled_from(TYPES), st.one_of(st.integers(0, 50), st.just("nemesis")),
                       NAMES.map(Keyword), values, st.one_of(st.none(), st.integers(0, 10**12)),
                       st.one_of(st.none(), st.integers(0, 10**15)),
                       st.dictionaries(EXTRA_KEYS, values, max_size=2))
    return st.lists(fields, max_size=8).map(lambda rows: [
        Op(kind, process, f, value, index=position if index is None else index, time=time, extra=extra or None)
        for position, (kind, process, f, value, index, time, extra) in enumerate(rows)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists())
def test_random_ops_round_trip_through_edn(ops: list[Op]) -> None:
    text = formats.dumps(ops, "edn")
    assert text.count("\n") == len(ops)
    again = formats.loads(text, "edn").ops
    assert again == ops
    assert [op.line for op in again] == list(range(1, len(ops) + 1))
    # The complete parser reads exactly what the fast paths read.
    assert list(read_edn(text_lines(text), fast=False)) == ops


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists(values=JSON_VALUES))
def test_random_ops_round_trip_through_json(ops: list[Op]) -> None:
    for fmt in ("jsonl", "json"):
        again = formats.loads(formats.dumps(ops, fmt), fmt).ops
        assert again == ops, fmt


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists())
def test_any_ops_survive_json_as_plain_data(ops: list[Op]) -> None:
    """Sets, tags and non-string keys do not exist in JSON; what does survive is the plain form."""
    again = formats.loads(formats.dumps(ops, "jsonl"), "jsonl").ops
    assert [to_plain(op.to_dict()) for op in again] == [to_plain(op.to_dict()) for op in ops]


@settings(max_examples=50, deadline=None)
@given(VALUES.filter(lambda v: "inst" not in repr(v)))
def test_values_parse_like_edn_format(value) -> None:
    text = edn(value)
    assert parse_value(text) == value
    assert from_edn_format(edn_format.loads(text)) == value


def test_read_edn_streams() -> None:
    """Ops come out before the input ends, so a huge file never has to be in memory as text."""
    def lines():
        yield OK_LINE
        raise AssertionError("read too far")
    assert next(read_edn(lines())).type == "invoke"
    assert next(read_edn(text_lines(OK_LINE * 3))).line == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists())
def test_older_jepsen_key_order_reads_the_same(ops: list[Op]) -> None:
    """Older Jepsen wrote ``{:type .., :f .., :value .., :process .., :time .., :index ..}``: same ops, whichever
    gear reads them."""
    def old_style(op: Op) -> str:
        line = formats.format_op(op)[1:-1]
        head, rest = line.split(", ", 1)
        if op.time is not None:
            time_part, rest = rest.split(", ", 1)
            return "{" + rest + ", " + time_part + ", " + head + "}"
        return "{" + rest + ", " + head + "}"
    text = "".join(old_style(op) + "\n" for op in ops)
    assert formats.loads(text, "edn").ops == ops
    assert list(read_edn(text_lines(text), fast=False)) == ops


SYNTAX = st.sampled_from(list('{}[]()#";\\:, \n') + ["#_", "#{", "\\n", ":x", "1", "nil", "#inst"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), SYNTAX), min_size=1,
                            max_size=4))
def test_damaged_edn_fails_cleanly_and_the_gears_agree(ops: list[Op], edits) -> None:
    """Cut, insert and overwrite syntax characters: the result is an InputError or ops, never another exception,
    and the fast paths and the complete parser give the same answer."""
    text = formats.dumps(ops, "edn") or OK_LINE
    for at, cut, piece in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + cut:]
    assert outcome(text, fast=True) == outcome(text, fast=False)


def outcome(text: str, fast: bool):
    """The ops read (as dicts, with their lines), or the error's line."""
    try:
        return [(op.line, op.to_dict()) for op in read_edn(text_lines(text), "h.edn", fast=fast)]
    except InputError as exc:
        return ("error", exc.line)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists(values=JSON_VALUES), st.sampled_from(["jsonl", "json", "log"]),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3),
                          st.sampled_from(list('{}[]",:\t \n\\') + ["null", "jepsen.util - ", "x"])),
                min_size=1, max_size=4))
def test_damaged_json_and_logs_fail_cleanly(ops: list[Op], kind: str, edits) -> None:
    """Whatever the damage, reading gives a history or an InputError -- with every reader and with detection."""
    if kind == "log":
        text = "".join(format_log_line(op) + "\n" for op in ops)
    else:
        text = formats.dumps(ops, kind)
    for at, cut, piece in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + cut:]
    for fmt in ("auto", "jsonl", "json", "jepsen-log", "edn"):
        try:
            formats.loads(text, fmt)
        except InputError as exc:
            assert exc.line is None or exc.line >= 1


def test_a_value_that_is_only_discarded_is_an_input_error() -> None:
    """``#_[0 3]`` as a log op's whole value, or as --init: an InputError with the line, not an IndexError."""
    from histcheck.formats.edn import parse_value
    err = error_of(formats.loads, "INFO  jepsen.util - 1\t:invoke\t:cas\t#_[0 3]\n", "jepsen-log")
    assert err.line == 1 and "discarded" in err.message
    with pytest.raises(InputError, match="discarded"):
        parse_value("#_ 1")
