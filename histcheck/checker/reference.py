"""The reference search: Wing & Gong's algorithm with Lowe's memoisation, in plain Python.

This is the specification the numba kernel (``kernel.py``) is tested against, and the engine for anything the
kernel cannot run.  It is written to be read, not to be fast.

The search keeps the history's entries in a linked list.  It repeatedly tries to linearize a call that is
*minimal* (no return entry precedes it in the list): if the model accepts the call in the current state and the
pair (set of linearized calls, new state) has not been seen before, the call and its return are lifted out of the
list and the search goes on from the front.  Reaching a return entry means every call that could go before it
has been tried, so the search backtracks.  The history is linearizable when every ``ok`` call has been
linearized; crashed calls never need to be.

When the model says which part of the state each call touches (``Model.footprint``, e.g. the keys of a kv store
checked as one object), the compositional search at the end of this module runs instead; see its comment.

The search tries the ok calls of a configuration before its crashed ones (two passes over the list), so that
configurations with fewer crashed calls applied are met first; that makes the next rules bite.  They skip
configurations the search does not need, and each rests on one fact: leaving a crashed call unapplied loses
nothing, since it may be applied later or never.  Call the crashed calls applied since the last ok call the
*chain*, and say the chain starts in state ``s0``.

1. *Dominance* (``_dominated``): a configuration is skipped when the memo holds the same linearized ok calls and
   state with one of the chain's calls not applied.
2. *Blind calls*: a blind call (``Model.blind``, a plain write) is not applied on top of a chain: applied before
   it, it reaches the same state.
3. *Loops* (``_needless_chain``): a crashed call is not applied when it brings the chain back to a state the chain
   passed through (``s0`` included): the chain without the loop reaches the same state.
4. *Just in time* (``_needless_chain``): an ok call is not applied on top of a chain when it reaches the same
   state from ``s0``: it did not need the chain (Lowe's just-in-time linearization: a crashed call is applied only
   right before an ok call that needs its effect -- a crashed write of ``v`` right before a read of ``v``).
5. *Twins*: crashed calls with the same input are interchangeable (neither has a return to respect), so of
   several such calls the search applies the one invoked first before any later one (``twin``).
6. *Pure calls first*: once the search has tried an ok call that never changes the state (``Model.is_pure``, a
   read) and that the model accepts, the configuration is finished: any way on can start with that call.

Why nothing is lost.  Suppose the history has a linearization; among all of them take one, ``S``, with the fewest
crashed calls, then the smallest sum of their call numbers, then the longest prefix whose configuration
(linearized calls and state) the search reaches, and say the search reaches it along a path ``P``.  ``P`` applied
the same crashed calls as that prefix of ``S``, so ``P`` followed by the rest of ``S`` is again such a
linearization, and from here on ``S`` means it.  If the search tried the next call of ``S`` there, some rule
skipped it; the memo did not, since its configuration would have been reached.  Rules 1 to 4 each name a
configuration from which the rest of ``S`` still runs, with the same ok calls and state and fewer crashed calls
applied (rule 1: the remembered one; 2 and 4: the chain left out; 3: the loop left out; crashed calls have no
return entries, so leaving some out changes no call's minimality) -- a linearization with fewer crashed calls
than ``S``.  Rule 5 names the earlier twin, unapplied and invoked before: swapping the two in ``S`` gives a
linearization with a smaller sum.  If the search never tried the next call of ``S``, rule 6 finished the
configuration after a pure call ``r``: moving ``r`` to the front of the rest of ``S`` gives a linearization with the
same crashed calls (``r`` is minimal, so every call that must precede it is linearized; it is accepted and changes
nothing, so every later call still runs), whose next configuration the search tried, so it was reached (a longer
prefix) or skipped by rules 1 to 5 (as above).  Each case contradicts the choice of ``S``, so the search reaches
the whole of ``S``.

When the search has worked for a while without deciding, it also tries to refute the prefix up to the furthest
completion it has reached by a window every linearization must cross (``cut.py``, where the reasoning is): that
is how a stale read among a hundred crashed calls is decided.

Because of the memo, every configuration is finished exactly once, at the first return entry left in its list.
The furthest such return entry over all configurations is the completion at which the history stops being
linearizable: the prefix of the history up to it has no linearization, every shorter prefix has one.  That is
the operation a failure report names, and the configurations stuck there are the candidate states it shows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Hashable

from ..models.base import Inconsistent, Model
from .cut import FIRST_AFTER, Cutter, reachable_states
from .encode import Entries, Partition, plain_entries


CHECK_EVERY = 4096      # steps between looks at the clock, the memory cap, Ctrl-C and the windows (cut.py)


@dataclass
class SearchOutcome:
    """What a search found, in terms of call numbers of one partition."""

    valid: bool | None                       # None: gave up (see cause)
    cause: str | None = None
    fail_pos: int = -1                       # history position of the completion that cannot be linearized
    stuck: list[tuple[Hashable, frozenset]] = field(default_factory=list)   # (state, linearized calls)
    longest: list[int] = field(default_factory=list)                       # call numbers, in order
    explored: int = 0
    states: int = 0
    engine: str = "reference"
    blame: int = -1                          # compositional search: the footprint found to be a dead end
    part: "Partition | None" = None          # the narrower partition the failure report is about, if any


def search_reference(part: Partition, model: Model, init_state: Hashable, *, deadline: float | None = None,
                     stuck_limit: int = 64, cancel=None, memory_limit: int | None = None,
                     cut_after: int | None = FIRST_AFTER) -> SearchOutcome:
    """Decide one partition with the plain-Python search (see the module docstring).

    Once the search has taken ``cut_after`` steps (None: never), it also tries to refute the prefix up to its
    furthest completion by a window (``cut.py``)."""
    if is_compositional(part):
        return search_split_reference(part, model, init_state, deadline=deadline, cancel=cancel,
                                      memory_limit=memory_limit)
    entries = plain_entries(part, {})
    max_memo = None
    record = 150 + len(part.calls) // 8      # a Python memo entry costs about 150 bytes plus its bitset
    if memory_limit is not None:
        max_memo = memory_limit // record
    cutter = None
    if cut_after is not None:
        def window_search(win, m, state, **options) -> SearchOutcome:
            return search_reference(win, m, state, cut_after=None, **options)
        cutter = Cutter(part, model, lambda: reachable_states(model, init_state, part.inputs), window_search,
                        deadline=deadline, memory_limit=memory_limit, cancel=cancel, first_after=cut_after)
    return _search(entries, part.inputs, model, init_state, deadline, stuck_limit, cancel, max_memo, cutter,
                   record)


def is_compositional(part: Partition) -> bool:
    """Do the partition's calls all have footprints, and more than one?  Then the compositional search runs."""
    return part.footprints is not None and len(set(part.footprints)) > 1


def _search(ent: Entries, inputs: list, model: Model, init_state: Hashable, deadline: float | None,
            stuck_limit: int, cancel=None, max_memo: int | None = None, cutter: Cutter | None = None,
            record: int = 0) -> SearchOutcome:
    head = len(ent.ent_call)
    nxt, prv = _links(head)
    ent_call = ent.ent_call.tolist()
    ent_ret = ent.ent_ret.tolist()
    ent_pos = ent.ent_pos.tolist()
    ret_entry = ent.ret_entry.tolist()
    is_ok = ent.is_ok.tolist()
    blind = ent.blind.tolist()
    pure = ent.pure.tolist()
    twin = ent.twin.tolist()

    def unlink(x: int) -> None:
        _unlink(nxt, prv, x)

    def relink(x: int) -> None:
        _relink(nxt, prv, x)

    step = _cached_steps(model, inputs)

    state = init_state
    linearized = 0
    n_ok_done = 0
    stack: list[tuple[int, Hashable]] = []
    memo: set[tuple[int, Hashable]] = set()
    crashed: list[int] = []                  # crashed calls linearized so far, in stack order
    since = 0                                # of which applied since the last ok call
    best: list[int] = []
    fail_pos = -1
    stuck: list[tuple[Hashable, int]] = []
    explored = 0
    e = nxt[head]
    phase = 0
    while True:
        if n_ok_done == ent.n_ok:
            return SearchOutcome(True, explored=explored, states=len(memo))
        explored += 1
        if explored % CHECK_EVERY == 0:
            if deadline is not None and time.monotonic() > deadline:
                return SearchOutcome(None, "time", explored=explored, states=len(memo))
            if cancel is not None and cancel.is_set():
                return SearchOutcome(None, "interrupted", explored=explored, states=len(memo))
            if max_memo is not None and len(memo) > max_memo:
                return SearchOutcome(None, "memory", explored=explored, states=len(memo))
            if cutter is not None and cutter(fail_pos, explored, len(memo) * record):
                return SearchOutcome(False, fail_pos=fail_pos, explored=explored, states=len(memo),
                                     stuck=[(s, _bits_to_set(b)) for s, b in stuck], longest=best)
        if (e == -1 or ent_ret[e]) and phase == 0:
            phase = 1               # ok calls tried: now the crashed ones, from the front again
            e = nxt[head]
            continue
        if e == -1 or ent_ret[e]:
            pos = ent_pos[e] if e != -1 else 1 << 62
            if pos > fail_pos:
                fail_pos, stuck = pos, []
            if pos == fail_pos and len(stuck) < stuck_limit:
                stuck.append((state, linearized))
            if len(stack) > len(best):
                best = [ent_call[x] for x, *_ in stack]
            if not stack:
                return SearchOutcome(False, fail_pos=fail_pos, explored=explored, states=len(memo),
                                     stuck=[(s, _bits_to_set(b)) for s, b in stuck], longest=best)
            top, state, since, phase = stack.pop()
            call = ent_call[top]
            if not is_ok[call]:
                crashed.pop()
            linearized &= ~(1 << call)
            n_ok_done -= is_ok[call]
            if ret_entry[call] != -1:
                relink(ret_entry[call])
            relink(top)
            e = nxt[top]
            if pure[call] and is_ok[call]:
                e, phase = _next_return(nxt, ent_ret, e), 1     # rule 6: its parent has no other way on
            continue
        call = ent_call[e]
        if is_ok[call] == phase:     # phase 0 tries ok calls, phase 1 crashed ones
            e = nxt[e]
            continue
        if twin[call] != -1 and not linearized >> twin[call] & 1:
            e = nxt[e]              # an identical crashed call invoked earlier is still unapplied: it goes first
            continue
        new_state = step(state, call)
        if not isinstance(new_state, Inconsistent):
            new_lin = linearized | (1 << call)
            if blind[call] and since:
                pass    # crashed calls since the last ok call would be overwritten unseen: covered elsewhere
            elif since and _needless_chain(stack, since, state, new_state, call, is_ok[call], step):
                pass    # the crashed calls since the last ok call loop back, or this ok call did not need them
            elif (new_lin, new_state) not in memo and \
                    not _dominated(new_lin, new_state, crashed[len(crashed) - since:], call, is_ok, memo):
                memo.add((new_lin, new_state))
                if not is_ok[call]:
                    crashed.append(call)
                stack.append((e, state, since, phase))
                phase = 0
                since = 0 if is_ok[call] else since + 1
                state, linearized = new_state, new_lin
                n_ok_done += is_ok[call]
                unlink(e)
                if ret_entry[call] != -1:
                    unlink(ret_entry[call])
                e = nxt[head]
                continue
            if pure[call] and is_ok[call]:
                e, phase = _next_return(nxt, ent_ret, e), 1     # rule 6: no other way on from here
                continue
        e = nxt[e]


def _next_return(nxt: list[int], ent_ret: list[int], x: int) -> int:
    """The first return entry from entry ``x`` on."""
    while not ent_ret[x]:
        x = nxt[x]
    return x


def _needless_chain(stack: list, since: int, state: Hashable, new_state: Hashable, call: int, ok: int,
                    step: Callable[[Hashable, int], Hashable]) -> bool:
    """Do the crashed calls applied since the last ok call (the *chain*) do nothing this step needs?

    The chain started in ``stack[-since]``'s state.  A crashed ``call`` that brings the chain back to a state it
    passed through has only gone round a loop; an ok ``call`` that reaches the same state from the chain's start
    did not need the chain.  Either way the same step without (part of) the chain reaches the same state with
    fewer crashed calls applied (see the module docstring).
    """
    if ok:
        return step(stack[-since][1], call) == new_state
    return new_state == state or any(stack[-j][1] == new_state for j in range(1, since + 1))


def _dominated(new_lin: int, new_state: Hashable, crashed: list[int], call: int, is_ok: list,
               memo: set) -> bool:
    """Is the configuration covered by a remembered one with one crashed call fewer, in the same state?

    A crashed call that has not been applied may still be applied later, or never: such a configuration can do
    everything this one can, so this one need not be searched (it matters most when many calls crashed at once).
    Only the crashed calls applied since the last ok call are tried (``crashed`` holds just those): the remembered
    configuration has to share everything else, which for an older crashed call is rare, and trying every one
    made long histories with many crashes quadratic.
    """
    candidates = crashed + [call] if not is_ok[call] else crashed
    return any((new_lin & ~(1 << c), new_state) in memo for c in candidates)


def _links(size: int) -> tuple[list[int], list[int]]:
    """``nxt`` and ``prv`` of the entry list: entry e links to e + 1 and e - 1, the head is index ``size``."""
    nxt = list(range(1, size + 1)) + [0 if size else -1]
    prv = [size] + list(range(0, size))
    if size:
        nxt[size - 1] = -1
    return nxt, prv


def _unlink(nxt: list[int], prv: list[int], x: int) -> None:
    nxt[prv[x]] = nxt[x]
    if nxt[x] != -1:
        prv[nxt[x]] = prv[x]


def _relink(nxt: list[int], prv: list[int], x: int) -> None:
    nxt[prv[x]] = x
    if nxt[x] != -1:
        prv[nxt[x]] = x


def _cached_steps(model: Model, inputs: list) -> Callable[[Hashable, int], Hashable]:
    """``model.step`` on (state, call number), remembered: the search asks the same question many times."""
    cache: dict[tuple[Hashable, int], Hashable] = {}

    def step(state: Hashable, call: int) -> Hashable:
        key = (state, call)
        out = cache.get(key, cache)
        if out is cache:
            out = model.step(state, inputs[call])
            cache[key] = out
        return out
    return step


def _bits_to_set(bits: int) -> frozenset:
    out = []
    i = 0
    while bits:
        if bits & 1:
            out.append(i)
        bits >>= 1
        i += 1
    return frozenset(out)


# -- one object with footprints: the compositional search ---------------------------------------------------------
#
# When every call names the part of the state it touches (``Model.footprint``: a kv store's key), linearizability is
# local (Herlihy and Wing): the history is linearizable exactly when each footprint's calls are.  The search below
# still checks the history as one object -- one walk over the whole entry list, a state per footprint, the whole
# real-time order -- but it learns *which footprint* a dead end belongs to, and remembers dead ends by that
# footprint's projection alone.  Without this, the memo of (linearized set, whole state) holds the product of every
# key's configurations: ten keys of fifty clients never finish.
#
# Three facts carry it.  (1) The search only tries calls on the footprint of the first return entry left (the
# *focus*): calls on other footprints commute with them and cannot make them fail, and their own returns lie
# further on, so any linearization can be reordered to put the focus calls first (a partial-order reduction).
# (2) When every focus call of a configuration is inconsistent, or leads to a child that was charged to the focus
# footprint, the configuration's focus projection (its focus calls and the focus's state) is a dead end: those
# calls are the only ones a search of that footprint alone could try there, so the projection is a dead end for
# the footprint on its own, and every configuration that shares it is dead too.  (A child charged to another
# footprint never comes back to its parent: see (3).)  (3) A child differs from its parent only in the parent's
# focus footprint, so when a child dies because of another footprint's projection, the parent shares that
# projection and dies too, without trying its other children (a backjump).  So every dead end is charged to one footprint, remembered as
# (footprint's linearized calls, footprint's state), and the work is about the sum of the footprints' searches,
# not their product.  Crashed calls keep their dominance rule, projected the same way.
#
# The search answers valid or invalid for the whole history and names the footprint it blamed; the failure report
# is then built from the footprints' own searches (see ``checker.narrow_failure``).


def search_split_reference(part: Partition, model: Model, init_state: Hashable, *, deadline: float | None = None,
                           cancel=None, memory_limit: int | None = None) -> SearchOutcome:
    """Decide a partition whose calls all have footprints (two or more) with the compositional search."""
    ent = plain_entries(part, {})
    max_memo = None
    if memory_limit is not None:
        max_memo = memory_limit // (150 + len(part.calls) // 8)
    head = len(ent.ent_call)
    nxt, prv = _links(head)
    ent_call = ent.ent_call.tolist()
    ent_ret = ent.ent_ret.tolist()
    ret_entry = ent.ret_entry.tolist()
    is_ok = ent.is_ok.tolist()
    foot = ent.foot.tolist()
    n_foot = max(foot, default=-1) + 1
    inputs = part.inputs

    def unlink(x: int) -> None:
        _unlink(nxt, prv, x)

    def relink(x: int) -> None:
        _relink(nxt, prv, x)

    def first_return_footprint() -> int:
        x = nxt[head]
        while x != -1 and not ent_ret[x]:
            x = nxt[x]
        return -1 if x == -1 else foot[ent_call[x]]

    step = _cached_steps(model, inputs)

    states = [init_state] * n_foot           # each footprint's state, from its own calls alone
    lin = [0] * n_foot                       # each footprint's linearized calls, as a bitset of call numbers
    dead: set[tuple[int, int, Hashable]] = set()    # (footprint, its linearized calls, its state): no way on
    crashed: list[int] = []
    stack: list[tuple[int, Hashable, int]] = []     # (entry, the footprint's state before it, phase)
    n_ok_done = 0
    explored = 0
    e = nxt[head]
    phase = 0
    focus = first_return_footprint()

    def is_dead(f: int, bits: int, state: Hashable, call: int) -> bool:
        if (f, bits, state) in dead:
            return True
        # a remembered dead end with one crashed call of this footprint fewer, in the same state, covers this one
        candidates = crashed + [call] if not is_ok[call] else crashed
        return any(foot[c] == f and (f, bits & ~(1 << c), state) in dead for c in candidates)

    while True:
        if n_ok_done == ent.n_ok:
            return SearchOutcome(True, explored=explored, states=len(dead), engine="reference-split")
        explored += 1
        if explored % 4096 == 0:
            if deadline is not None and time.monotonic() > deadline:
                return SearchOutcome(None, "time", explored=explored, states=len(dead), engine="reference-split")
            if cancel is not None and cancel.is_set():
                return SearchOutcome(None, "interrupted", explored=explored, states=len(dead),
                                     engine="reference-split")
            if max_memo is not None and len(dead) > max_memo:
                return SearchOutcome(None, "memory", explored=explored, states=len(dead), engine="reference-split")
        if (e == -1 or ent_ret[e]) and phase == 0:
            phase = 1
            e = nxt[head]
            continue
        blame = -1
        if e == -1 or ent_ret[e]:
            dead.add((focus, lin[focus], states[focus]))     # fact (2)
            blame = focus
        else:
            call = ent_call[e]
            if is_ok[call] == phase or foot[call] != focus:
                e = nxt[e]
                continue
            f = focus
            new_state = step(states[f], call)
            new_bits = lin[f] | (1 << call)
            if isinstance(new_state, Inconsistent) or is_dead(f, new_bits, new_state, call):
                e = nxt[e]
                continue
            if not is_ok[call]:
                crashed.append(call)
            stack.append((e, states[f], phase))
            states[f], lin[f] = new_state, new_bits
            n_ok_done += is_ok[call]
            unlink(e)
            if ret_entry[call] != -1:
                unlink(ret_entry[call])
            e = nxt[head]
            phase = 0
            if n_ok_done == ent.n_ok:
                continue
            focus = first_return_footprint()
            if focus == f or (focus, lin[focus], states[focus]) not in dead:
                continue
            blame = focus                                   # the new focus is already known to be a dead end
        # fact (3): back to the nearest configuration whose focus is the blamed footprint
        while True:
            if not stack:
                return SearchOutcome(False, explored=explored, states=len(dead), engine="reference-split",
                                     blame=blame)
            top, old_state, old_phase = stack.pop()
            call = ent_call[top]
            g = foot[call]
            if not is_ok[call]:
                crashed.pop()
            states[g] = old_state
            lin[g] &= ~(1 << call)
            n_ok_done -= is_ok[call]
            if ret_entry[call] != -1:
                relink(ret_entry[call])
            relink(top)
            if g == blame:
                e, phase, focus = nxt[top], old_phase, g
                break
