"""``histcheck run``: the click command that runs a test against a real cluster and prints the verdict.

It shows a live progress line (operations, ok/fail/info, current faults) while the test runs, then the verdict
and the directory of the stored test.  Exit codes are analyze's: 0 valid, 1 invalid, 2 unknown, 254 bad
arguments (or a missing database binary), 255 an internal error.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import click

from .. import registry
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, InputError


class Progress:
    """The live line: rich's Live on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console
        self.console = Console(stderr=True)
        self.quiet = quiet
        self.live = None
        self._last_plain = 0.0

    def __enter__(self) -> "Progress":
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live
            self.live = Live("", console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, stats: dict) -> None:
        from rich.text import Text
        text = line(stats)
        if self.live is not None:
            self.live.update(Text(text))
        elif not self.quiet and time.monotonic() - self._last_plain >= 5:
            self._last_plain = time.monotonic()
            self.console.print(Text(text), highlight=False)


def line(stats: dict) -> str:
    faults = stats.get("faults") or "none"
    rate = f", {stats['ops_per_s']} ops/s" if stats.get("ops_per_s") else ""
    return (f"[{stats['phase']}] {stats['elapsed']:.1f}s  {stats['ops']} ops: {stats['ok']} ok, "
            f"{stats['fail']} fail, {stats['info']} info{rate}  faults: {faults}")


class RunCommand(click.Command):
    """A click command whose usage errors exit with 254, as every bad argument to histcheck does."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise


class DBChoice(click.ParamType):
    """A ``dbs`` entry of the registry, or a system file (an existing file, or a name ending in ``.toml``)."""

    name = "db"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(registry.names("dbs")) + "|FILE.toml]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from .db import is_system_file
        if value in registry.names("dbs") or is_system_file(value):
            return value
        self.fail(f"{value!r} is neither a DB ({', '.join(registry.names('dbs'))}) nor a system file "
                  "(.toml)", param, ctx)


def _nemesis_help() -> str:
    return ("Faults: " + ", ".join(registry.names("nemeses")) + ", each NAME[:ARG...][@SCHEDULE], several joined "
            "by commas (docs/nemesis.md).")


@click.command("run", cls=RunCommand)
@click.option("--db", type=DBChoice(), default="etcd", show_default=True,
              help="The database under test: " + ", ".join(registry.names("dbs")) + ", or a system file "
                   "(docs/extending.md).")
@click.option("--nodes", type=click.IntRange(1, 7), default=3, show_default=True, help="Cluster size (3 or 5).")
@click.option("--workload", type=click.Choice(registry.names("workloads")), default=None,
              help="What the clients do (default: the DB's own, e.g. register on etcd; set on redis, where "
                   "acknowledged writes that a failover loses show up directly as missing elements).")
@click.option("--nemesis", default="none", show_default=True, help=_nemesis_help())
@click.option("--time-limit", type=click.FloatRange(0.1, 86400), default=30.0, show_default=True,
              help="Seconds of the main phase.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=5, show_default=True,
              help="Client workers (processes).")
@click.option("--rate", type=click.FloatRange(0), default=50.0, show_default=True,
              help="Total operations per second (0: unlimited).")
@click.option("--read-mode", type=click.Choice(["linearizable", "serializable"]), default="linearizable",
              show_default=True)
@click.option("--seed", type=int, default=None, help="Seed for the generator (random when absent).")
@click.option("--store", "store_dir", default="store", show_default=True, type=click.Path(file_okay=False),
              help="Where runs are stored.")
@click.option("--network", type=click.Choice(["auto", "netns", "proxy"]), default="auto", show_default=True,
              help="Per-node network namespaces (root) or loopback proxies.")
@click.option("--op-timeout", type=click.FloatRange(0.1, 600), default=5.0, show_default=True,
              help="Seconds before a client call is given up (:info for writes).")
@click.option("--recover", type=click.FloatRange(0, 600), default=1.0, show_default=True,
              help="Seconds to wait after healing before the final reads.")
@click.option("--mix", default=None, help="Operation mix for register workloads, e.g. read=2,write=1,cas=1.")
@click.option("--name", "test_name", default=None, help="Test name (default DB-WORKLOAD-NEMESIS).")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write analyze's report (explanation, timeline, figures) into the store.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.option("--scenario", default=None,
              help="A named fault scenario with its expected outcome, checked after the run (docs/nemesis.md).")
@click.option("--nemesis-schedule", default=None,
              help="When faults strike: every:CALM:HOLD, random:A-B:C-D or seq:A-B,C-D (seconds; default every:2:3).")
@click.option("--ssh", default=None, metavar="USER@HOST,...",
              help="One node per remote host over OpenSSH (the user's agent and known_hosts); docs/distributed.md.")
@click.option("--nodes-file", type=click.Path(dir_okay=False), default=None,
              help="The remote hosts as a TOML file (addresses, users, keys, pinned host keys); docs/distributed.md.")
@click.option("--known-hosts", type=click.Path(dir_okay=False), default=None,
              help="With --ssh: check host keys against this file instead of ~/.ssh/known_hosts.")
def run(**kwargs: Any) -> None:
    """Run a Jepsen-style test against a real cluster, record the history, and check it."""
    quiet = kwargs.pop("quiet")
    sys.exit(_run(kwargs, quiet))


def _run(kwargs: dict, quiet: bool) -> int:
    from ..nemesis.scenarios import prepare_run
    from .db import lookup
    from .runner import RunOptions, Runner
    scenario, schedule = kwargs.pop("scenario"), kwargs.pop("nemesis_schedule")
    out = click.get_text_stream("stdout")
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    try:
        if kwargs["workload"] is None:
            kwargs["workload"] = lookup(kwargs["db"]).default_workload
        mix = parse_mix(kwargs.pop("mix"), kwargs["workload"])
        options = RunOptions(store=kwargs.pop("store_dir"), workload_options={"mix": mix} if mix else {}, **kwargs)
        hooks = prepare_run(options, scenario, schedule, echo=echo)
        with Progress(quiet) as progress:
            runner = Runner(options, on_progress=progress.update, nemesis=hooks.nemesis)
            hooks.announce(echo)
            outcome = runner.run()
    except InputError as exc:
        click.echo(f"histcheck run: {exc}", err=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        click.echo("histcheck run: aborted; the cluster was torn down", err=True)
        return EXIT_INTERNAL
    except Exception as exc:
        if os.environ.get("HISTCHECK_DEBUG"):
            traceback.print_exc(file=sys.stderr)
        click.echo(f"histcheck run: internal error: {type(exc).__name__}: {exc} "
                   f"(set HISTCHECK_DEBUG=1 for a traceback)", err=True)
        return EXIT_INTERNAL
    _report(outcome, out)
    expectation = hooks.finish(outcome, lambda text: click.echo(text, file=out))
    return outcome.exit_code if expectation is None else expectation


def parse_mix(text: str | None, workload: str) -> dict[str, float] | None:
    """``read=2,write=1,cas=1`` as weights (workloads that take a mix: register and multi-register)."""
    if not text:
        return None
    if not getattr(registry.get("workloads", workload), "takes_mix", False):
        takers = [n for n in registry.names("workloads") if getattr(registry.get("workloads", n), "takes_mix", False)]
        raise InputError(f"--mix applies to {' and '.join(takers)}, not {workload}")
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise InputError(f"--mix part {part!r} is not NAME=WEIGHT", expected="e.g. read=2,write=1,cas=1")
    if not set(weights) <= {"read", "write", "cas"} or sum(weights.values()) <= 0 or min(weights.values()) < 0:
        raise InputError(f"--mix {text!r} is not a mix of read, write and cas with positive total",
                         expected="e.g. read=2,write=1,cas=1")
    return weights


def _report(outcome: Any, out: Any) -> None:
    stats = outcome.stats
    click.echo(f"{stats['ops']} operations: {stats['ok']} ok, {stats['fail']} fail, {stats['info']} info "
               f"in {stats['elapsed']:.1f}s", file=out)
    for error in outcome.errors:
        click.echo(f"warning: {error}", err=True)
    exits = outcome.stats.get("node_exits")
    if exits:
        click.echo(f"{exits} node exit(s) nobody asked for (recorded as :node-exited in the history)", file=out)
    if outcome.result is None:
        click.echo("unknown: the run stopped before recording any operation", file=out)
    else:
        click.echo(outcome.result.summary(), file=out)
        for note in outcome.result.notes[:5]:
            click.echo(f"  {note}", file=out)
    click.echo(f"stored in {outcome.path}", file=out)
