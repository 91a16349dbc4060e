"""Refuting a prefix by a window every linearization must cross: how a stale read among crashed calls is decided.

Crashed calls may take effect at any time after their invocation, so a wrong order of concurrent ok calls can
often be patched by one of them, and lives on for a while.  When a history is not linearizable, the search has to
refute every such order and every choice of crashed calls applied, and with a hundred crashed calls before the
anomaly it cannot finish.  Yet the anomaly is usually local: a read of a value that was overwritten before the
read began fails *whatever* came before.  This module proves exactly that, by a relaxation.

Let ``q`` be the position of the completion the search has got furthest to (``fail_pos``): some configuration
linearized every call that completed before it, so the prefix before ``q`` is linearizable.  Take an earlier
position ``p``.  In any linearization ``S`` of the prefix up to ``q`` (the calls still open at ``q`` count as
crashed), every call that returned before ``p`` precedes every call invoked at ``p`` or later; so ``S`` splits into
``S1`` (containing all of the former) and ``S2`` (containing all of the latter), and ``S2`` is a legal run of the
model from the state ``S1`` leaves, some state the model can reach.  ``S2`` is a linearization of the *window*
history: the ok calls invoked at ``p`` or later and returned by ``q`` (which ``S2`` must hold), and, as crashed
calls that may or may not take effect, every other call still open at ``p`` and invoked before ``q`` (ok calls that
straddle ``p`` or return after ``q``, and crashed calls).  Turning those ok calls into crashed ones only adds
linearizations.  So if the window has no linearization from *any* reachable state, neither has the prefix up to
``q``, and the history is not linearizable; and ``q`` is the completion at which it stops being so, exactly what
the full search would have reported.

Each window is searched by the same engine (``Cutter.search``), first with its crashed calls as unlimited
resources (``Closure``: one cheap search over its ok calls alone, from the set of all reachable states), then, for
windows of up to ``EXACT_UP_TO`` invocations, with its crashed calls as they are, once per reachable state.  So
this needs the model's whole reachable state space (registers: a handful of values) and no state abstraction.
Windows grow backwards from the failing call, doubling, until one refutes.  Attempts are made when the main
search has taken ``first_after`` steps and its furthest completion has stayed put for a quarter of the steps it
took to get there (a search that keeps moving forward is not stuck), and all attempts together take at most
half the time of the main search: a history the windows cannot decide costs at most about one and a half times
what it costs without them.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Hashable, Sequence

from ..history import Call
from ..models.base import Inconsistent, Model
from .encode import Partition, StateTable, TableTooLarge

FIRST_AFTER = 1 << 20        # main-search steps before the first attempt: most histories are decided by then
MIN_BUDGET = 0.05            # seconds an attempt may take at least
EXACT_UP_TO = 256            # windows with their crashed calls as they are reach back this many invocations at most
MAX_STATES = 1024            # a reachable state space larger than this is not enumerated


class Cutter:
    """Attempts, between slices of one partition's search, to refute the prefix up to its furthest completion.

    ``search(part, model, init_state, deadline=, memory_limit=, cancel=)`` decides a window (the same engine,
    without cuts); ``find_states()`` lists the reachable states (None: too many).
    """

    def __init__(self, part: Partition, model: Model, find_states: Callable[[], list | None], search: Callable, *,
                 deadline: float | None, memory_limit: int | None, cancel=None,
                 first_after: int = FIRST_AFTER) -> None:
        self.part = part
        self.model = model
        self.find_states = find_states      # the reachable states, asked for at the first attempt
        self.states: list[Hashable] | None = None
        self.search = search
        self.deadline = deadline
        self.memory_limit = memory_limit
        self.cancel = cancel
        self.used = 0                # bytes the main search holds, so that a window's memo stays within the cap
        self.first_after = first_after
        self.spent = 0.0             # seconds spent on windows, kept under half of the main search's
        self.started = time.monotonic()
        self.q = -1
        self.seen = -1               # the furthest completion last reported, and the step count it was first seen at
        self.seen_at = 0
        self.exact = False           # trying windows as they are (else with unlimited crashed calls)
        self.k = 1                   # the next window of the current q to try: from the k-th invocation back
        self.starts: list[int] = []  # the invocation positions a window of q can start at, latest first
        self.starts_for = -1

    def __call__(self, fail_pos: int, steps: int, used: int) -> bool:
        """True when the prefix up to ``fail_pos`` is proven not linearizable (attempted only when due); the main
        search has taken ``steps`` and holds ``used`` bytes."""
        self.used = used
        if fail_pos != self.seen:
            self.seen, self.seen_at = fail_pos, steps
            return False
        if steps < self.first_after or fail_pos < 0 or 4 * (steps - self.seen_at) < self.seen_at:
            return False                 # a furthest completion that keeps moving is not where the search fails
        if fail_pos != self.q:
            self.q, self.exact, self.k = fail_pos, False, 1
        if self.k == 0:
            return False
        now = time.monotonic()
        allowance = max(MIN_BUDGET, (now - self.started - self.spent) / 2) - self.spent
        if allowance <= 0:
            return False
        try:
            return self._attempt(now + allowance)
        finally:
            self.spent += time.monotonic() - now

    def _attempt(self, until: float) -> bool:
        """Windows of the current ``q``, from where the last attempt stopped: first every size with the crashed
        calls as unlimited resources (cheap), then every size as they are."""
        if self.states is None:
            self.states = self.find_states()
            if self.states is None:
                self.first_after = math.inf  # the windows cannot be searched from every state: no more attempts
                return False
        if self.starts_for != self.q:
            target = next((c for c in self.part.calls if c.status == "ok" and c.return_pos == self.q), None)
            self.starts = [] if target is None else \
                sorted({c.call_pos for c in self.part.calls if c.call_pos <= target.call_pos}, reverse=True)
            self.starts_for = self.q
        starts = self.starts
        if not starts or self.k == 0:
            return False
        while True:
            last = self.k >= min(EXACT_UP_TO if self.exact else len(starts), len(starts))
            p = starts[min(self.k, len(starts)) - 1]
            verdict = self._refutes(window(self.part, self.model, p, self.q), until)
            if verdict is None:
                return False         # out of budget: the next attempt resumes with this window
            if verdict:
                return True
            if not last:
                self.k *= 2
            elif not self.exact:
                self.exact, self.k = True, 1
            else:
                self.k = 0           # no window refutes: the search alone decides
                return False

    def _refutes(self, win: Partition, until: float) -> bool | None:
        """Does the window fail from every reachable state?  None: a search gave up."""
        deadline = until if self.deadline is None else min(until, self.deadline)
        limit = None
        if self.memory_limit is not None:
            limit = max(1 << 20, min(self.memory_limit // 4, self.memory_limit - self.used))
        if not self.exact:
            closed, mandatory = closure_window(win, self.model, self.states)
            runs = [(mandatory, closed, closed.everything)]
        else:
            runs = [(win, self.model, state) for state in self.states]
        for part, model, state in runs:
            outcome = self.search(part, model, state, deadline=deadline, memory_limit=limit, cancel=self.cancel)
            if outcome.valid is None:
                return None
            if outcome.valid:
                return False
        return True


def window(part: Partition, model: Model, p: int, q: int) -> Partition:
    """The relaxed history between positions ``p`` and ``q`` (see the module docstring): ok calls invoked at
    ``p`` or later and returned by ``q`` as they are; every other call invoked before ``q`` and not returned before
    ``p`` as a crashed call; crashed calls that can change nothing are left out, as ``make_partition`` does."""
    calls: list[Call] = []
    inputs: list[Hashable] = []
    for call, op in zip(part.calls, part.inputs):
        if call.call_pos > q:
            break                    # calls are in invocation order
        if call.status == "ok" and call.return_pos < p:
            continue
        if call.status == "ok" and (call.call_pos < p or call.return_pos > q):
            if model.is_pure(op):
                continue             # a crashed call that cannot change the state constrains nothing
            call = dataclasses.replace(call, status="info", return_pos=math.inf)
        calls.append(call)
        inputs.append(op)
    crashed = [i for i, c in enumerate(calls) if c.crashed]
    useless = model.useless_if_crashed(inputs) if crashed else None
    if useless is not None:
        drop = {i for i in crashed if useless(inputs[i])}
        calls = [c for i, c in enumerate(calls) if i not in drop]
        inputs = [op for i, op in enumerate(inputs) if i not in drop]
    blind = [model.blind(op) for op in inputs]
    pure = [model.is_pure(op) for op in inputs]
    return Partition(part.key, calls, inputs, calls, None, blind if any(blind) else None,
                     pure if any(pure) else None)


def reachable_states(model: Model, init_state: Hashable, inputs: Sequence[Hashable],
                     table: StateTable | None = None) -> list[Hashable] | None:
    """Every state the model can reach from ``init_state`` by the partition's inputs, or None when there are too
    many to enumerate (or the table merges states: a window must start from real states)."""
    if table is None:
        table = StateTable(model, init_state, list(dict.fromkeys(inputs)))
    if table.canon is not None:
        return None
    try:
        complete = table.prefill(max_states=MAX_STATES, max_steps=MAX_STATES * max(1, len(table.inputs)))
    except TableTooLarge:
        return None
    return list(table.states) if complete else None


class Closure(Model):
    """A model's states taken as sets, with some inputs available any number of times at any moment.

    The window's crashed calls may each be applied once, or not at all; letting them be applied as often as
    wanted only adds linearizations, so a window this model cannot linearize is refuted.  A state is the set of
    model states the window can be in, closed under the unlimited inputs; an ok call maps it to the closure of its
    results in the states where it is legal, and is inconsistent when there is none.  The crashed calls leave the
    search altogether: it runs over the ok calls alone, from the set of every reachable state.
    """

    name = "closure"

    def __init__(self, model: Model, resources: Sequence[Hashable], states: Sequence[Hashable]) -> None:
        self.model = model
        self.resources = list(dict.fromkeys(resources))
        self.everything = self.close(states)

    def close(self, states) -> frozenset:
        step, seen = self.model.step, set(states)
        todo = list(seen)
        while todo:
            state = todo.pop()
            for op in self.resources:
                nxt = step(state, op)
                if not isinstance(nxt, Inconsistent) and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def step(self, state: frozenset, op: Hashable):
        step = self.model.step
        out = [nxt for s in state if not isinstance(nxt := step(s, op), Inconsistent)]
        if not out:
            return Inconsistent("no state of the window allows it")
        return self.close(out)


def closure_window(win: Partition, model: Model, states: Sequence[Hashable]) -> tuple[Closure, Partition]:
    """The window's ok calls alone, over ``Closure`` with its crashed calls as the unlimited inputs."""
    resources = [op for call, op in zip(win.calls, win.inputs) if call.crashed]
    kept = [(call, op) for call, op in zip(win.calls, win.inputs) if not call.crashed]
    calls = [call for call, _ in kept]
    return Closure(model, resources, states), Partition(win.key, calls, [op for _, op in kept], calls)
