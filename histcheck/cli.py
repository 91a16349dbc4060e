"""The ``histcheck`` command: click commands, nothing else.

Exit codes follow Jepsen: 0 valid, 1 invalid, 2 unknown; 254 for bad input or arguments (with a message naming
the file, the line and what was expected) and 255 for an internal error.  No traceback reaches the user unless
``HISTCHECK_DEBUG=1`` is set.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError
from .registry import BUILTINS

FORMAT_CHOICES = ["auto", "edn", "json", "jsonl", "jepsen-log", "porcupine-kv"]


class HistcheckGroup(click.Group):
    """A click group whose errors become histcheck's exit codes instead of click's (2 for usage errors)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra: Any):
        try:
            code = super().main(args=args, prog_name=prog_name or "histcheck", complete_var=complete_var,
                                standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_BAD_INPUT)
        except InputError as exc:
            click.echo(f"histcheck: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, exit 255
            if os.environ.get("HISTCHECK_DEBUG"):
                raise
            click.echo(f"histcheck: internal error: {type(exc).__name__}: {exc} "
                       f"(set HISTCHECK_DEBUG=1 for a traceback, and please report it)", err=True)
            sys.exit(EXIT_INTERNAL)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=HistcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="histcheck")
def main() -> None:
    """Find consistency bugs: run Jepsen-style tests and check histories for linearizability."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--checker", "checker_names", multiple=True, metavar="NAME",
              help="Checker to judge with, repeatable (Jepsen's compose): "
                   + ", ".join(BUILTINS["checkers"])
                   + ", or a plugin's; inferred from the operations if omitted.")
@click.option("--checker-option", "checker_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the checker (group-size=3, negative-balances=allowed); NAME:KEY=VALUE gives it "
                   "to one of several checkers.")
@click.option("--model", "model_name", default=None,
              help="Model to check against (see `histcheck models`); inferred from the operations if omitted.")
@click.option("--init", "init_text", default=None, help="Initial value as an EDN literal: 0, nil, {:x 0 :y 0}.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True)
@click.option("--time-limit", type=click.FloatRange(min=0), default=None, help="Give up (unknown) after SECONDS.")
@click.option("--memory-limit", type=click.IntRange(min=16), default=2048, show_default=True,
              help="Memory cap in MiB for the search; past it the result is unknown (memory).")
@click.option("--nil-read", type=click.Choice(["auto", "absent", "unknown"]), default="auto", show_default=True,
              help="What a read of nil means: the key is absent (etcd, Porcupine) or the value is unknown "
                   "(Knossos); auto: absent when the initial value is nil.")
@click.option("--partition/--no-partition", default=True, show_default=True,
              help="Check independent keys separately (P-compositionality), or the whole history as one "
                   "object (kv: the compositional search; same verdict).")
@click.option("--engine", type=click.Choice(["auto", "kernel", "reference"]), default="auto", show_default=True,
              help="auto: the plain-Python reference for small keys (no numba to load), the numba kernel for the rest.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write results.json, results.edn, explanation.txt, timeline.html and figures here.")
@click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
              help="Search the keys as tasks on the Dask scheduler at ADDRESS (tcp://HOST:8786); see "
                   "docs/distributed.md.")
@click.option("--workers", "dask_workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Search the keys as tasks on a local Dask cluster of N worker processes.")
def analyze(paths: tuple[Path, ...], dask_address: str | None, dask_workers: int | None, **options: Any) -> int:
    """Check the histories in PATHS (history files, or directories of them): for linearizability, or with the
    checkers named by --checker (inferred from the operations when neither --checker nor --model is given).

    One file prints its summary.  Several files, or a directory (its .edn, .json, .jsonl, .ndjson, .log and .txt
    files, recursively), print one line per file and a total, and exit with the worst file's code: 255 > 254 > 2 >
    1 > 0 (exit 1 means every file was decided and some is invalid).  A file that cannot be read is reported on
    its line and the others are still checked.  Options apply to each file (--time-limit too).  --json prints
    one JSON object per file, one per line (JSON lines), and no total; --out DIR writes each file's report to
    DIR/NAME, NAME being the file's name without its suffix (then NAME-2, NAME-3... for repeated names).
    With --dask or --workers, the keys of every file are searched as Dask tasks (one progress bar on a terminal).
    """
    if dask_address is not None or dask_workers is not None:
        from .dask_backend import DaskSpread
        with DaskSpread(dask_address, dask_workers) as spread:
            return _analyze_paths(paths, {**options, "spread": spread})
    return _analyze_paths(paths, options)


def _analyze_paths(paths: tuple[Path, ...], options: dict[str, Any]) -> int:
    if len(paths) == 1 and not paths[0].is_dir():
        return _analyze_file(paths[0], **options)
    return _analyze_many(paths, options)


def _analyze_file(path: Path, checker_names: tuple[str, ...], checker_options: tuple[str, ...],
                  model_name: str | None, init_text: str | None, fmt: str, time_limit: float | None,
                  memory_limit: int, nil_read: str, partition: bool, engine: str, as_json: bool,
                  out_dir: Path | None, emit: Callable[..., None] | None = None, spread: Any = None) -> int:
    """Check the history in PATH; ``emit`` prints what was found (default: the summary, or one JSON object)."""
    from . import check, load
    from .checker import DEFAULT
    from .models import get as get_model, infer

    if not path.exists():
        raise InputError("no such file", path=str(path), expected="a history file")
    history = load(path, format=fmt)
    fs = history.fs()
    if checker_names or checker_options or model_name is None:
        search = {"model": model_name, "init": init_text, "time-limit": time_limit, "memory-limit": memory_limit,
                  "nil-read": nil_read, "partition": partition, "engine": engine}
        judged = _judge(history, fs, checker_names, checker_options, search, out_dir)
        if judged is not None:
            result, written = judged
            (emit or _emit_summary)(path, history, result, written, as_json)
            return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)
    inferred = False
    if model_name is None:
        model_name = infer(fs)
        if model_name is None:
            raise InputError(f"cannot infer a model from the operations {', '.join(history.fs()) or '(none)'}",
                             path=str(path), expected="--model NAME (see `histcheck models`)")
        inferred = True
    model = get_model(model_name)
    init: Any = DEFAULT if init_text is None else _parse_init(init_text)
    result = check(history, model=model, init=init, time_limit=time_limit, memory_limit=memory_limit << 20,
                   nil_read=nil_read, partition=partition, engine=engine, spread=spread)
    if spread is not None:
        result.notes.append(spread.note)
    if inferred:
        result.notes.insert(0, f"model {model_name} inferred from the operations {', '.join(fs)}")
    from .run.store import killed_note
    killed = killed_note(str(path.parent))  # a history from a store whose run was killed says so
    if killed:
        result.notes.insert(0, killed)
    if result.failure is not None:
        from .checkers.linearizable import linearizability_anomaly
        result.anomalies.append(linearizability_anomaly(result))
    written: list[Path] = []
    if out_dir is not None:
        from .report import write_report
        written = write_report(out_dir, history, result, model=model_name,
                               init=None if init is DEFAULT else init, nil_read=nil_read,
                               partition=partition)
    (emit or _emit_summary)(path, history, result, written, as_json)
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)


def _emit_summary(path: Path, history, result, written: list[Path], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_json_of(path, history, result), default=str))
    elif result.checker != "linearizable":
        _print_checker_summary(path, history, result, written)
    else:
        _print_summary(path, history, result, written)


def _json_of(path: Path, history, result) -> dict:
    data = result.to_dict()
    data = {"valid": data.pop("valid"), "valid?": result.valid, **data}
    data["file"] = str(path)
    data["format"] = history.format
    return data


def _analyze_many(paths: tuple[Path, ...], options: dict[str, Any]) -> int:
    """Check every history file in PATHS in this process: one line (or JSON object) per file, then a total."""
    from .batch import history_files, report_dirs, run_batch
    files = history_files(paths)
    out_dir = options.pop("out_dir")
    reports = dict(zip(files, report_dirs(files, out_dir))) if out_dir is not None else {}
    as_json = options["as_json"]
    interrupted = []
    spread = options.get("spread")
    lanes = spread.lanes() if spread is not None and out_dir is None else 1    # figures are drawn one at a time
    held: dict[Path, list[str]] = {}

    def emit(path: Path, history, result, written: list[Path], as_json: bool) -> None:
        if result.cause == "interrupted":
            interrupted.append(path)
        line = json.dumps(_json_of(path, history, result), default=str) if as_json else \
            _batch_line(path, result, reports.get(path))
        if lanes > 1:
            held.setdefault(path, []).append(line)        # printed in the order of the files (run_batch's flush)
        else:
            click.echo(line)

    def report_error(path: Path, code: int, message: str) -> None:
        kind = {EXIT_BAD_INPUT: "bad input", EXIT_UNKNOWN: "unknown"}.get(code, "internal error")
        if as_json:
            click.echo(json.dumps({"file": str(path), "valid": "unknown", "cause": message} if code == EXIT_UNKNOWN
                                  else {"file": str(path), "error": kind, "message": message}))
        else:
            click.echo(f"{path}: {kind}: {message}")

    tally = run_batch(files, lambda path: _analyze_file(path, **options, out_dir=reports.get(path), emit=emit),
                      report_error, stop=lambda: bool(interrupted), lanes=lanes,
                      flush=lambda path: [click.echo(line) for line in held.pop(path, [])],
                      interrupt=spread.interrupt if spread is not None else lambda: None)
    if not as_json:
        left = len(files) - sum(tally.counts.values())
        click.echo(tally.line() + (f"; interrupted, {left} file{'s' if left != 1 else ''} not checked"
                                   if tally.interrupted else ""))
    return tally.code


def _batch_line(path: Path, result, report: Path | None) -> str:
    """One file's line: verdict, model, operations, time, and where it fails or why it gave up."""
    from .values import show
    text = f"{path}: {result.summary()} in {result.seconds:.3f} s"
    f = result.failure
    if f is not None and f.op.get("index") is not None:
        key = f" key {show(f.key)}" if f.key is not None else ""
        text += f"; first failing op{key}: process {f.op.get('process')} {f.op.get('type')} {f.op.get('f')} " \
                f"{show(f.op.get('value'))} at index {f.op.get('index')}"
    elif result.anomalies:
        text += "; found " + ", ".join(result.anomaly_types)
    if report is not None:
        text += f"; report in {report}"
    return text


def _judge(history, fs: list[str], names: tuple[str, ...], option_texts: tuple[str, ...],
           search: dict[str, Any], out_dir: Path | None) -> tuple[Any, list[Path]] | None:
    """Judge with the checkers named (or the one the operations call for); None leaves the history to the
    linearizability path above (no checker named and none inferred, or only ``linearizable``).  ``search`` holds
    the linearizability options (``--model``, ``--init``, ``--time-limit``, ...) for a composed ``linearizable``."""
    model_name, init_text = search["model"], search["init"]
    from .checkers.base import check, get, infer, merged_result
    note = None
    if not names and model_name is None:
        guess = infer(history, fs)
        if guess is not None:
            names, note = (guess.checker,), guess.note()
    if not names or names == ("linearizable",):
        if option_texts:
            raise InputError("the linearizable checker takes --model, --init and the search options, not "
                             "--checker-option", expected="--model NAME")
        return None
    options = _checker_options(option_texts, names)
    if model_name is not None or init_text is not None:
        if "linearizable" not in options:
            raise InputError("--model and --init belong to the linearizable checker",
                             expected="--checker linearizable beside the others, or no --model")
    if "linearizable" in options:
        options["linearizable"].update({k: v for k, v in search.items() if v is not None})
    results = {name: check(history, get(name), **options[name]) for name in dict.fromkeys(names)}
    result = results[names[0]] if len(results) == 1 else merged_result(results, sum(r.seconds for r in
                                                                                   results.values()))
    if note:
        result.notes.insert(0, note)
    written: list[Path] = []
    if out_dir is not None:
        from .checkers.report import write
        written = write(out_dir, history, result)
    return result, written


def _print_checker_summary(path: Path, history, result, written: list[Path]) -> None:
    """The summary of a checker other than linearizability: its anomalies explained in sentences."""
    from .explain.anomalies import explain_result
    counts = history.summary()
    click.echo(f"{path}: {len(history)} events ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} "
               f"info), format {history.format}")
    for line in result.notes:
        click.echo(f"  note: {line}")
    for line in explain_result(result):
        click.echo(line)
    for p in written:
        click.echo(f"  wrote {p}")


def _checker_options(texts: tuple[str, ...], names: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``KEY=VALUE`` for every checker named, ``NAME:KEY=VALUE`` for one."""
    options: dict[str, dict[str, str]] = {name: {} for name in names}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise InputError(f"--checker-option {text!r} is not KEY=VALUE", expected="e.g. group-size=3")
        target, colon, key = key.rpartition(":") if ":" in key else ("", "", key)
        if colon and target not in options:
            raise InputError(f"--checker-option {text!r} names checker {target!r}, which is not checking",
                             expected="one of " + ", ".join(names))
        for name in ([target] if colon else names):
            options[name][key.strip()] = value.strip()
    return options


def _parse_init(text: str) -> Any:
    from .formats.edn import parse_value
    try:
        return parse_value(text, path="--init")
    except InputError as exc:
        raise InputError(f"--init {text!r} is not an EDN literal: {exc.message}",
                         expected="an EDN literal such as 0, nil, \"\" or {:x 0 :y 0}") from None


def _print_summary(path: Path, history, result, written: list[Path]) -> None:
    from .values import show
    counts = history.summary()
    click.echo(f"{path}: {len(history)} events ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} info"
               f"{', %d nemesis' % counts['nemesis'] if counts['nemesis'] else ''}), format {history.format}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    click.echo(result.summary() + f" in {result.seconds:.3f} s")
    f = result.failure
    if f is not None:
        op = f.op
        key = f" on key {show(f.key)}" if f.key is not None else ""
        if op.get("index") is None:
            click.echo("  first operation that cannot be linearized: not located (see the notes)")
        else:
            click.echo(f"  first operation that cannot be linearized{key}: process {op.get('process')} "
                       f"{op.get('type')} {op.get('f')} {show(op.get('value'))} at index {op.get('index')}")
        if f.previous_ok:
            p = f.previous_ok
            click.echo(f"  last ok operation before it: process {p['process']} {p['f']} {show(p['value'])} "
                       f"at index {p['index']}")
        for config in f.configs[:4]:
            pending = ", ".join(f"{c['op']} (p{c['process']})" for c in config.pending[:6])
            click.echo(f"  candidate state {config.state}; pending: {pending or 'none'}")
        for path_steps in f.final_paths[:4]:
            steps = " -> ".join(s.op.get("op", s.op.get("f")) + (f" => {s.state}" if s.state else "")
                                for s in path_steps[:-1])
            last = path_steps[-1]
            click.echo(f"  path: {steps + ' -> ' if steps else ''}{last.op.get('op')}: {last.reason}")
    if result.valid == "unknown":
        hint = {"time": "raise --time-limit", "memory": "raise --memory-limit",
                "interrupted": "run it again without interrupting"}.get(result.cause or "", "")
        click.echo(f"  gave up ({result.cause}); {hint}")
    for p in written:
        click.echo(f"  wrote {p}")


@main.command("models")
def models_command() -> int:
    """List the models and their operations."""
    from .models import MODELS
    for name, cls in MODELS.items():
        init = cls.default_init
        from .values import show
        click.echo(f"{name}  (initial value {show(init) if not isinstance(init, frozenset) else '#{}'})")
        for f, text in cls.operations.items():
            click.echo(f"    :{f:<8} {text}")
    return EXIT_VALID
from histcheck.run.command import run as _run_command
main.add_command(_run_command)
