"""``histcheck run``: the click command that runs a test against a real cluster and prints the verdict.

While the test runs, stderr shows its progress (``Progress``): each fault start and stop as it happens, and a
status line (phase, elapsed time, operations, ok/fail/info, throughput, the fault windows so far); live on a
terminal, whole lines every 7 s when piped.  At the end stdout gets the summary (``summary_lines``): the verdict
worded as ``histcheck analyze`` words it, what the faults did to availability, node exits nobody asked for, and
where the explanation, the timeline and the stored test are.  Exit codes are analyze's: 0 valid, 1 invalid,
2 unknown, 254 bad arguments (or a missing database binary), 255 an internal error.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any, Callable

import click

from .. import registry
from ..errors import EXIT_BAD_INPUT, EXIT_INTERNAL, InputError


HEARTBEAT_S = 7.0  # piped status lines: 7 s shares no period with the default every:2:3 schedule (5 s)


class Progress:
    """What the run shows on stderr while it lasts.

    On a terminal: one live line (rich's Live, four refreshes a second, never wrapped: cut with an ellipsis when
    wider than the terminal), and above it one line per fault start and stop as they happen.  Piped (stderr is
    not a terminal): plain complete lines only, written whole, never wrapped: one per phase, one per fault start
    and stop, and a status line every ``HEARTBEAT_S`` seconds.  ``--quiet`` shows nothing.
    """

    def __init__(self, quiet: bool, stream: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        self.console = Console(stderr=True) if stream is None else Console(file=stream)
        self.clock = clock
        self.quiet = quiet
        self.live = None
        self.faults = FaultTracker()
        self._phase = ""
        self._last_plain = -HEARTBEAT_S

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
        if self.quiet:
            return
        from rich.text import Text
        events = self.faults.observe(stats.get("faults") or "", stats["elapsed"], stats["phase"])
        for event in events:
            self._plain(event)
        text = line(stats, self.faults)
        if self.live is not None:
            self.live.update(Text(text, no_wrap=True, overflow="ellipsis"))
            return
        now = self.clock()
        if stats["phase"] != self._phase or now - self._last_plain >= HEARTBEAT_S:
            self._last_plain = now
            self._plain(text)
        self._phase = stats["phase"]

    def _plain(self, text: str) -> None:
        """One whole line, above the live line on a terminal; rich never wraps or styles it."""
        if self.live is not None:
            from rich.text import Text
            self.live.console.print(Text(text, no_wrap=True, overflow="ellipsis"), highlight=False)
        else:
            self.console.file.write(text + "\n")
            self.console.file.flush()


class FaultTracker:
    """Fault windows as the progress line sees them: which kinds are in force now, and how many windows each
    kind has opened so far.

    It reads the nemesis's ``active()`` text (``partition n1 | n2 n3``, several joined by ``, ``; the first word
    is the kind), sampled four times a second: a window opens when its kind appears and closes when it goes, so a
    window (or a calm) shorter than a quarter second may go unseen here.  The history records every window
    exactly, and the summary's availability lines are computed from it.  A start is announced once its detail
    has held for two samples: while a fault is being applied the nemesis describes its request (``halves (0
    links cut)``), and only then what it did (``n1 | n2 n3``).
    """

    def __init__(self) -> None:
        self.now: dict[str, str] = {}
        self.windows: dict[str, int] = {}
        self.starting: dict[str, tuple[float, str, str]] = {}  # kind -> (first seen, phase, detail then)

    def observe(self, active: str, elapsed: float, phase: str) -> list[str]:
        """Update from one sample; returns a line for each fault that started or stopped since the last."""
        current = {}
        for part in (p.strip() for p in active.split(", ")):
            if part:
                kind, _, detail = part.partition(" ")
                current[kind] = detail
        events = []
        for kind in [k for k in self.now if k not in current]:
            if kind in self.starting:
                events.append(self._started(kind))
            events.append(f"[{phase}] {elapsed:.1f}s  {kind} ended (window {self.windows[kind]})")
        for kind, detail in current.items():
            if kind not in self.now:
                self.windows[kind] = self.windows.get(kind, 0) + 1
                self.starting[kind] = (elapsed, phase, detail)
            elif kind in self.starting:
                seen, first_phase, before = self.starting[kind]
                if detail == before:
                    events.append(self._started(kind))
                else:
                    self.starting[kind] = (seen, first_phase, detail)
        self.now = current
        return events

    def _started(self, kind: str) -> str:
        seen, phase, detail = self.starting.pop(kind)
        return f"[{phase}] {seen:.1f}s  {kind} started: {detail or kind} (window {self.windows[kind]})"

    def field(self) -> str:
        """``partition ×3 (now n1 | n2 n3)``, ``partition ×3 (now healed)``, or ``none yet``."""
        if not self.windows:
            return "none yet"
        return ", ".join(f"{kind} ×{n} (now {self._state(kind)})" for kind, n in self.windows.items())

    def _state(self, kind: str) -> str:
        if kind not in self.now:
            return "healed"
        if kind in self.starting:
            return "starting"
        return self.now[kind] or "in force"


def line(stats: dict, faults: FaultTracker | None = None) -> str:
    """The status line: phase, elapsed time, operations so far, throughput and the fault windows so far."""
    if faults is None:
        faults = FaultTracker()
        faults.observe(stats.get("faults") or "", stats["elapsed"], stats["phase"])
    if stats["phase"] == "setup" and not stats["ops"]:
        return "[setup] starting the cluster and writing the workload's initial data"  # no clock runs yet
    rate = f", {stats['ops_per_s']} ops/s" if stats.get("ops_per_s") else ""
    return (f"[{stats['phase']}] {stats['elapsed']:.1f}s  {stats['ops']} ops: {stats['ok']} ok, "
            f"{stats['fail']} fail, {stats['info']} info{rate}  faults: {faults.field()}")


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
@click.option("--isolation", type=click.Choice(["read-committed", "repeatable-read", "serializable"]), default=None,
              help="Isolation level of every transaction, for DBs that have levels (postgres; default "
                   "serializable); refused for the others.")
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
    """The verdict as ``analyze`` prints it, what the faults did, and where to read more."""
    for error in outcome.errors:
        click.echo(f"warning: {error}", err=True)
    for text in summary_lines(outcome):
        click.echo(text, file=out)


def summary_lines(outcome: Any) -> list[str]:
    """What a run prints on stdout when it ends: the counts, the notes and the verdict exactly as ``histcheck
    analyze`` words them (``histcheck.explain.summary``), one availability line per fault kind, the node exits
    nobody asked for, and the paths of explanation.txt and timeline.html."""
    from ..explain.summary import verdict_lines
    stats = outcome.stats
    timings = stats.get("timings", {})
    lines = [f"{stats['ops']} operations: {stats['ok']} ok, {stats['fail']} fail, {stats['info']} info in "
             f"the {timings.get('run', stats['elapsed']):.1f} s run phase" + _other_phases(timings)]
    exits = stats.get("node_exits")
    if exits:
        lines.append(f"{exits} node exit(s) nobody asked for (recorded as :node-exited in the history)")
    if outcome.result is None:
        lines.append("unknown: the run stopped before recording any operation")
    else:
        lines += [f"  note: {note}" for note in outcome.result.notes]
        lines += verdict_lines(outcome.result)
    faults = _availability_lines(outcome)
    if faults:
        lines.append("what the faults did (per window in results.json's availability):")
        lines += [f"  {text}" for text in faults]
    for name, what in (("explanation.txt", "explanation"), ("timeline.html", "timeline")):
        path = os.path.join(outcome.path, name)
        if os.path.exists(path):
            lines.append(f"{what}: {path}")
    lines.append(f"stored in {outcome.path}")
    return lines


def _other_phases(timings: dict) -> str:
    """``(setup 1.2 s, check 3.4 s)``: where the rest of the wall-clock time went."""
    parts = [f"{name} {timings[name]:.1f} s" for name in ("setup", "check") if timings.get(name, 0) >= 0.1]
    return f" ({', '.join(parts)})" if parts else ""


def _availability_lines(outcome: Any) -> list[str]:
    """One line per fault kind (``histcheck.availability``), from the history the run recorded."""
    if outcome.history is None:
        return []
    from ..availability import summary_lines as availability_summary
    try:
        return availability_summary(outcome.history)
    except Exception as exc:  # a figure that cannot be computed must not hide the verdict
        return [f"(availability not computed: {type(exc).__name__}: {exc})"]
