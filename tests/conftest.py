"""Shared test helpers: where the corpus lives, and its manifest."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_rows() -> list[dict]:
    """Rows of ../shared/corpus/MANIFEST.tsv (empty when the corpus is absent)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"the shared corpus is absent ({CORPUS}); it lives beside the repository in shared/")
    return CORPUS
