"""A run killed with SIGKILL cannot say so itself: the next run and ``analyze`` of its store notice its recorded
pid is gone, say it was killed, and mark its test.json."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from histcheck.run.store import Store, killed_note

CHILD = textwrap.dedent("""
    import os, sys, time
    from histcheck.run.store import Journal, Store
    store = Store(sys.argv[1], "register-etcd")
    store.write_json("test.json", {"name": "register-etcd", "status": "running", "pid": os.getpid()})
    journal = Journal(store)
    journal.record("invoke", 0, "write", 1)
    journal.record("ok", 0, "write", 1)
    journal.record("invoke", 1, "read", None)
    journal.record("ok", 1, "read", 1)
    print(store.path, flush=True)
    time.sleep(60)
""")


def cli_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def killed_run(root: Path) -> Path:
    """A real process that starts a run in the store at ``root``, records four ops and is killed with SIGKILL."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        path = Path(child.stdout.readline().strip())
        assert path.is_dir()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert json.loads((path / "test.json").read_text())["status"] == "running"
    return path


def test_analyze_of_a_killed_runs_store_says_it_was_killed(tmp_path):
    path = killed_run(tmp_path / "store")
    latest = tmp_path / "store" / "latest" / "history.edn"
    assert latest.resolve() == (path / "history.edn").resolve()
    out = subprocess.run(["histcheck", "analyze", str(latest)], capture_output=True, text=True, env=cli_env())
    assert out.returncode == 0, out.stdout + out.stderr
    assert "was killed" in out.stdout and str(path) in out.stdout
    info = json.loads((path / "test.json").read_text())
    assert info["status"] == "killed" and "killed_noticed" in info


def test_the_next_run_says_the_previous_one_was_killed(tmp_path):
    path = killed_run(tmp_path / "store")
    nxt = Store(str(tmp_path / "store"), "register-etcd", stamp=time.strftime("%Y%m%dT%H%M%S.999Z"))
    assert len(nxt.notes) == 1 and "was killed" in nxt.notes[0] and str(path) in nxt.notes[0]
    assert json.loads((path / "test.json").read_text())["status"] == "killed"
    assert (tmp_path / "store" / "latest").resolve() == Path(nxt.path).resolve()  # latest now points at the new one


def test_a_live_or_finished_run_is_not_called_killed(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    (live / "test.json").write_text(json.dumps({"status": "running", "pid": os.getpid()}))
    assert killed_note(str(live)) is None
    (live / "test.json").write_text(json.dumps({"status": "done", "pid": 2 ** 22 + 12345}))
    assert killed_note(str(live)) is None
    assert killed_note(str(tmp_path / "nowhere")) is None
