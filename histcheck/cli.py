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
from typing import Any, Iterator

import click

from .errors import (EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError,
                     ReadingTimedOut, check_time_limit)

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
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
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
@click.option("--engine", type=click.Choice(["kernel", "reference"]), default="kernel", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write results.json, results.edn, explanation.txt, timeline.html and figures here.")
def analyze(path: Path, model_name: str | None, init_text: str | None, fmt: str, time_limit: float | None,
            memory_limit: int, nil_read: str, partition: bool, engine: str, as_json: bool,
            out_dir: Path | None) -> int:
    """Check the history in PATH (a file, gzip or not, or - for standard input) for linearizability."""
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
    from . import check
    from .checker import DEFAULT
    from .models import get as get_model, infer

    inferred = False
    if model_name is None:
        model_name = infer(history.fs())
        if model_name is None:
            raise InputError(f"cannot infer a model from the operations {', '.join(history.fs()) or '(none)'}",
                             path=history.source, expected="--model NAME (see `histcheck models`)")
        inferred = True
    model = get_model(model_name)
    init = DEFAULT if init_text is None else parsed_init
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    result = check(history, model=model, init=init, time_limit=remaining, memory_limit=memory_limit << 20,
                   nil_read=nil_read, partition=partition, engine=engine)
    result.notes[:0] = history.meta.get("notes", [])
    if inferred:
        result.notes.insert(0, f"model {model_name} inferred from the operations {', '.join(history.fs())}")
    written: list[Path] = []
    if out_dir is not None:
        written = _write_report(out_dir, history, result, model_name, None if init is DEFAULT else init,
                                nil_read, partition, deadline)
    if as_json:
        data = result.to_dict()
        data["file"] = history.source or str(path)
        data["format"] = history.format
        click.echo(json.dumps(data, default=str))
    else:
        _print_summary(history.source or path, history, result, written)
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)


def _check_model(name: str) -> None:
    from .models import get as get_model
    try:
        get_model(name)
    except InputError as exc:
        raise InputError(f"--model: {exc.message}", expected=exc.expected) from None


def _read_history(path: Path, fmt: str, deadline: float | None):
    """The history in ``path``, with the reading notes, refused when it holds nothing to check: no client
    operation, an op without a process, or events whose :index and :time both contradict the file's order."""
    from .formats import check_order, load, require_operations
    from .formats.ops import require_processes
    history = load(path, format=fmt, deadline=deadline)
    notes = history.meta.setdefault("notes", [])
    notes.extend(require_operations(history))
    require_processes(history)
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
