"""The report directory: every file a person (or a program) reads after a check.

``histcheck analyze PATH --out DIR`` and the runner both end here, as Jepsen's ``store/`` ends a test: the
verdict as data (``results.json``, ``results.edn``), the reasoning in sentences (``explanation.txt``), the minimal
counterexample as a history that can be checked again (``counterexample.edn``, and
``counterexample-with-sources.edn`` when keeping the writes of the values read tells more), the whole history as an
interactive page (``timeline.html``) and the figures (``anomaly.png``/``.svg``, ``cycle-<kind>.png`` for Elle's
cycle anomalies, ``latency-raw.png``, ``latency-quantiles.png``, ``rate.png``, ``availability.png``).  docs/results.md explains each file.  What each
fault did to availability (``availability.summary_lines``) ends explanation.txt and is in results.json.

The minimal counterexample is computed once here and shown first everywhere: at the top of the explanation,
outlined on the timeline and in the anomaly window, and under ``minimal_counterexample`` in results.json.  A
drawing that fails never hides the verdict: the error is written to ``report-errors.txt`` and the other files are
still produced.
"""
from __future__ import annotations

import json
import shlex
import traceback
from pathlib import Path
from typing import Any, Callable

from .explain import explain, minimize
from .history import History

REPORT_FILES = ("results.json", "results.edn", "explanation.txt", "counterexample.edn",
                "counterexample-with-sources.edn", "timeline.html",
                "anomaly.png", "anomaly.svg", "latency-raw.png", "latency-quantiles.png", "rate.png",
                "availability.png")


def write_report(out_dir: str | Path, history: History, result: Any, *, model: Any = None, init: Any = None,
                 minimize_time: float = 10.0, figures: bool = True, timeline: bool = True,
                 counterexample: Any = None, **check_options: Any) -> list[Path]:
    """Write the report files for ``result`` (the check of ``history``) into ``out_dir``; returns their paths.

    ``check_options`` are those the check ran with (``nil_read``, ``partition``...): the minimal counterexample's
    trials use the same.  ``minimize_time`` bounds the delta debugging (0 skips it).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = result.model if model is None else model
    init = result.init if init is None else init  # the value the check really started from, when it says
    errors: list[str] = []
    ce = counterexample
    if ce is None and minimize_time > 0 and result.valid is False:
        ce = _guard(errors, "minimal counterexample",
                    lambda: minimize(history, result, model=model, init=init, budget=minimize_time,
                                     **_trial_options(check_options, minimize_time)))
    used = checked_with(result, model, init, check_options)
    faults = _guard(errors, "availability", lambda: _availability(history))
    written = [_write_json(out, result, ce, used, faults),
               _write_text(out / "results.edn", result.to_edn() + "\n")]
    written.append(_write_text(out / "explanation.txt", explain(history, result, ce) + _faults_text(faults)))
    if ce is not None:
        written += _guard(errors, "counterexample.edn", lambda: _write_counterexample(out, ce, used)) or []
    if timeline:
        written += _guard(errors, "timeline.html", lambda: [_timeline(out, history, result, ce, model, init)]) or []
    if figures:
        written += _guard(errors, "figures", lambda: _figures(out, history, result, ce)) or []
    if errors:
        written.append(_write_text(out / "report-errors.txt", "\n\n".join(errors) + "\n"))
    return written


def _trial_options(options: dict, budget: float) -> dict:
    trial = dict(options)
    limit = trial.get("time_limit")
    trial["time_limit"] = budget if limit is None else min(limit, budget)
    return trial


def _guard(errors: list[str], what: str, thunk: Callable[[], Any]) -> Any:
    try:
        return thunk()
    except Exception as exc:  # report every other file even when one part fails
        errors.append(f"{what}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
        return None


def results_dict(result: Any, ce: Any, used: dict | None = None, faults: dict | None = None) -> dict:
    """The result's data with the minimal counterexample right after the verdict (shown first here too), then
    what it was checked with (``checked_with``) and, when the history had faults, ``availability``."""
    data = result.to_dict()
    first: dict[str, Any] = {"valid": data.pop("valid")}
    if ce is not None:
        first["minimal_counterexample"] = ce.to_dict()
    if used is not None:
        first["checked_with"] = used
    data = {**first, **data}
    if faults is not None:
        data["availability"] = faults
    return data


def checked_with(result: Any, model: Any, init: Any, options: dict) -> dict:
    """The checker, model, initial value and options that produced ``result``, and the command that checks the
    counterexample again with exactly those (run in the report's directory)."""
    from .values import show, to_plain
    name = getattr(result, "model", None) or getattr(model, "name", None) or str(model)
    nil_read = options.get("nil_read") or "auto"
    command = ["histcheck", "analyze", "counterexample.edn", "--model", str(name), "--init", show(init)]
    if nil_read != "auto":
        command += ["--nil-read", str(nil_read)]
    if options.get("partition") is False:
        command.append("--no-partition")
    return {"checker": result.checker,
            "analyzer": getattr(result, "analyzer", None), "model": str(name), "init": to_plain(init),
            "init_edn": show(init), "nil_read": nil_read, "partition": options.get("partition", True),
            "recheck": " ".join(shlex.quote(part) for part in command)}


def _availability(history: History) -> dict | None:
    from . import availability
    data = availability.section(history)
    if data is not None:
        data["summary"] = availability.summary_lines(history)
    return data


def _faults_text(faults: dict | None) -> str:
    if not faults:
        return ""
    lines = "\n".join(f"  {line}" for line in faults["summary"])
    return f"\nWhat the faults did (availability.png; per window in results.json's availability):\n{lines}\n"


def _write_json(out: Path, result: Any, ce: Any, used: dict | None = None, faults: dict | None = None) -> Path:
    data = results_dict(result, ce, used, faults)
    return _write_text(out / "results.json", json.dumps(data, indent=2, default=str) + "\n")


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _write_counterexample(out: Path, ce: Any, used: dict | None = None) -> list[Path]:
    """The minimal counterexample as a Jepsen history (one op map per line), original indexes kept, headed by
    what it was checked with and the command that checks it again; and, when there is one, the variant that keeps
    the writes of the values read (``counterexample-with-sources.edn``)."""
    from .explain.minimize import show_op
    from .values import show
    key = f" on key {show(ce.key)}" if ce.key is not None else ""
    header = (f";; minimal counterexample: {ce.calls} operation(s) of {ce.original_calls}{key}"
              + (", 1-minimal" if ce.minimal else f", not proven minimal ({ce.note})"))
    if used is not None:
        header += (f"\n;; checked with: {used['checker']} ({used['analyzer']}), model {used['model']}, "
                   f"initial value {used['init_edn']}, nil reads {used['nil_read']}"
                   f"\n;; re-check: {used['recheck']}")
    written = [_write_text(out / "counterexample.edn", header + "\n" + _vector(ce.lines()))]
    if ce.context:
        calls = sum(op.type == "invoke" for op in ce.context)
        note = (f";; the same failure{key}, keeping for every value read an operation that wrote it: "
                f"{calls} operation(s)")
        written.append(_write_text(out / "counterexample-with-sources.edn",
                                   note + "\n" + _vector([show_op(op) for op in ce.context])))
    return written


def _vector(lines: list[str]) -> str:
    return "[" + "\n ".join(lines) + "]\n"


def _timeline(out: Path, history: History, result: Any, ce: Any, model: Any, init: Any) -> Path:
    from .render.timeline import write_timeline
    return write_timeline(out / "timeline.html", history, result, ce, model=model, init=init)


def _figures(out: Path, history: History, result: Any, ce: Any) -> list[Path]:
    from .render.figures import draw_all
    return draw_all(history, result, ce, out)
