"""The command line as a user meets it: exit codes, messages that name the file and line, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import histcheck.cli as cli
from histcheck.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "stale-read.edn"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_is_invalid_with_inferred_model() -> None:
    out = run("analyze", str(EXAMPLE))
    assert out.exit_code == 1
    assert "model cas-register inferred from the operations cas, read, write" in out.output
    assert "process 4 ok read 2 at index 17" in out.output


def test_json_output_has_the_promised_fields() -> None:
    out = run("analyze", str(EXAMPLE), "--json")
    data = json.loads(out.output)
    for key in ("valid", "model", "ops", "op", "previous_ok", "final_paths", "configs", "longest"):
        assert key in data
    assert data["op"]["index"] == 17 and data["previous_ok"]["index"] == 15


def test_valid_history_exits_zero(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.edn", "{:type :invoke, :process 0, :f :write, :value 1}\n"
                                     "{:type :ok, :process 0, :f :write, :value 1}\n"
                                     "{:type :invoke, :process 1, :f :read, :value nil}\n"
                                     "{:type :ok, :process 1, :f :read, :value 1}\n")
    out = run("analyze", str(path), "--model", "register", "--init", "0")
    assert out.exit_code == 0, out.output
    assert out.output.count("valid") >= 1


def test_unknown_exits_two_with_cause(tmp_path: Path) -> None:
    # 24 concurrent adds then a read of an element nobody added: 2^24 sets to refute, too many to list as the
    # starting states of a window (see checker/cut.py), so the search runs out of time
    lines = [f"{{:type :invoke, :process {p}, :f :add, :value {p + 1}}}" for p in range(24)]
    lines += [f"{{:type :ok, :process {p}, :f :add, :value {p + 1}}}" for p in range(24)]
    lines += ["{:type :invoke, :process 99, :f :read, :value nil}", "{:type :ok, :process 99, :f :read, :value [77]}"]
    path = write(tmp_path, "hard.edn", "\n".join(lines) + "\n")
    out = run("analyze", str(path), "--model", "set", "--time-limit", "0.3", "--json")
    assert out.exit_code == 2, out.output
    data = json.loads(out.output)
    assert data["valid"] == "unknown" and data["cause"] == "time"


BAD_INPUTS = {
    "truncated.edn": ("{:type :invoke, :process 0, :f :read, :value nil}\n"
                      "{:type :ok, :process 0, :f :read,\n :value [1 2\n", "line 2"),
    "garbage.log": ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                    "INFO  jepsen.util - 0\t:ok\t:read\t[1 2\n"
                    "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n", "line 2"),
    "unknown-type.edn": ("{:type :invoke, :process 0, :f :read, :value nil}\n"
                         "{:type :okay, :process 0, :f :read, :value 1}\n", "line 2"),
    "cas-not-pair.edn": ("{:type :invoke, :process 0, :f :write, :value 1}\n"
                         "{:type :ok, :process 0, :f :write, :value 1}\n"
                         "{:type :invoke, :process 0, :f :cas, :value 3}\n"
                         "{:type :ok, :process 0, :f :cas, :value 3}\n", "line 4"),
    "double-invoke.edn": ("{:type :invoke, :process 0, :f :read, :value nil}\n"
                          "{:type :invoke, :process 0, :f :read, :value nil}\n", "line 2"),
    "orphan-completion.edn": ("{:type :ok, :process 3, :f :read, :value 1}\n", "line 1"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_254_naming_file_and_line(tmp_path: Path, name: str) -> None:
    text, line = BAD_INPUTS[name]
    path = write(tmp_path, name, text)
    out = run("analyze", str(path), "--model", "cas-register", "--init", "0")
    assert out.exit_code == 254, out.output
    assert name in out.output and line in out.output
    assert "Traceback" not in out.output


def test_bad_arguments_exit_254() -> None:
    assert run("analyze", str(EXAMPLE), "--model", "no-such-model").exit_code == 254
    assert run("analyze", str(EXAMPLE), "--init", "{:x").exit_code == 254
    assert run("analyze", str(EXAMPLE), "--bogus").exit_code == 254
    assert run("analyze", "/no/such/file.edn").exit_code == 254


def test_internal_error_exits_255_without_traceback(monkeypatch) -> None:
    import histcheck

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(histcheck, "check", broken)
    out = CliRunner().invoke(main, ["analyze", str(EXAMPLE)])
    assert out.exit_code == 255
    assert "internal error" in out.output and "Traceback" not in out.output


def test_models_lists_every_model_with_operations() -> None:
    out = run("models")
    assert out.exit_code == 0
    for name in ("register", "cas-register", "multi-register", "mutex", "set", "fifo-queue", "unordered-queue",
                 "kv"):
        assert name in out.output
    assert ":cas" in out.output and ":append" in out.output


def test_installed_console_script_runs_as_a_process() -> None:
    exe = Path(sys.executable).parent / "histcheck"
    if not exe.exists():
        pytest.skip("the histcheck console script is not installed in this environment")
    proc = subprocess.run([str(exe), "analyze", str(EXAMPLE), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["valid"] is False
    bad = subprocess.run([str(exe), "analyze", str(EXAMPLE), "--format", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 254 and "Traceback" not in bad.stderr
