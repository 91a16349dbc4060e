"""One house for the run side: the top-level ``nemesis/`` and ``workloads/`` folders install as
``histcheck.nemesis`` and ``histcheck.workloads`` (nothing named ``nemesis`` or ``workloads`` lands in
site-packages), pyproject lists every package, and the run side's imports go one way (no cycle)."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_and_maps_the_two_folders() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "histcheck").rglob("__init__.py")}
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    assert config["package-dir"] == {"histcheck.nemesis": "nemesis", "histcheck.workloads": "workloads"}
    assert not any(p.split(".")[0] in ("nemesis", "workloads") for p in listed)


def test_installed_names_outside_the_repository() -> None:
    """From another directory (no repository on sys.path) the two folders import only inside histcheck."""
    code = ("import importlib.util, histcheck.nemesis, histcheck.workloads, histcheck.nemesis.partition; "
            "print(histcheck.nemesis.__file__); print(histcheck.workloads.__file__); "
            "print(importlib.util.find_spec('nemesis'), importlib.util.find_spec('workloads'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert done.returncode == 0, done.stderr
    nemesis_file, workloads_file, top_level = done.stdout.splitlines()
    assert nemesis_file == str(REPO / "nemesis" / "__init__.py") or "site-packages/histcheck/nemesis" in nemesis_file
    assert workloads_file.endswith("__init__.py") and "workloads" in workloads_file
    assert top_level == "None None"


def test_the_run_base_imports_no_nemesis_or_workload() -> None:
    """procs, net, db, clients, the DBs, store, generator and the nemesis player stand alone; the nemesis
    package imports them, never the reverse, so there is no cycle."""
    base = ["procs", "net", "db", "clients", "etcd", "redis_db", "memory_db", "store", "generator", "nemesis"]
    code = (f"import sys; [__import__('histcheck.run.' + m) for m in {base!r}]; "
            "print(sorted(m for m in sys.modules if m.startswith(('histcheck.nemesis', 'histcheck.workloads'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
