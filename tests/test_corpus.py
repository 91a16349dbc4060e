"""Every history in the shared corpus gets its known verdict, through the CLI, with the manifest's model and
initial value (231 of 231)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from histcheck.cli import main

from conftest import CORPUS, corpus_rows

ROWS = corpus_rows()


def _analyze(args: list[str]):
    return CliRunner().invoke(main, ["analyze", *args], catch_exceptions=False)


@pytest.mark.skipif(not ROWS, reason=f"the shared corpus is absent ({CORPUS})")
@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS])
def test_corpus_verdict(row: dict) -> None:
    args = [str(CORPUS / row["path"]), "--model", row["model"], "--json", "--time-limit", "60"]
    if row["init"] != "":
        args += ["--init", row["init"]]
    out = _analyze(args)
    expected = row["linearizable"] == "true"
    assert out.exit_code == (0 if expected else 1), out.output
    data = json.loads(out.output)
    assert data["valid"] is expected
    assert data["model"] == row["model"]
    if not expected:
        assert isinstance(data["op"]["index"], int)
        assert data["final_paths"], "an invalid result carries final paths"
        assert all(path[-1]["reason"] for path in data["final_paths"])


def test_manifest_is_complete(corpus) -> None:
    assert len(ROWS) == 231


def test_cas_failure_names_knossos_operation(corpus) -> None:
    out = _analyze([str(corpus / "knossos/cas-register/bad/cas-failure.edn"), "--model", "cas-register",
                    "--init", "0", "--json"])
    data = json.loads(out.output)
    assert out.exit_code == 1
    assert (data["op"]["process"], data["op"]["type"], data["op"]["f"], data["op"]["value"], data["op"]["index"]) \
        == (70, "ok", "read", 0, 491)
    prev = data["previous_ok"]
    assert (prev["process"], prev["f"], prev["value"], prev["index"]) == (74, "read", 0, 478)
    states = {c["state"] for c in data["configs"]}
    assert "2" in states
    reasons = [p[-1]["reason"] for p in data["final_paths"]]
    assert "can't read 0 from register 2" in reasons
    assert data["longest"] and len(data["longest"][0]) > 10


def test_human_summary_names_the_failure(corpus) -> None:
    out = _analyze([str(corpus / "porcupine/etcd/etcd_000.log"), "--model", "cas-register", "--init", "nil"])
    assert out.exit_code == 1
    assert "first operation that cannot be linearized" in out.output
    assert "a read of nil means the value is absent" in out.output
