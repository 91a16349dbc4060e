"""The notebooks run top to bottom, as a reader would run them, on a clean checkout.

Each notebook asserts its own claims in its cells (the failing operation's index, the write it must follow, the
verdicts of every run), so executing it is a test of the explanation as well as of the notebook.  The corpus is
read from ``../shared/corpus`` (or ``$HISTCHECK_CORPUS``); without it the notebooks cannot run and are skipped.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CORPUS = Path(os.environ.get("HISTCHECK_CORPUS", ROOT.parent / "shared" / "corpus"))


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", ["explore-anomaly.ipynb", "compare-runs.ipynb"])
def test_notebook_runs_top_to_bottom(name, monkeypatch, tmp_path):
    monkeypatch.setenv("HISTCHECK_CORPUS", str(CORPUS.resolve()))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's scratch files land here, where the test can see them
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    assert list(tmp_path.glob("histcheck-figures-*")) == [], "the notebook left its scratch figures behind"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the figures should be shown inline"


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
