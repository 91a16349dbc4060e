"""The ``histcheck`` command: click commands, nothing else.

Exit codes follow Jepsen: 0 valid, 1 invalid, 2 unknown; 254 for bad input or arguments (with a message naming
the file, the line and what was expected) and 255 for an internal error.  No traceback reaches the user unless
``HISTCHECK_DEBUG=1`` is set.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from .errors import (EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError,
                     ReadingTimedOut, check_time_limit)
from .registry import BUILTINS

FORMAT_CHOICES = ["auto", "edn", "json", "jsonl", "jepsen-log", "jepsen-txt", "porcupine-kv"]


class HistcheckGroup(click.Group):
    """A click group whose errors become histcheck's exit codes instead of click's (2 for usage errors)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra: Any):
        try:
            _answer_interrupts()
            code = self._run(args, prog_name, complete_var, extra)
        except KeyboardInterrupt:      # arrived while an error was being reported
            code = _interrupted(args)
        sys.exit(code)

    def _run(self, args, prog_name, complete_var, extra: dict) -> int:
        """The command's exit code, every way it can end."""
        try:
            code = super().main(args=args, prog_name=prog_name or "histcheck", complete_var=complete_var,
                                standalone_mode=False, **extra)
        except click.exceptions.Abort:
            return _interrupted(args)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.ClickException as exc:
            exc.show()
            return EXIT_BAD_INPUT
        except InputError as exc:
            click.echo(f"histcheck: {exc}", err=True)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:   # an interrupted command decided nothing: unknown, like an interrupted check
            return _interrupted(args)
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback, exit 255
            if os.environ.get("HISTCHECK_DEBUG"):
                raise
            click.echo(f"histcheck: internal error: {type(exc).__name__}: {exc} "
                       f"(set HISTCHECK_DEBUG=1 for a traceback, and please report it)", err=True)
            return EXIT_INTERNAL
        return code if isinstance(code, int) else 0


def _interrupted(args) -> int:
    """Ctrl-C outside a check (imports, option parsing, reports): unknown, cause interrupted -- as data too when
    the command was asked for JSON."""
    if "--json" in (sys.argv[1:] if args is None else list(args)):
        click.echo(json.dumps({"valid": "unknown", "cause": "interrupted"}))
    click.echo("histcheck: unknown (interrupted)", err=True)
    return EXIT_UNKNOWN


def _answer_interrupts() -> None:
    """From here on Ctrl-C is a ``KeyboardInterrupt`` that the command answers (the entry point's early
    handler, which exits at once, is for the imports before this); an ignored SIGINT stays ignored."""
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)


@click.group(cls=HistcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="histcheck")
def main() -> None:
    """Find consistency bugs: run Jepsen-style tests and check histories for linearizability."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=Path))
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
@click.option("--time-limit", type=click.FloatRange(min=0), default=None,
              help="Give up (unknown) after SECONDS, reading included.")
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
    """Check the histories in PATHS (history files, gzip or not, - for standard input, or directories of them):
    for linearizability, or with the checkers named by --checker (inferred from the operations when neither
    --checker nor --model is given).

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
    if len(paths) == 1 and (str(paths[0]) == "-" or not paths[0].is_dir()):
        return _analyze_file(paths[0], **options)
    return _analyze_many(paths, options)


def _analyze_file(path: Path, checker_names: tuple[str, ...], checker_options: tuple[str, ...],
                  model_name: str | None, init_text: str | None, fmt: str, time_limit: float | None,
                  memory_limit: int, nil_read: str, partition: bool, engine: str, as_json: bool,
                  out_dir: Path | None, emit: Callable[..., None] | None = None, spread: Any = None) -> int:
    """Check the history in PATH; ``emit`` prints what was found (default: the summary, or one JSON object)."""
    started = time.monotonic()
    time_limit = check_time_limit(time_limit, "--time-limit")
    deadline = None if time_limit is None else started + time_limit
    parsed_init: Any = None if init_text is None else _parse_init(init_text)   # option errors before any reading
    if model_name is not None:
        _check_model(model_name)
    if out_dir is not None:
        _make_out_dir(out_dir)
    try:
        with _alarm(deadline, _shown_path(path)):
            history = _read_history(path, fmt, deadline)
    except ReadingTimedOut as exc:
        where = f", at line {exc.line}" if exc.line is not None else ""
        return _unread(exc.path or path, "time", model_name, as_json,
                       f"the time limit ran out while reading{where}")
    except KeyboardInterrupt:
        return _unread(_shown_path(path), "interrupted", model_name, as_json, "interrupted while reading")
    reading_notes = list(history.meta.get("notes", []))
    fs = history.fs()
    if checker_names or checker_options or model_name is None:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        search = {"model": model_name, "init": init_text, "time-limit": remaining, "memory-limit": memory_limit,
                  "nil-read": nil_read, "partition": partition, "engine": engine}
        judged = _judge(history, fs, checker_names, checker_options, search, out_dir, reading_notes)
        if judged is not None:
            result, written = judged
            (emit or _emit_summary)(path, history, result, written, as_json)
            return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)
    from . import check
    from .checker import DEFAULT
    from .formats.ops import require_processes
    from .models import get as get_model, infer

    require_processes(history)
    inferred = False
    if model_name is None:
        model_name = infer(fs)
        if model_name is None:
            raise InputError(f"cannot infer a model from the operations {', '.join(history.fs()) or '(none)'}",
                             path=history.source, expected="--model NAME (see `histcheck models`)")
        inferred = True
    model = get_model(model_name)
    init = DEFAULT if init_text is None else parsed_init
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    result = check(history, model=model, init=init, time_limit=remaining, memory_limit=memory_limit << 20,
                   nil_read=nil_read, partition=partition, engine=engine, spread=spread)
    result.notes[:0] = history.meta.get("notes", [])
    if spread is not None:
        result.notes.append(spread.note)
    if inferred:
        result.notes.insert(0, f"model {model_name} inferred from the operations {', '.join(fs)}")
    from .run.store import killed_note
    killed = killed_note(str(path.parent)) if path.is_file() else None  # a killed run's store says so
    if killed:
        result.notes.insert(0, killed)
    if result.failure is not None:
        from .checkers.linearizable import linearizability_anomaly
        result.anomalies.append(linearizability_anomaly(result))
    written: list[Path] = []
    if out_dir is not None:
        written = _write_report(out_dir, history, result, model_name, None if init is DEFAULT else init,
                                nil_read, partition, deadline)
    (emit or _emit_summary)(path, history, result, written, as_json)
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)


def _emit_summary(path: Path, history, result, written: list[Path], as_json: bool) -> None:
    """One file's answer: its summary, or one JSON object; standard input is named as the reader names it."""
    path = history.source or path
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
           search: dict[str, Any], out_dir: Path | None,
           reading_notes: list[str]) -> tuple[Any, list[Path]] | None:
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
    result.notes[:0] = reading_notes
    if note:
        result.notes.insert(0, note)
    written: list[Path] = []
    if out_dir is not None:
        from .checkers.report import write
        written = write(out_dir, history, result)
    return result, written


def _print_checker_summary(path: Path, history, result, written: list[Path]) -> None:
    """The summary of a checker other than linearizability: its anomalies explained in sentences."""
    from .explain.summary import verdict_lines
    counts = history.summary()
    click.echo(f"{path}: {len(history)} events ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} "
               f"info), format {history.format}")
    for line in result.notes:
        click.echo(f"  note: {line}")
    for line in verdict_lines(result):
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


def _check_model(name: str) -> None:
    from .models import get as get_model
    try:
        get_model(name)
    except InputError as exc:
        raise InputError(f"--model: {exc.message}", expected=exc.expected) from None


def _read_history(path: Path, fmt: str, deadline: float | None):
    """The history in ``path``, with the reading notes, refused when it holds nothing to check: no client
    operation, or events whose :index and :time both contradict the file's order.  (Ops without a process are
    refused later, by the checks that need processes.)"""
    from .formats import check_order, load, require_operations
    history = load(path, format=fmt, deadline=deadline)
    notes = history.meta.setdefault("notes", [])
    notes.extend(require_operations(history))
    notes.extend(check_order(history))
    return history


@contextmanager
def _alarm(deadline: float | None, name: str) -> Iterator[None]:
    """Stop reading at the deadline even when the reader is blocked: a pipe that never ends or never speaks
    (the readers look at the clock themselves, but only between chunks).  SIGALRM interrupts a blocked read;
    the handler raises, and Python lets that propagate out of the system call."""
    in_main = threading.current_thread() is threading.main_thread()
    if deadline is None or not hasattr(signal, "setitimer") or not in_main:
        yield
        return

    def expired(signum, frame):
        raise ReadingTimedOut(name, None)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.0) + 0.25)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _shown_path(path: Path) -> str:
    from .formats.lines import display_name
    return display_name(path)


def _unread(path: Path | str, cause: str, model_name: str | None, as_json: bool, why: str) -> int:
    """The answer when reading stopped before the history was whole: unknown, never valid."""
    from .checker.result import Result
    result = Result(valid="unknown", model=model_name or "none", cause=cause,
                    notes=[f"{why}: the history was not read whole"])
    if as_json:
        data = result.to_dict()
        data["file"] = str(path)
        click.echo(json.dumps(data, default=str))
    else:
        hint = {"time": "raise --time-limit", "interrupted": "run it again without interrupting"}[cause]
        click.echo(f"{path}: {why}; the history was not read whole")
        click.echo(f"unknown ({cause}); {hint}")
    return EXIT_UNKNOWN


def _make_out_dir(out_dir: Path) -> None:
    """Create --out before the check, so that an impossible folder fails in a second, not after an hour."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out: cannot create the folder: {exc.strerror or exc}", path=str(out_dir),
                         expected="a folder that can be created and written") from None


def _write_report(out_dir: Path, history, result, model_name: str, init: Any, nil_read: str, partition: bool,
                  deadline: float | None) -> list[Path]:
    from .report import write_report
    minimize_time = 10.0 if deadline is None else max(0.0, min(10.0, deadline - time.monotonic()))
    try:
        return write_report(out_dir, history, result, model=model_name, init=init, nil_read=nil_read,
                            partition=partition, minimize_time=minimize_time)
    except OSError as exc:
        raise InputError(f"--out: cannot write the report: {exc.strerror or exc}",
                         path=exc.filename if isinstance(exc.filename, str) else str(out_dir),
                         expected="a writable folder") from None


def _parse_init(text: str) -> Any:
    """The --init value; its errors name the option, not "the file" (the parser's words for a history)."""
    from .formats.edn import parse_value
    try:
        return parse_value(text, path="--init")
    except InputError as exc:
        message = exc.message.replace("the file ends", "the value ends").replace("; is the file truncated?", "")
        raise InputError(f"--init: {text[:60]!r} is not an EDN literal: {message}",
                         expected="an EDN literal such as 0, nil, \"\" or {:x 0 :y 0}") from None


def _print_summary(path: Path | str, history, result, written: list[Path]) -> None:
    from .explain.summary import linearizability_lines
    counts = history.summary()
    click.echo(f"{path}: {len(history)} events ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} info"
               f"{', %d nemesis' % counts['nemesis'] if counts['nemesis'] else ''}), format {history.format}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    for line in linearizability_lines(result):
        click.echo(line)
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


@main.command("list")
@click.argument("kind", required=False, type=click.Choice(["dbs", "clients", "workloads", "nemeses", "models",
                                                           "checkers"]))
@click.option("--db", "db_file", default=None, type=click.Path(dir_okay=False),
              help="Show the DB a system file describes, with the capabilities the file gives it.")
def list_command(kind: str | None, db_file: str | None) -> int:
    """List what is installed: every DB, client, workload, nemesis, model and checker, with where it comes
    from (histcheck or a plugin's distribution) and, for DBs, their capabilities."""
    from . import registry
    if db_file is not None:
        from .run.described import db_class_for
        cls = db_class_for(db_file)
        click.echo(f"{db_file}: {getattr(cls, 'name', cls.__name__)}  capabilities: {_capabilities(cls)}")
        return EXIT_VALID
    for k in [kind] if kind else registry.KINDS:
        click.echo(k)
        for name, entry in registry.entries(k).items():
            click.echo(f"  {name:<16} from {entry.origin:<12} {entry.target}")
            if k == "dbs":
                try:
                    click.echo(f"  {'':<16} capabilities: {_capabilities(entry.load())}")
                except InputError as exc:
                    click.echo(f"  {'':<16} cannot be loaded: {exc}")
    for clash in registry.clashes():
        click.echo(f"ignored: {clash.kind[:-1]} {clash.name!r} from {clash.origin} (a built-in has that name)")
    return EXIT_VALID


def _capabilities(cls: Any) -> str:
    """The capabilities of a DB class, read from an instance that starts nothing (three nodes, no network)."""
    import tempfile
    from .run.net import Network
    scratch = tempfile.gettempdir()
    try:
        db = cls(["n1", "n2", "n3"], Network(), scratch, scratch)
    except InputError as exc:  # e.g. its program is not installed here
        return f"unknown here ({exc})"
    return ", ".join(sorted(db.capabilities())) or "none"


from histcheck.run.command import run as _run_command
main.add_command(_run_command)
