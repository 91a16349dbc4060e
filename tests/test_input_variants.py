"""Every variant histcheck reads, in files of a few thousand ops written here, loads with every event and gives
the verdict the same history gives in EDN (valid for the simulated register, invalid once a read is broken)."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from histcheck import formats
from histcheck.errors import InputError
from histcheck.cli import main
from input_histories import (LINE_ENDS, TEXT_VARIANTS, broken, expected_format, register_history,
                             variant_bytes)

EVENTS = 3000
HISTORIES = {"valid": register_history(EVENTS, seed=11), "invalid": broken(register_history(EVENTS, seed=11))}
EXIT = {"valid": 0, "invalid": 1}


def essence(ops) -> list[tuple]:
    """What a checker sees of each event (and its :error), whatever the format keeps besides."""
    return [(op.type, op.process, str(op.f), op.value, (op.extra or {}).get("error")) for op in ops]


def analyze(target: str, data: bytes | None = None, *extra: str):
    return CliRunner().invoke(main, ["analyze", target, "--model", "cas-register", "--init", "0", *extra],
                              input=data)


@pytest.mark.parametrize("variant", sorted(TEXT_VARIANTS))
@pytest.mark.parametrize("line_end", sorted(LINE_ENDS))
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_variant_loads_every_event(tmp_path: Path, variant: str, line_end: str, compressed: bool) -> None:
    ops = HISTORIES["valid"]
    path = tmp_path / ("h" + (".gz" if compressed else ""))
    path.write_bytes(variant_bytes(ops, variant, line_end, compressed))
    history = formats.load(path)
    assert history.format == expected_format(variant)
    assert len(history) == len(ops)
    assert essence(history) == essence(ops)
    if variant == "log-nanos-stamp":
        assert [op.time for op in history] == [op.time for op in ops]
    if variant.startswith("log-") and variant != "log-nanos-stamp":
        assert any("lines that are not operations" in n for n in history.meta["notes"])
    if variant == "jsonl-string-processes":
        assert any("string of digits were read as integers" in n for n in history.meta["notes"])


@pytest.mark.parametrize("variant", sorted(TEXT_VARIANTS))
def test_variant_gives_the_edn_verdict(tmp_path: Path, variant: str) -> None:
    for name, ops in HISTORIES.items():
        edn = tmp_path / f"{name}.edn"
        edn.write_bytes(variant_bytes(ops, "edn"))
        assert analyze(str(edn)).exit_code == EXIT[name]
        other = tmp_path / f"{name}.{variant}"
        other.write_bytes(variant_bytes(ops, variant, "crlf" if variant.startswith("log") else "lf"))
        out = analyze(str(other))
        assert out.exit_code == EXIT[name], out.output
        assert f"{len(ops)} events" in out.output


def test_standard_input_and_gzip_on_standard_input(tmp_path: Path) -> None:
    for name, ops in HISTORIES.items():
        for variant in ("edn", "history.txt", "log-worker-space"):
            for compressed in (False, True):
                out = analyze("-", variant_bytes(ops, variant, compressed=compressed))
                assert out.exit_code == EXIT[name], out.output
                assert f"<stdin>: {len(ops)} events" in out.output


def test_history_edn_gz_is_read_as_edn(tmp_path: Path) -> None:
    path = tmp_path / "history.edn.gz"
    path.write_bytes(gzip.compress(variant_bytes(HISTORIES["valid"], "edn")))
    assert formats.detect(path) == "edn"
    assert formats.load(path).ops == HISTORIES["valid"]


def test_damaged_gzip_is_an_input_error_with_a_line(tmp_path: Path) -> None:
    data = gzip.compress(variant_bytes(HISTORIES["valid"], "edn"))
    path = tmp_path / "cut.edn.gz"
    path.write_bytes(data[: len(data) // 2])
    out = analyze(str(path))
    assert out.exit_code == 254 and str(path) in out.output and "line" in out.output and "gzip" in out.output


def test_ops_without_process_are_read_and_refused_by_the_linearizability_check(tmp_path: Path) -> None:
    """elle-cli style: completed ops without :process load (with a note); the linearizability check needs
    processes and names the first line without one; the API refuses the same history."""
    import histcheck
    text = "".join(f"{{:index {i}, :type :ok, :f :read, :value {i % 3}}}\n" for i in range(2000))
    path = tmp_path / "ok-only.edn"
    path.write_text('{:index -1, :type :invoke, :process 0, :f :read, :value nil}\n' + text)
    history = formats.load(path)
    assert len(history) == 2001 and history.ops[1].process is None
    assert "2,000 operations have no :process, the first at line 2" in history.meta["notes"]
    out = analyze(str(path))
    assert out.exit_code == 254 and f"{path}, line 2:" in out.output and ":process" in out.output
    with pytest.raises(histcheck.InputError, match="line 2"):
        histcheck.check(history, "cas-register", 0)


def test_string_process_ids_follow_the_documented_rule() -> None:
    text = ('{"type": "invoke", "process": "worker-1", "f": "read", "value": null}\n'
            '{"type": "ok", "process": "worker-1", "f": "read", "value": 0}\n')
    history = formats.loads(text, "jsonl")
    assert [op.is_client for op in history] == [False, False]
    assert any("not a number were read as naming a process" in n for n in history.meta["notes"])
    with pytest.raises(InputError, match="no client operations found"):
        formats.require_operations(history)


def test_the_examples_in_docs_formats_read_as_documented() -> None:
    """Every example history in docs/formats.md reads, in the format its section names, with every op line."""
    import re
    docs = (Path(__file__).resolve().parents[1] / "docs" / "formats.md").read_text()
    read = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", docs, re.S):
        if lang != "python":
            history = formats.loads(body)
            read.append((history.format, len(history)))
    assert read == [("edn", 3), ("edn", 3), ("jsonl", 1), ("jsonl", 3), ("jepsen-log", 3), ("jepsen-log", 2),
                    ("jepsen-log", 3), ("jepsen-log", 3), ("jepsen-txt", 3), ("porcupine-kv", 1), ("edn", 2)]


def test_a_log_whose_first_op_comes_after_a_long_setup_is_read_from_a_pipe() -> None:
    """No extension to break the tie on standard input: a first line shaped like a log line decides."""
    setup = "".join(f"2017-03-08 16:48:54,{i % 1000:03d} INFO jepsen.os - installing {i}\n" for i in range(8000))
    ops = HISTORIES["valid"]
    out = analyze("-", setup.encode() + variant_bytes(ops, "log-info-dash"))
    assert out.exit_code == 0, out.output
    assert f"<stdin>: {len(ops)} events" in out.output and "skipped 8," in out.output
