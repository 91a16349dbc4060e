"""``histcheck list`` and the run command's choices come from the registry: every built-in and every installed
plugin, with its origin and, for DBs, its capabilities; a plugin DB installed through the ``histcheck.dbs`` entry
point is listed and runs under ``histcheck run --db``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from histcheck import registry

HISTCHECK = [sys.executable, "-c", "from histcheck.cli import main; main()"]


def _plugin(tmp_path: Path) -> dict:
    """A distribution on PYTHONPATH whose entry point adds a DB (an in-memory DB under another name)."""
    (tmp_path / "hc_plugin_db.py").write_text(
        "from histcheck.run.memory_db import MemoryDB\n\n"
        "class PluginDB(MemoryDB):\n    name = 'plugin-mem'\n")
    info = tmp_path / "hc_plugin_db-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hc-plugin-db\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[histcheck.dbs]\nplugin-mem = hc_plugin_db:PluginDB\n")
    return {**os.environ, "PYTHONPATH": f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}"}


def test_list_shows_every_kind_with_origins_and_db_capabilities() -> None:
    done = subprocess.run([*HISTCHECK, "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in registry.KINDS:
        assert f"\n{kind}\n" in f"\n{out}"
        for name in registry.names(kind):
            assert f"  {name} " in out, (kind, name)
    memory = out[out.index("  memory "):].splitlines()[1]
    assert "capabilities: failpoints, leader, links, pause, processes" in memory, memory
    assert "from histcheck" in out


def test_run_choices_and_help_come_from_the_registry() -> None:
    done = subprocess.run([*HISTCHECK, "run", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(done.stdout.split())
    for kind in ("dbs", "workloads", "nemeses"):
        for name in registry.names(kind):
            assert name in text, (kind, name)


def test_a_plugin_db_is_listed_and_runs(tmp_path: Path) -> None:
    env = _plugin(tmp_path)
    listed = subprocess.run([*HISTCHECK, "list", "dbs"], capture_output=True, text=True, timeout=60, env=env)
    assert "plugin-mem" in listed.stdout and "from hc-plugin-db" in listed.stdout, listed.stdout
    store = tmp_path / "store"
    done = subprocess.run([*HISTCHECK, "run", "--db", "plugin-mem", "--time-limit", "1", "--no-report", "--quiet",
                           "--store", str(store), "--recover", "0"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    test = json.loads((store / "latest" / "test.json").read_text())
    assert test["db"]["db"] == "plugin-mem" and test["options"]["workload"] == "register"


def test_the_docs_tables_match_the_registry() -> None:
    """docs/nemesis.md lists every registered nemesis with what it needs; docs/running.md every built-in DB with
    the capabilities its class declares (so the tables cannot drift from the code)."""
    import re
    import tempfile

    from histcheck.nemesis import build
    from histcheck.run.net import Network
    docs = Path(__file__).resolve().parents[1] / "docs"
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in (docs / "nemesis.md").read_text().splitlines()
             if line.startswith("| `")]
    nemesis_rows = {row[0].strip().strip("`"): row[2] for row in cells if len(row) == 5}
    for name in registry.names("nemeses"):
        if name == "none":
            continue
        assert name in nemesis_rows, f"docs/nemesis.md has no row for {name}"
        cls = registry.get("nemeses", name)
        for capability in cls.requires:
            assert f"`{capability}`" in nemesis_rows[name], (name, capability, nemesis_rows[name])
    assert build("failpoint:x=return").requires == {"failpoints"}
    db_rows = dict(re.findall(r"^\| `([\w-]+)` \| ([a-z, -]+) \|$", (docs / "running.md").read_text(), re.M))
    scratch = tempfile.gettempdir()
    for name in registry.BUILTINS["dbs"]:
        db = registry.get("dbs", name)(["n1", "n2", "n3"], Network(), scratch, scratch)
        assert db_rows.get(name) == ", ".join(sorted(db.capabilities())), (name, db_rows.get(name))
