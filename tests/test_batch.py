"""``histcheck analyze A B DIR ...``: many files in one process, one line each, a total, the worst exit code."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from histcheck.batch import history_files, report_dirs, worst
from histcheck.cli import main
from histcheck import registry
from histcheck.models.register import Register

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "stale-read.edn"
VALID = ("{:type :invoke, :process 0, :f :write, :value 1}\n{:type :ok, :process 0, :f :write, :value 1}\n"
         "{:type :invoke, :process 1, :f :read, :value nil}\n{:type :ok, :process 1, :f :read, :value 1}\n")
TRUNCATED = "{:type :invoke, :process 0, :f :write, :value 1}\n{:type :ok, :process 0, :f :write, :value\n"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def hard(n: int = 24) -> str:
    """n concurrent adds then a read of an element nobody added, for the set model: 2^n sets to refute, too many
    to list as the starting states of a window (checker/cut.py), so a short time limit runs out."""
    lines = [f"{{:type :invoke, :process {p}, :f :add, :value {p + 1}}}" for p in range(n)]
    lines += [f"{{:type :ok, :process {p}, :f :add, :value {p + 1}}}" for p in range(n)]
    lines += ["{:type :invoke, :process 99, :f :read, :value nil}", "{:type :ok, :process 99, :f :read, :value [77]}"]
    return "\n".join(lines) + "\n"


SET_VALID = ("{:type :invoke, :process 0, :f :add, :value 1}\n{:type :ok, :process 0, :f :add, :value 1}\n"
             "{:type :invoke, :process 1, :f :read, :value nil}\n{:type :ok, :process 1, :f :read, :value [1]}\n")
SET_INVALID = SET_VALID.replace(":value [1]", ":value []")


def files(tmp_path: Path, **texts: str) -> list[Path]:
    out = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.edn"
        path.write_text(text)
        out.append(path)
    return out


def lines_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if line]


@pytest.mark.parametrize(("codes", "expected"), [
    ([], 0), ([0, 0], 0), ([0, 1, 0], 1), ([1, 2], 2), ([2, 1, 0], 2), ([0, 254, 2, 1], 254),
    ([254, 255, 0], 255), ([255], 255), ([1, 254], 254)])
def test_the_worst_code_wins_in_the_order_255_254_2_1_0(codes: list[int], expected: int) -> None:
    assert worst(codes) == expected


def test_a_bad_file_is_reported_on_its_line_and_the_others_are_checked(tmp_path: Path) -> None:
    ok, bad, inv = files(tmp_path, ok=VALID, bad=TRUNCATED, inv=EXAMPLE.read_text())
    missing = tmp_path / "missing.edn"
    out = run("analyze", ok, bad, missing, inv)
    assert out.exit_code == 254, out.output
    lines = lines_of(out.output)
    assert len(lines) == 5
    assert lines[0].startswith(f"{ok}: valid")
    assert lines[1].startswith(f"{bad}: bad input: line 2:") and "truncated" in lines[1]
    assert lines[2].startswith(f"{missing}: bad input: no such file")
    assert lines[3].startswith(f"{inv}: INVALID") and "process 4 ok read 2 at index 17" in lines[3]
    assert lines[4].startswith("total: 4 files: 1 valid, 1 INVALID, 0 unknown, 2 bad input") \
        and lines[4].endswith("exit 254")


def test_all_decided_with_one_invalid_exits_one_and_unknown_outranks_it(tmp_path: Path) -> None:
    ok, inv, undecided = files(tmp_path, ok=VALID, inv=EXAMPLE.read_text(), hard=hard())
    decided = run("analyze", ok, inv, "--model", "cas-register")
    assert decided.exit_code == 1, decided.output
    assert lines_of(decided.output)[-1].startswith("total: 2 files: 1 valid, 1 INVALID, 0 unknown")
    set_ok, set_inv = files(tmp_path, set_ok=SET_VALID, set_inv=SET_INVALID)
    mixed = run("analyze", set_ok, set_inv, undecided, "--model", "set", "--time-limit", "0.2")
    assert mixed.exit_code == 2, mixed.output
    assert f"{undecided}: unknown" in mixed.output and "gave up: time" in mixed.output
    assert run("analyze", ok, ok).exit_code == 0


class _BrokenRegister(Register):
    """A register with a bug: it fails on writes of 13, as a plugin model with a mistake would."""

    name = "broken-register"

    def step(self, state, op):
        if op == ("write", 13):
            raise RuntimeError("the model's own bug")
        return super().step(state, op)


def test_an_internal_error_on_one_file_exits_255_and_spares_the_others(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTINS["models"], "broken-register", f"{__name__}:_BrokenRegister")
    ok, boom = files(tmp_path, ok=VALID, boom=VALID.replace(":value 1", ":value 13"))
    out = run("analyze", boom, ok, "--model", "broken-register", "--engine", "reference")
    assert out.exit_code == 255, out.output
    lines = lines_of(out.output)
    assert lines[0].startswith(f"{boom}: internal error: RuntimeError: the model's own bug")
    assert lines[1].startswith(f"{ok}: valid")
    assert "Traceback" not in out.output


def test_a_directory_means_its_history_files_recursively_sorted(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ("b/deep/z.edn", "a.json", "c.log", "b/x.jsonl", ".hidden/h.edn", "b/.dot.edn"):
        (tmp_path / rel).write_text("")
    (tmp_path / "notes.md").write_text("not a history")
    assert history_files([tmp_path]) == [tmp_path / "a.json", tmp_path / "b" / "deep" / "z.edn",
                                         tmp_path / "b" / "x.jsonl", tmp_path / "c.log"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert history_files([empty, tmp_path / "notes.md"]) == [empty, tmp_path / "notes.md"]


def test_a_directory_of_many_histories_in_one_call(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "more").mkdir(parents=True)
    for i in range(60):
        (corpus / ("more" if i % 2 else "") / f"h{i:03}.edn").write_text(VALID if i % 3 else EXAMPLE.read_text())
    (tmp_path / "empty").mkdir()
    out = run("analyze", corpus, tmp_path / "empty")
    assert out.exit_code == 254, out.output
    lines = lines_of(out.output)
    assert len(lines) == 62
    assert sum(": valid" in line for line in lines) == 40 and sum(": INVALID" in line for line in lines) == 20
    assert lines[-2].startswith(f"{tmp_path / 'empty'}: bad input: a directory with no history files")
    assert lines[-1].startswith("total: 61 files: 40 valid, 20 INVALID, 0 unknown, 1 bad input")


def test_json_in_batch_mode_is_one_object_per_line(tmp_path: Path) -> None:
    ok, bad, inv = files(tmp_path, ok=VALID, bad=TRUNCATED, inv=EXAMPLE.read_text())
    out = run("analyze", ok, bad, inv, "--json")
    assert out.exit_code == 254
    objects = [json.loads(line) for line in lines_of(out.output)]
    assert [o["file"] for o in objects] == [str(ok), str(bad), str(inv)]
    assert objects[0]["valid"] is True and objects[2]["valid"] is False and objects[2]["op"]["index"] == 17
    assert objects[1]["error"] == "bad input" and "line 2" in objects[1]["message"] and "valid" not in objects[1]


def test_out_gives_each_file_its_own_directory(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "run.edn"
    second = tmp_path / "b" / "run.edn"
    other = tmp_path / "other.edn"
    for path, text in ((first, VALID), (second, EXAMPLE.read_text()), (other, VALID)):
        path.write_text(text)
    out_dir = tmp_path / "reports"
    out = run("analyze", first, second, other, "--out", out_dir)
    assert out.exit_code == 1, out.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["other", "run", "run-2"]
    assert json.loads((out_dir / "run" / "results.json").read_text())["valid"] is True
    assert json.loads((out_dir / "run-2" / "results.json").read_text())["valid"] is False
    assert f"report in {out_dir / 'run-2'}" in out.output
    assert report_dirs([first, second, other, first], out_dir)[3] == out_dir / "run-3"


def test_one_file_keeps_its_full_summary() -> None:
    out = run("analyze", EXAMPLE)
    assert out.exit_code == 1
    assert "first operation that cannot be linearized: process 4 ok read 2 at index 17" in out.output
    assert "total:" not in out.output


def test_ctrl_c_ends_the_batch_with_a_total(tmp_path: Path) -> None:
    """Ctrl-C during a long check: that file is unknown (interrupted), the rest are not checked, the total says so."""
    import signal
    import subprocess
    import sys
    import time
    files(tmp_path, a=hard(26), b=SET_VALID, c=SET_VALID)
    exe = Path(sys.executable).parent / "histcheck"
    proc = subprocess.Popen([str(exe), "analyze", str(tmp_path), "--model", "set"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    lines = lines_of(out)
    assert lines[0].startswith(f"{tmp_path / 'a.edn'}: unknown") and "interrupted" in lines[0]
    assert lines[-1].startswith("total: 1 file: 0 valid, 0 INVALID, 1 unknown") \
        and lines[-1].endswith("interrupted, 2 files not checked")
