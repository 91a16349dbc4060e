"""What ``histcheck run`` prints: the verdict as ``analyze`` words it (the failing operation, or the named anomaly),
what the faults did, where the explanation and the timeline are; and a progress line that shows each fault start
and stop, counts the windows, stays whole when piped and does not alias with the default 5 s schedule.

The runs use the in-memory DB with a failpoint bug (seconds each, no process); one test runs the command of the
docs against a real 3-node etcd."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import histcheck
from histcheck.availability import summary_lines as availability_lines
from histcheck.explain.anomalies import explain_result
from histcheck.run.command import HEARTBEAT_S, FaultTracker, Progress, summary_lines
from histcheck.run.runner import RunOptions, Runner

HISTCHECK = [sys.executable, "-c", "from histcheck.cli import main; main()"]
STALE = ["--db", "memory", "--time-limit", "1.5", "--rate", "200", "--recover", "0", "--seed", "3",
         "--nemesis", "failpoint:stale-read=return", "--nemesis-schedule", "seq:0.3-1.4"]


def histcheck_cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*HISTCHECK, *args], capture_output=True, text=True, timeout=timeout)


def verdict_part(text: str) -> list[str]:
    """The lines from the verdict to the last path line, with the check's own time taken out."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("INVALID", "Valid", "VALID", "Unknown")))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return [re.sub(r" in \d+\.\d+ s$", "", line) for line in lines[start:end]]


def test_a_failing_run_prints_analyzes_summary_the_faults_and_the_report_paths(tmp_path: Path) -> None:
    done = histcheck_cli(["run", "--store", str(tmp_path), *STALE])
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    run_dir = (tmp_path / "latest").resolve()
    assert re.search(r"^  first operation that cannot be linearized: process \d+ ok read \S+ at index \d+$", out,
                     re.M), out
    assert re.search(r"^  last ok operation before it: process \d+ \w+ \S+ at index \d+$", out, re.M), out
    assert re.search(r"^  candidate state \S+; pending: read ", out, re.M), out
    # the same lines analyze prints for the stored history
    analyzed = histcheck_cli(["analyze", str(run_dir / "history.edn"), "--model", "cas-register"])
    assert analyzed.returncode == 1, analyzed.stdout + analyzed.stderr
    assert verdict_part(out) == verdict_part(analyzed.stdout), (out, analyzed.stdout)
    # what the faults did, computed from the stored history, one line per kind
    expected = availability_lines(histcheck.load(run_dir / "history.edn"))
    assert expected and expected[0].startswith("failpoint (1 window): ")
    for text in expected:
        assert f"\n  {text}\n" in out, (text, out)
    assert f"explanation: {run_dir / 'explanation.txt'}\n" in out
    assert f"timeline: {run_dir / 'timeline.html'}\n" in out
    assert (run_dir / "explanation.txt").is_file() and (run_dir / "timeline.html").is_file()
    assert out.rstrip().endswith(f"stored in {run_dir}")
    assert not done.stderr.count("Traceback")


def test_another_checker_s_anomaly_is_named_with_its_operations(tmp_path: Path) -> None:
    """A set run that loses acknowledged adds: the run prints explain_result's lines, as analyze does."""
    options = RunOptions(db="memory", workload="set", nemesis="failpoint:lost-write=return", time_limit=1.5,
                         rate=200, store=str(tmp_path), recover=0.1, seed=5, report=False,
                         nemesis_options={})
    from histcheck.nemesis import build
    nemesis = build("failpoint:lost-write=return@seq:0.3-1.4", {})
    outcome = Runner(options, nemesis=nemesis).run()
    assert outcome.result.valid is False, outcome.result.to_dict()
    printed = summary_lines(outcome)
    explained = explain_result(outcome.result)
    assert explained[0].startswith("INVALID: the set checker found ") and "lost" in explained[0]
    assert any(line.startswith("  ") and "lost" in line for line in explained[1:]), explained
    at = printed.index(explained[0])
    assert printed[at:at + len(explained)] == explained, printed
    analyzed = histcheck_cli(["analyze", str(Path(outcome.path) / "history.edn"), "--checker", "set"])
    assert analyzed.returncode == 1
    for line in explained:
        assert line in analyzed.stdout.splitlines(), (line, analyzed.stdout)
    assert not any(line.startswith(("explanation:", "timeline:")) for line in printed), "no report was written"


def test_a_valid_run_says_so_and_names_no_failing_operation(tmp_path: Path) -> None:
    done = histcheck_cli(["run", "--store", str(tmp_path), "--db", "memory", "--time-limit", "1", "--rate", "100",
                          "--recover", "0", "--nemesis", "partition", "--nemesis-schedule", "seq:0.2-0.6",
                          "--no-report"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^valid: \d+ operations checked against cas-register", done.stdout, re.M | re.I), done.stdout
    assert "cannot be linearized" not in done.stdout
    assert re.search(r"^  partition \(1 window\): ", done.stdout, re.M), done.stdout


def test_piped_progress_is_whole_lines_with_each_fault_start_and_stop(tmp_path: Path) -> None:
    done = histcheck_cli(["run", "--store", str(tmp_path), *STALE[:-2], "--nemesis-schedule", "seq:0.3-0.9",
                          "--no-report"])
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    progress = [line for line in lines if not line.startswith(("warning:", "histcheck run:"))]
    assert progress[0] == "[setup] starting the cluster and writing the workload's initial data", lines
    assert all(re.match(r"^\[(run|heal|recover|final|check)\] \d+\.\d+s  ", line) for line in progress[1:]), lines
    started = [line for line in progress if "failpoint started" in line]
    ended = [line for line in progress if "failpoint ended" in line]
    assert len(started) == 1 and started[0].endswith("failpoint started: stale-read=return on n1 n2 n3 (window 1)")
    assert len(ended) == 1 and ended[0].endswith("failpoint ended (window 1)")
    assert float(started[0].split()[1][:-1]) < float(ended[0].split()[1][:-1])
    assert progress[-1].endswith("faults: failpoint ×1 (now healed)"), progress
    assert progress[1].startswith("[run] ") and progress[1].endswith("faults: none yet"), progress


def samples(seconds: float, period: float = 5.0, calm: float = 2.0, step: float = 0.25):
    """The faults text a runner reports every quarter second under the default schedule (every:2:3)."""
    t = 0.0
    while t < seconds:
        phase_in = t % period
        yield t, "partition n1 | n2 n3" if phase_in >= calm else ""
        t += step


def stats_at(t: float, faults: str) -> dict:
    return {"phase": "run", "elapsed": t, "ops": int(t * 50), "ok": int(t * 40), "fail": int(t * 9),
            "info": int(t), "ops_per_s": 50.0, "faults": faults}


def test_piped_status_lines_are_slower_than_the_schedule_and_do_not_alias() -> None:
    clock = [0.0]
    stream = io.StringIO()
    with Progress(False, stream=stream, clock=lambda: clock[0]) as progress:
        for t, faults in samples(60):
            clock[0] = t
            progress.update(stats_at(t, faults))
    lines = stream.getvalue().splitlines()
    assert stream.getvalue().endswith("\n")
    status = [line for line in lines if " ops: " in line]
    assert len(status) == int(60 // HEARTBEAT_S) + 1, status   # the first, then one every HEARTBEAT_S
    assert HEARTBEAT_S >= 5 and HEARTBEAT_S % 5 != 0
    states = {re.search(r"\(now (.*)\)$", line).group(1) for line in status[1:]}
    assert {"healed", "n1 | n2 n3"} <= states, status      # a 5 s cadence would have shown one state only
    counts = [int(re.search(r"×(\d+)", line).group(1)) for line in status[1:]]
    assert counts == sorted(counts) and counts[-1] == 11, status  # at 56 s: the windows opened at 2, 7, ... 52 s
    assert len([line for line in lines if "partition started" in line]) == 12
    assert len([line for line in lines if "partition ended" in line]) == 11  # the twelfth is still in force


def test_the_tracker_announces_a_start_once_the_fault_is_applied() -> None:
    tracker = FaultTracker()
    events = []
    for t, active in [(1.0, ""), (2.0, "partition halves (0 links cut)"), (2.25, "partition n1 | n2 n3"),
                      (2.5, "partition n1 | n2 n3"), (5.0, ""), (6.0, "kill n2"), (6.25, ""),
                      (7.0, "partition n3 | n1 n2, kill n1"), (7.25, "partition n3 | n1 n2, kill n1")]:
        events += tracker.observe(active, t, "run")
    assert events == ["[run] 2.0s  partition started: n1 | n2 n3 (window 1)",
                      "[run] 5.0s  partition ended (window 1)",
                      "[run] 6.0s  kill started: n2 (window 1)",
                      "[run] 6.2s  kill ended (window 1)",
                      "[run] 7.0s  partition started: n3 | n1 n2 (window 2)",
                      "[run] 7.0s  kill started: n1 (window 2)"]
    assert tracker.field() == "partition ×2 (now n3 | n1 n2), kill ×2 (now n1)"
    tracker.observe("partition n3 | n1 n2", 8.0, "heal")
    assert tracker.field() == "partition ×2 (now n3 | n1 n2), kill ×2 (now healed)"
    assert FaultTracker().field() == "none yet"


def test_quiet_prints_no_progress() -> None:
    stream = io.StringIO()
    with Progress(True, stream=stream) as progress:
        progress.update(stats_at(3.0, "partition n1 | n2 n3"))
    assert stream.getvalue() == ""


@pytest.mark.cluster
@pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd-server is not installed (bash .ci/setup)")
def test_serializable_reads_under_partitions_print_the_failing_operation(tmp_path: Path) -> None:
    """The docs' command, as written (only the store moved): a stale read, named in the summary, exit 1."""
    started = time.monotonic()
    done = histcheck_cli(["run", "--read-mode", "serializable", "--nemesis", "partition", "--rate", "0",
                          "--time-limit", "10", "--store", str(tmp_path)], timeout=150)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^INVALID: \d+ operations checked against cas-register", done.stdout, re.M), done.stdout
    assert re.search(r"^  first operation that cannot be linearized: process \d+ ok read \S+ at index \d+$",
                     done.stdout, re.M), done.stdout
    assert re.search(r"^  partition \(2 windows\): ", done.stdout, re.M), done.stdout
    assert "explanation: " in done.stdout and "timeline: " in done.stdout
    print(f"etcd serializable run: {time.monotonic() - started:.1f} s")
