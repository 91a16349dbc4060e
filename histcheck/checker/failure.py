"""Turning a failed search into a report a person can follow.

The search tells us *where* the history breaks (the completion no configuration got past) and which
configurations were stuck there.  This module names the operations involved with their original indexes, lists
the candidate states with the calls still pending in each, and walks a few short orders of those pending calls to
show, for each candidate, a *final path*: the steps that were possible and the one that was not, ending in the
model's reason ("can't read 0 from register 2").

A compositional search (one object, many footprints) knows only that the history fails and which footprint it
blamed; ``narrow_failure`` locates the failure by searching each footprint's calls on their own.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Hashable

from ..history import Call
from ..models.base import Inconsistent, Model
from .encode import Partition
from .reference import SearchOutcome
from .result import Config, Failure, PathStep, op_summary

MAX_CONFIGS = 16
STUCK_LIMIT = 64     # the searches' default stuck_limit: reaching it means some candidates went unrecorded
MAX_PATHS = 12
PATH_DEPTH = 2


def build_failure(part: Partition, outcome: SearchOutcome, model: Model) -> Failure:
    """The Failure record for a partition whose search came back invalid."""
    target = _call_completing_at(part, outcome.fail_pos)
    failed = part.calls[target] if target is not None else None
    previous = _previous_ok(part, outcome.fail_pos)
    ops = _OpSummaries(part, model)
    model = _Remembering(model)
    configs, raw = _configs(part, outcome, model, ops)
    paths = _final_paths(part, raw, model, target, ops)
    longest = [[ops[i] for i in outcome.longest]] if outcome.longest else []
    return Failure(
        key=part.key,
        op=op_summary(failed) if failed is not None else {"index": None, "position": outcome.fail_pos},
        previous_ok=op_summary(previous) if previous is not None else None,
        configs=configs,
        final_paths=paths,
        longest=longest,
        configs_truncated=len(raw) > MAX_CONFIGS or len(outcome.stuck) >= STUCK_LIMIT,
    )


_UNKNOWN = object()


class _Remembering:
    """The model's ``step`` and ``describe`` for one report, each answered once per argument: a report walks a few
    states through the same few inputs many times (candidate states, final paths)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.steps: dict[tuple, Hashable] = {}
        self.descriptions: dict[Hashable, str] = {}

    def step(self, state: Hashable, op: Hashable) -> Hashable:
        key = (state, op)
        out = self.steps.get(key, _UNKNOWN)
        if out is _UNKNOWN:
            out = self.steps[key] = self.model.step(state, op)
        return out

    def describe(self, state: Hashable) -> str:
        text = self.descriptions.get(state)
        if text is None:
            text = self.descriptions[state] = self.model.describe(state)
        return text


class _OpSummaries:
    """``ops[i]``: call ``i`` of the partition as a report names it (``op_summary`` plus the model's input).

    A report can name every call of a long history (the longest linearization), and the same pending calls recur
    in many configurations and final paths, so each call is summarised once and each distinct input described
    once (a history has few: ``write 3`` recurs hundreds of times); every use gets its own copy of the dict.
    """

    def __init__(self, part: Partition, model: Model) -> None:
        self.part = part
        self.model = model
        self.made: dict[int, dict] = {}
        self.described: dict[Hashable, str] = {}

    def __getitem__(self, i: int) -> dict:
        out = self.made.get(i)
        if out is None:
            out = op_summary(self.part.calls[i])
            op = self.part.inputs[i]
            text = self.described.get(op)
            if text is None:
                text = self.described[op] = self.model.describe_op(op)
            out["op"] = text
            self.made[i] = out
        return dict(out)


def _call_completing_at(part: Partition, pos: int) -> int | None:
    """The index (in ``part.calls``) of the call whose completion is at ``pos``."""
    for i, call in enumerate(part.calls):
        if call.return_pos == pos:
            return i
    return None


def _previous_ok(part: Partition, pos: int) -> Call | None:
    best = None
    for call in part.all_calls:
        if call.status == "ok" and call.return_pos < pos and (best is None or call.return_pos > best.return_pos):
            best = call
    return best


def _configs(part: Partition, outcome: SearchOutcome, model: _Remembering,
             ops: _OpSummaries) -> tuple[list[Config], list[tuple[Hashable, list[int]]]]:
    """Distinct (state, pending calls) pairs among the configurations stuck at the failing completion."""
    seen: dict[tuple, tuple[Hashable, list[int]]] = {}
    invoked = {i for i, c in enumerate(part.calls) if c.call_pos < outcome.fail_pos}
    for state, linearized in outcome.stuck:
        pending = sorted(invoked.difference(linearized))
        key = (state, tuple(pending))
        if key not in seen:
            seen[key] = (state, pending)
    raw = sorted(seen.values(), key=lambda sp: (len(sp[1]), model.describe(sp[0])))
    configs = [Config(state=model.describe(state), pending=[ops[i] for i in pending])
               for state, pending in raw[:MAX_CONFIGS]]
    return configs, raw


def _final_paths(part: Partition, raw: list[tuple[Hashable, list[int]]], model: _Remembering,
                 target: int | None, ops: _OpSummaries) -> list[list[PathStep]]:
    """Short orders of pending calls from each candidate state, each ending where the model refuses a step.

    Paths end with the failing operation whenever it is reached; shorter paths come first, and a path is kept only
    once per (candidate, sequence), so the list stays readable.
    """
    if target is None:
        return []
    paths: list[list[PathStep]] = []
    seen: set[tuple] = set()
    for state, pending in raw[:MAX_CONFIGS]:
        frontier: list[tuple[Hashable, list[int], list[PathStep]]] = [(state, [], [])]
        for depth in range(PATH_DEPTH + 1):
            next_frontier = []
            for current, used, steps in frontier:
                out = model.step(current, part.inputs[target])
                if isinstance(out, Inconsistent):
                    sig = (model.describe(state), tuple(used))
                    if sig not in seen:
                        seen.add(sig)
                        paths.append(steps + [PathStep(op=ops[target],
                                                       reason=out.reason)])
                if depth == PATH_DEPTH:
                    continue
                for i in pending:
                    if i == target or i in used:
                        continue
                    nxt = model.step(current, part.inputs[i])
                    if isinstance(nxt, Inconsistent):
                        continue
                    step = PathStep(op=ops[i], state=model.describe(nxt))
                    next_frontier.append((nxt, used + [i], steps + [step]))
            frontier = next_frontier[:64]
            if len(paths) >= MAX_PATHS:
                return paths[:MAX_PATHS]
    return paths[:MAX_PATHS]


# -- locating a compositional failure ------------------------------------------------------------------------

def footprint_partitions(part: Partition) -> list[Partition]:
    """The partition's calls footprint by footprint, each as a partition of its own (keyed by the footprint, in
    the order footprints first appear, which is the numbering the searches use)."""
    groups: dict[Hashable, list[int]] = {}
    for i, f in enumerate(part.footprints or []):
        groups.setdefault(f, []).append(i)
    out = []
    for f, members in groups.items():
        calls = [part.calls[i] for i in members]
        for call in calls:      # this check's own Call objects: name their key in the report, as a split check does
            call.key = f
        blind = [part.blind[i] for i in members] if part.blind is not None else None
        pure = [part.pure[i] for i in members] if part.pure is not None else None
        out.append(Partition(f, calls, [part.inputs[i] for i in members], calls, None, blind, pure))
    return out


def narrow_failure(part: Partition, outcome: SearchOutcome, search: Callable[..., SearchOutcome], model: Model,
                   init_state: Hashable, *, deadline: float | None = None, memory_limit: int | None = None,
                   cancel=None) -> SearchOutcome:
    """Give an invalid compositional outcome a failure point: the earliest completion at which some footprint's
    calls stop being linearizable (the whole history's prefixes are linearizable exactly as long as every
    footprint's are), with that footprint's stuck configurations and longest linearization.

    The footprint the search blamed goes first, so that a budget spent on the others still leaves a location.
    The verdict stays the one the whole search gave; when some footprint's own search gave up, the outcome's
    ``cause`` says so (the location may then not be the earliest, or missing)."""
    subs = footprint_partitions(part)
    if 0 <= outcome.blame < len(subs):
        subs.insert(0, subs.pop(outcome.blame))
    best: SearchOutcome | None = None
    gave_up: str | None = None
    for sub in subs:
        found = search(sub, model, init_state, deadline=deadline, memory_limit=memory_limit, cancel=cancel)
        if found.valid is None:
            gave_up = gave_up or found.cause
        elif found.valid is False and (best is None or found.fail_pos < best.fail_pos):
            best = dataclasses.replace(found, part=sub)
    if best is None and gave_up is None:
        raise AssertionError("the compositional search found the history invalid, but every footprint's own "
                             "search found its calls linearizable")
    if best is None:
        return dataclasses.replace(outcome, cause=gave_up)
    return dataclasses.replace(best, valid=False, explored=outcome.explored, states=outcome.states,
                               engine=outcome.engine, blame=outcome.blame, cause=gave_up)
