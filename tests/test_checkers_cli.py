"""``histcheck analyze --checker``: every row of the elle-cli corpus gives its recorded verdict, with the checker
named and, where the history lets it be inferred, without; options, errors and the report files."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from histcheck.cli import main

from conftest import CORPUS, REPO

EXPECTED_EXIT = {"true": 0, "false": 1}
# With one read, nothing in the operations tells Jepsen's set from set-full, and both judge that one read.
INTERCHANGEABLE = {("set-full", "set")}


def checker_rows() -> list[dict]:
    table = CORPUS / "CHECKERS.tsv"
    if not table.exists():
        return []
    with table.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


ROWS = checker_rows()
IDS = [f"{r['checker']}:{r['path']}" for r in ROWS]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def option_args(row: dict) -> list[str]:
    return [arg for opt in row["options"].split() if opt for arg in ("--checker-option", opt)]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_corpus_row_verdict_with_the_checker_named(row: dict) -> None:
    out = run("analyze", "--checker", row["checker"], *option_args(row), str(CORPUS / row["path"]))
    assert out.exit_code == EXPECTED_EXIT[row["valid"]], out.output


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_corpus_row_verdict_with_the_checker_inferred(row: dict) -> None:
    out = run("analyze", "--json", str(CORPUS / row["path"]))
    assert out.exit_code == EXPECTED_EXIT[row["valid"]], out.output
    data = json.loads(out.output)
    assert data["checker"] == row["checker"] or (row["checker"], data["checker"]) in INTERCHANGEABLE
    assert data["valid?"] == data["valid"]
    assert data["notes"][0].startswith(f"checker {data['checker']} inferred")


def test_corpus_is_present() -> None:
    assert len(ROWS) == 16, f"expected the 16 elle-cli rows of {CORPUS / 'CHECKERS.tsv'}"


def test_set_full_json_keeps_jepsens_keys() -> None:
    out = run("analyze", "--json", "--checker", "set-full", str(CORPUS / "elle-cli/jepsen/set_full.json"))
    data = json.loads(out.output)
    for key in ("valid?", "attempt-count", "stable-count", "lost-count", "lost", "never-read", "stale",
                "worst-stale", "anomaly-types"):
        assert key in data
    assert data["lost-count"] == 293


def test_bank_options_override_inference(tmp_path: Path) -> None:
    path = CORPUS / "elle-cli/jepsen/bank-negative-balances.json"
    assert run("analyze", "--checker", "bank", str(path)).exit_code == 1
    out = run("analyze", "--checker", "bank", "--checker-option", "negative-balances=allowed", str(path))
    assert out.exit_code == 0, out.output
    out = run("analyze", "--checker", "bank", "--checker-option", "total=7", str(path))
    assert out.exit_code == 1 and "wrong-total" in out.output


@pytest.mark.parametrize("args,message", [
    (["--checker", "no-such"], "unknown checker 'no-such'"),
    (["--checker", "bank", "--checker-option", "total"], "is not KEY=VALUE"),
    (["--checker", "bank", "--checker-option", "total=x"], "is not an integer"),
    (["--checker", "bank", "--checker-option", "set:total=1"], "names checker 'set'"),
    (["--checker", "bank", "--model", "register"], "--model and --init belong to the linearizable checker"),
    (["--checker", "linearizable", "--checker-option", "a=b"], "not --checker-option"),
])
def test_bad_checker_arguments_exit_254(args: list[str], message: str) -> None:
    out = run("analyze", *args, str(CORPUS / "elle-cli/jepsen/bank.edn"))
    assert out.exit_code == 254 and message in out.output


def test_two_checkers_compose(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text("{:type :invoke, :process 0, :f :add, :value 1}\n{:type :ok, :process 0, :f :add, :value 1}\n"
                    "{:type :invoke, :process 1, :f :read, :value nil}\n{:type :ok, :process 1, :f :read, "
                    ":value [1 5]}\n")
    out = run("analyze", "--json", "--checker", "set", "--checker", "set-full", str(path))
    data = json.loads(out.output)
    assert out.exit_code == 1 and data["checker"] == "compose"
    assert data["set"]["unexpected"] == [5] and data["set-full"]["valid"] is False


def test_out_writes_an_explanation_by_anomaly_kind(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out = run("analyze", "--checker", "bank", "--out", str(out_dir), str(CORPUS / "elle-cli/jepsen/bank-tidb.edn"))
    assert out.exit_code == 1
    text = (out_dir / "explanation.txt").read_text()
    assert text.startswith("INVALID: the bank checker found 1731 wrong-total")
    assert "shows balances summing to" in text and "linearizable" not in text
    data = json.loads((out_dir / "results.json").read_text())
    assert data["valid?"] is False and data["error-count"] == 1731
    assert (out_dir / "timeline.html").exists()


def test_linearizability_analysis_imports_no_other_checker() -> None:
    code = ("import sys; from click.testing import CliRunner; from histcheck.cli import main; "
            f"CliRunner().invoke(main, ['analyze', {str(REPO / 'examples' / 'stale-read.edn')!r}]); "
            "print(sorted(m for m in sys.modules if m.startswith('histcheck.checkers.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(loaded) == ["histcheck.checkers.base", "histcheck.checkers.linearizable"]


def test_checker_options_on_a_linearizability_history_are_refused() -> None:
    out = run("analyze", "--checker-option", "total=3", str(REPO / "examples" / "stale-read.edn"))
    assert out.exit_code == 254 and "not --checker-option" in out.output


def test_linearizable_composes_with_another_checker_and_takes_the_model(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text("{:type :invoke, :process 0, :f :write, :value 1}\n{:type :ok, :process 0, :f :write, :value 1}\n"
                    "{:type :invoke, :process 1, :f :read, :value nil}\n{:type :ok, :process 1, :f :read, "
                    ":value 0}\n")
    out = run("analyze", "--json", "--checker", "linearizable", "--checker", "unique-ids", "--model", "register",
              "--init", "0", str(path))
    data = json.loads(out.output)
    assert out.exit_code == 1 and data["linearizable"]["valid"] is False and data["unique-ids"]["valid"] is True
    assert data["linearizable"]["model"] == "register" and "linearizability" in data["anomaly-types"]
