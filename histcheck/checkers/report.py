"""The report directory for any checker's result: what ``analyze --out`` and a run's store hold.

Linearizability results get the whole report of ``histcheck.report`` (minimal counterexample, explanation of the
failing operation, timeline, figures).  Other checkers' results get the same files without the counterexample
search, which is a linearizability tool, and with ``explanation.txt`` told by anomaly kind
(``histcheck.explain.anomalies``).  results.json also carries Jepsen's ``valid?`` beside ``valid``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..history import History


def write(out_dir: str | Path, history: History, result: Any, **options: Any) -> list[Path]:
    """Write the report of ``result`` into ``out_dir``; ``options`` go to ``histcheck.report.write_report``."""
    from ..report import write_report
    out = Path(out_dir)
    if result.checker == "linearizable":
        written = write_report(out, history, result, **options)
    else:
        options.setdefault("minimize_time", 0)
        written = write_report(out, history, result, **options)
        (out / "explanation.txt").write_text(explanation(result), encoding="utf-8")
    _add_jepsen_validity(out / "results.json")
    return written


def explanation(result: Any) -> str:
    from ..explain.anomalies import explain_result
    lines = explain_result(result)
    if result.notes:
        lines += ["", "Notes"] + [f"  {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _add_jepsen_validity(path: Path) -> None:
    """``valid?`` right after ``valid``, as Jepsen names it, for tools written for Jepsen's results."""
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value
        if key == "valid":
            out["valid?"] = value
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
