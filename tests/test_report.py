"""The report directory: reproducible (what it was checked with, a re-check command that works as written) and
saying what the faults did."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import histcheck
from histcheck.report import write_report

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CAS_FAILURE = CORPUS / "knossos/cas-register/bad/cas-failure.edn"
needs_corpus = pytest.mark.skipif(not CAS_FAILURE.exists(), reason=f"corpus not found at {CORPUS}")


def documented_recheck() -> str:
    """The re-check command docs/results.md prints, exactly as written there."""
    text = (ROOT / "docs" / "results.md").read_text()
    section = text[text.index("## counterexample.edn"):]
    return next(line.strip() for line in section.splitlines() if line.startswith("    ") and "re-check" in line)


def cli_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@needs_corpus
def test_recheck_command_in_the_docs_says_invalid_for_cas_failure_analysed_without_init(tmp_path):
    out = tmp_path / "report"
    analysed = subprocess.run(["histcheck", "analyze", str(CAS_FAILURE), "--out", str(out)],
                              capture_output=True, text=True, env=cli_env(), cwd=tmp_path)
    assert analysed.returncode == 1, analysed.stdout + analysed.stderr
    header = (out / "counterexample.edn").read_text().splitlines()[:3]
    assert "model cas-register, initial value nil" in header[1]
    assert header[2] == ";; re-check: histcheck analyze counterexample.edn --model cas-register --init nil"
    used = json.loads((out / "results.json").read_text())["checked_with"]
    assert (used["model"], used["init"], used["init_edn"], used["checker"]) == ("cas-register", None, "nil",
                                                                                 "linearizable")
    command = documented_recheck().replace("DIR", str(out))
    again = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=cli_env(), cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "INVALID" in again.stdout
    wrong = subprocess.run(["histcheck", "analyze", str(out / "counterexample.edn"), "--model", "cas-register",
                            "--init", "0"], capture_output=True, text=True, env=cli_env())
    assert wrong.returncode == 0  # why the initial value must travel with the counterexample


def test_report_of_a_faulty_history_says_what_the_faults_did(tmp_path):
    from fault_histories import partition_kill_run
    from histcheck import availability
    history = partition_kill_run()
    result = histcheck.check(history, model="cas-register", init=0, time_limit=20)
    written = write_report(tmp_path, history, result, model="cas-register", init=0, minimize_time=2)
    assert tmp_path / "availability.png" in written
    data = json.loads((tmp_path / "results.json").read_text())
    section = data["availability"]
    assert [w["kind"] for w in section["windows"]] == ["partition", "kill", "partition", "kill", "partition"]
    assert section["summary"] == availability.summary_lines(history)
    explanation = (tmp_path / "explanation.txt").read_text()
    assert all(line in explanation for line in section["summary"])
    assert data["checked_with"]["init"] == 0 and data["checked_with"]["model"] == "cas-register"
    assert not (tmp_path / "report-errors.txt").exists()
