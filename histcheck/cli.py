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
from typing import Any

import click

from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError

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
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
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
@click.option("--engine", type=click.Choice(["kernel", "reference"]), default="kernel", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write results.json, results.edn, explanation.txt, timeline.html and figures here.")
def analyze(path: Path, model_name: str | None, init_text: str | None, fmt: str, time_limit: float | None,
            memory_limit: int, nil_read: str, partition: bool, engine: str, as_json: bool,
            out_dir: Path | None) -> int:
    """Check the history in PATH for linearizability."""
    from . import check, load
    from .checker import DEFAULT
    from .models import get as get_model, infer

    if not path.exists():
        raise InputError("no such file", path=str(path), expected="a history file")
    history = load(path, format=fmt)
    inferred = False
    if model_name is None:
        model_name = infer(history.fs())
        if model_name is None:
            raise InputError(f"cannot infer a model from the operations {', '.join(history.fs()) or '(none)'}",
                             path=str(path), expected="--model NAME (see `histcheck models`)")
        inferred = True
    model = get_model(model_name)
    init: Any = DEFAULT if init_text is None else _parse_init(init_text)
    result = check(history, model=model, init=init, time_limit=time_limit, memory_limit=memory_limit << 20,
                   nil_read=nil_read, partition=partition, engine=engine)
    if inferred:
        result.notes.insert(0, f"model {model_name} inferred from the operations {', '.join(history.fs())}")
    written: list[Path] = []
    if out_dir is not None:
        from .report import write_report
        written = write_report(out_dir, history, result, model=model_name,
                               init=None if init is DEFAULT else init, nil_read=nil_read,
                               partition=partition)
    if as_json:
        data = result.to_dict()
        data["file"] = str(path)
        data["format"] = history.format
        click.echo(json.dumps(data, default=str))
    else:
        _print_summary(path, history, result, written)
    return {True: EXIT_VALID, False: EXIT_INVALID}.get(result.valid, EXIT_UNKNOWN)


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
