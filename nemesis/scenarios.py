"""Named scenarios (``histcheck run --scenario NAME``): a cluster size, a workload, a fault sequence and the
expected outcome, printed before the run and checked against the recorded history after it.

``prepare_run`` is the hook ``histcheck run`` calls before building the runner (it also applies
``--nemesis-schedule``, refusing one without a nemesis, and picks the proxies when a nemesis needs them);
``Hooks.announce`` prints each nemesis's run-time notes once the runner has checked it against the DB;
``Hooks.finish`` checks the expectation and gives the exit code (0 held, 1 not).  ``run_scenario`` does the whole
thing from Python (the tests use it).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from histcheck.errors import InputError

from . import build
from .partition import Partition
from .process import Kill, Membership, StopAll, catch_up
from .schedules import Sequence
from .schedules import parse as parse_schedule

Echo = Callable[[str], None]


# -- reading a stored run ---------------------------------------------------------------------------------------
@dataclass
class Run:
    """A finished run's history: client ops, and nemesis steps as (f, invoke time s, completion time s, value)."""

    valid: Any
    ops: list[dict]
    steps: list[tuple[str, float, float, Any]]

    @classmethod
    def load(cls, outcome: Any) -> "Run":
        path = os.path.join(outcome.path, "history.jsonl")
        with open(path) as fh:
            ops = [json.loads(line) for line in fh if line.strip()]
        nem = [op for op in ops if op.get("process") == "nemesis"]
        steps = [(a["f"], a["time"] / 1e9, b["time"] / 1e9, b.get("value")) for a, b in zip(nem[::2], nem[1::2])]
        valid = outcome.result.valid if outcome.result is not None else None
        return cls(valid, [op for op in ops if op.get("process") != "nemesis"], steps)

    def step(self, f: str) -> tuple[str, float, float, Any]:
        return next(s for s in self.steps if s[0] == f)

    def oks(self, lo: float, hi: float, fs: tuple[str, ...] = ("write", "cas", "add"),
            processes: Callable[[Any], bool] = lambda p: True) -> int:
        """``:ok`` ops of ``fs`` invoked and completed within [lo, hi] seconds."""
        invoked: dict[Any, float] = {}
        count = 0
        for op in self.ops:
            if op["type"] == "invoke":
                invoked[op["process"]] = op["time"] / 1e9
            elif op["type"] == "ok" and op["f"] in fs and processes(op["process"]):
                count += lo <= invoked.get(op["process"], -1) and op["time"] / 1e9 <= hi
        return count


# -- scenarios --------------------------------------------------------------------------------------------------
class HealAndCatchUp(Partition):
    """A partition whose stop also waits for the isolated side to catch up (and records how long it took)."""

    requires = frozenset({"links", "catch-up"})

    def stop(self, value: Any) -> Any:
        isolated = (self.in_force or {}).get("groups", [[]])[0] if isinstance(self.in_force, dict) else []
        healed = super().stop(value)
        nodes = [n for n in isolated if n in self.db.node_names]
        return {"healed": healed, **catch_up(self.db, nodes)} if nodes else healed


@dataclass
class Scenario:
    name: str
    expectation: str
    nodes: int
    workload: str
    time_limit: float
    make: Callable[[], Any]
    check: Callable[[Run, Any], list[tuple[bool, str]]]
    options: dict = field(default_factory=dict)


def _valid(run: Run) -> tuple[bool, str]:
    return run.valid is True, f"history valid: {run.valid}"


def _check_leader(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, done, value = run.step("kill")
    leader, after = value.get("new_leader"), value.get("elected_after_s")
    restart = run.step("restart")[1] if any(s[0] == "restart" for s in run.steps) else 1e9
    oks = run.oks(done, restart)
    return [(leader is not None and after is not None and after <= 5,
             f"new leader {leader} {after} s after killing {value.get('leader_before')}"),
            (oks > 0, f"{oks} writes acknowledged while the old leader was down"), _valid(run)]


def _check_two(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, done, value = run.step("kill")
    restart = run.step("restart")[1]
    oks = run.oks(done, restart)
    return [(len(value["nodes"]) == 2, f"down: {' '.join(value['nodes'])} of 5"),
            (oks > 0, f"{oks} writes acknowledged while two nodes were down (available)"), _valid(run)]


def _check_majority(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, done, value = run.step("kill")
    _, restart, _, _ = run.step("restart")
    during, after = run.oks(done, restart), run.oks(restart, 1e9)
    return [(len(value["nodes"]) == 3, f"down: {' '.join(value['nodes'])} of 5"),
            (during == 0, f"{during} writes acknowledged while 3 of 5 were down (expected 0: unavailable)"),
            (after > 0, f"{after} writes acknowledged after they returned (recovered)"),
            (run.valid is not False, f"nothing inconsistent (verdict {run.valid})")]


def _check_persistence(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, _, value = run.step("recover")
    adds = run.oks(0, 1e9, fs=("add",))
    reads = run.oks(0, 1e9, fs=("read",))
    return [(value.get("leader") is not None, f"cluster restarted, leader {value.get('leader')}"),
            (adds > 0 and reads > 0, f"{adds} acknowledged adds, {reads} final read(s)"),
            (run.valid is True, f"every acknowledged add readable after the full restart: {run.valid}")]


def _check_partition(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, cut, value = run.step("start-partition")
    _, heal, _, healed = run.step("stop-partition")
    lone = value["groups"][0]
    names = [f"n{i + 1}" for i in range(o.nodes)]
    on_lone = lambda p: isinstance(p, int) and names[(p % o.concurrency) % o.nodes] in lone  # noqa: E731
    minority = run.oks(cut, heal, fs=("write", "cas", "read"), processes=on_lone)
    majority = run.oks(cut, heal, processes=lambda p: not on_lone(p))
    caught = isinstance(healed, dict) and healed.get("caught_up") is True
    return [(minority == 0, f"{minority} ops acknowledged by the isolated {' '.join(lone)} (expected 0)"),
            (majority > 0, f"{majority} writes acknowledged by the majority during the partition"),
            (caught, f"isolated side caught up after healing: {healed}"), _valid(run)]


def _check_catch_up(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, kill, _, value = run.step("kill")
    _, _, _, back = run.step("restart")
    during = run.oks(kill, run.step("restart")[1])
    return [(during > 0, f"{during} writes while {' '.join(value['nodes'])} was down"),
            (back.get("caught_up") is True, f"{' '.join(back['nodes'])} replayed the log to revision "
             f"{back.get('revision_goal')} in {back.get('seconds')} s: {back.get('revisions')}"), _valid(run)]


def _check_new_node(run: Run, o: Any) -> list[tuple[bool, str]]:
    _, _, _, left = run.step("leave")
    _, _, _, joined = run.step("join")
    info = joined[0] if isinstance(joined, list) and joined else {}
    return [("removed" in left, f"removed {left.get('removed')} (data wiped)"),
            (info.get("caught_up") is True, f"new member {info.get('added')} ({info.get('member_id')}) received "
             f"everything up to revision {info.get('revision_goal')} in {info.get('seconds')} s"), _valid(run)]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("leader-failure", "the leader is killed: a new leader within 5 s, writes continue, no data lost "
             "(valid)", 3, "register", 8, lambda: Kill("leader", schedule=Sequence([(2, 6)])), _check_leader),
    Scenario("two-faults", "5 nodes, two killed at once: still available (writes acknowledged) and consistent",
             5, "register", 8, lambda: Kill("minority", schedule=Sequence([(2, 6)])), _check_two),
    Scenario("majority-failure", "5 nodes, 3 killed: writes unavailable (none acknowledged), nothing "
             "inconsistent, writes resume when they return", 5, "register", 10,
             lambda: Kill("majority", schedule=Sequence([(2, 5)])), _check_majority),
    Scenario("persistence", "every node stopped and restarted: every acknowledged write is readable afterwards",
             3, "set", 7, lambda: StopAll(schedule=Sequence([(3, 4)])), _check_persistence),
    Scenario("partition-heal", "one node cut off: only the majority makes progress; the isolated node catches "
             "up after healing", 3, "register", 8,
             lambda: HealAndCatchUp("[n3] | [n1 n2]", schedule=Sequence([(2, 5.5)])), _check_partition),
    Scenario("catch-up", "a node down while writes happen replays the log when it returns", 3, "register", 8,
             lambda: Kill("one", schedule=Sequence([(2, 5)])), _check_catch_up),
    Scenario("new-node", "a member removed and a new one added mid-run receives all the data", 3, "register", 10,
             lambda: Membership("one", schedule=Sequence([(2, 7)])), _check_new_node),
]}


def get(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}", expected=", ".join(SCENARIOS))
    return SCENARIOS[name]


# -- the hooks of `histcheck run` -------------------------------------------------------------------------------
@dataclass
class Hooks:
    nemesis: Any
    scenario: Scenario | None
    options: Any = None

    def announce(self, echo: Echo) -> None:
        """The nemesis's run-time notes (known once it has been checked against the DB)."""
        for note in self.nemesis.notes():
            echo(f"note: {note}")

    def finish(self, outcome: Any, echo: Echo) -> int | None:
        """Check the scenario's expectation (None without a scenario): 0 when it held, 1 when not."""
        if self.scenario is None:
            return None
        held, lines = evaluate(self.scenario, outcome, self.options)
        for ok, text in lines:
            echo(f"  [{'ok' if ok else 'FAILED'}] {text}")
        echo(f"scenario {self.scenario.name}: expectation {'held' if held else 'NOT held'}")
        return 0 if held else 1


def evaluate(scenario: Scenario, outcome: Any, options: Any) -> tuple[bool, list[tuple[bool, str]]]:
    try:
        lines = scenario.check(Run.load(outcome), options)
    except (StopIteration, KeyError, TypeError, AttributeError, OSError) as exc:
        lines = [(False, f"the history lacks what the check needs ({type(exc).__name__}: {exc})")]
    return all(ok for ok, _ in lines), lines


def prepare_run(options: Any, scenario: str | None, schedule: str | None, echo: Echo) -> Hooks:
    """Configure ``options`` for a scenario and a schedule, build the nemesis, print its notes."""
    chosen = get(scenario) if scenario else None
    if chosen is not None:
        options.nodes, options.workload = chosen.nodes, chosen.workload
        options.time_limit = chosen.time_limit if options.time_limit == 30.0 else options.time_limit
        options.op_timeout = min(options.op_timeout, 1.0)
        options.test_name = options.test_name or f"scenario-{chosen.name}"
        echo(f"scenario {chosen.name}: expected: {chosen.expectation}")
    if schedule:
        parse_schedule(schedule)
        if chosen is None and options.nemesis in ("none", "", None):
            raise InputError(f"--nemesis-schedule {schedule!r} given without a nemesis to schedule",
                             expected="--nemesis NAME (or no --nemesis-schedule)")
        options.nemesis_options = {**options.nemesis_options, "schedule": schedule}
    nemesis = chosen.make() if chosen else build(options.nemesis, options.nemesis_options)
    wants = nemesis.preferred_network()
    if wants and options.network == "auto":
        options.network = wants
        echo(f"note: {nemesis.name} needs --network {wants}; using it")
    return Hooks(nemesis, chosen, options)


def run_scenario(name: str, options: Any, echo: Echo = lambda text: None) -> tuple[Any, bool, list]:
    """Run scenario ``name`` with ``options`` (a ``RunOptions``); returns the outcome and the expectation."""
    from histcheck.run.runner import Runner
    hooks = prepare_run(options, name, None, echo)
    runner = Runner(options, nemesis=hooks.nemesis)
    hooks.announce(echo)
    outcome = runner.run()
    held, lines = evaluate(hooks.scenario, outcome, options)
    return outcome, held, lines
