"""The numba kernel: the reference search (``reference.py``) over integers, resumable.

This is the only module that imports numba.  The kernel runs the same algorithm as the reference on the arrays
built by ``encode.py``; the property tests in tests/test_checker.py hold the two to the same answers (verdict and
failing operation).  Their counts of explored configurations may differ: the kernel's table merges states a
model's ``abstraction`` says are alike, the reference steps the model itself.  What differs is representation:

* the set of linearized calls is a bitset (``bits``) with an incrementally maintained Zobrist hash, so extending or
  shrinking it is O(1) and hashing it is free;
* the memo is an open-addressing hash table over an arena of (bitset, state) records, compared in full on a hash
  match, so a collision can never make the answer wrong.  A record keeps only the window of the bitset where the
  search is at work (all calls before it are linearized, none after it) plus the crashed calls, so its size
  follows the history's concurrency, not its length;
* the model is the transition table, so a step is one array read.

The kernel keeps all of its registers in arrays and *returns* whenever it needs Python: a table row that has not
been computed (``NEED_ROW``; the state and input are in ``regs``), a full memo (``MEMO_FULL``), or a step budget spent (``PAUSE``, so that time limits,
memory caps and Ctrl-C are honoured between slices).  Calling it again with the same arrays resumes exactly where
it stopped.
"""
from __future__ import annotations

import numpy as np
from numba import njit

VALID = 0
INVALID = 1
NEED_ROW = 2
MEMO_FULL = 3
PAUSE = 4

# register slots
(R_E, R_STATE, R_SP, R_NOKDONE, R_MEMO, R_FAILPOS, R_NSTUCK, R_BEST, R_COMMON, R_STEPS, R_NEED, R_NOK, R_W,
 R_NEEDK, R_NCRASH, R_SINCE, R_PHASE) = range(17)
R_BLAME, R_OKW, R_LO, R_HI, R_WUSED = range(17, 22)
N_REGS = 22

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _mix(h, state):
    x = h ^ (np.uint64(state + 1) * np.uint64(0x9E3779B97F4A7C15))
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return x


@njit(cache=True)
def _unlink(nxt, prv, x):
    nxt[prv[x]] = nxt[x]
    if nxt[x] != -1:
        prv[nxt[x]] = prv[x]


@njit(cache=True)
def _relink(nxt, prv, x):
    nxt[prv[x]] = x
    if nxt[x] != -1:
        prv[nxt[x]] = x


@njit(cache=True, inline="always")
def _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask, hv, ns, bits, lo, nw,
            OKW, CW):
    """The memo slot holding this configuration, or the empty slot where it would go; and whether it was found.

    A record is (state, lo, the ok words lo..lo+nw-1, the crash words): ok words before ``lo`` are all linearized
    and those after the window none, so the record stays as short as the search's frontier is wide, however long
    the history is (comparing whole bitsets made a 100,000-event history quadratic in memory)."""
    slot = hv & mask
    while True:
        idx = slots[slot]
        if idx == -1:
            return slot, False
        if arena_hash[idx] == hv and arena_state[idx] == ns and arena_lo[idx] == lo and arena_nw[idx] == nw:
            same = True
            off = arena_off[idx]
            for w in range(nw):
                if arena_words[off + w] != bits[lo + w]:
                    same = False
                    break
            if same:
                off += nw
                for w in range(CW):
                    if arena_words[off + w] != bits[OKW + w]:
                        same = False
                        break
            if same:
                return slot, True
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True)
def _dominated(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask, nh, ns, bits, lo,
               nw, OKW, CW, zob, bitpos, crash_stack, first, ncrash):
    """Is the configuration covered by a remembered one with one crashed call fewer, in the same state?

    A crashed call left unapplied can still be applied later or never, so that configuration can do everything
    this one can: this one need not be searched.  (Crashed calls live in the crash words, so the window of ok
    words is the same for both.)
    """
    for i in range(first, ncrash):
        c = crash_stack[i]
        b = bitpos[c]
        bit = np.uint64(1) << np.uint64(b & 63)
        bits[b >> 6] &= ~bit
        slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                              _mix(nh ^ zob[c], ns), ns, bits, lo, nw, OKW, CW)
        bits[b >> 6] |= bit
        if found:
            return True
    return False


@njit(cache=True, inline="always")
def _next_return(nxt, ent_ret, x):
    """The first return entry from entry ``x`` on."""
    while ent_ret[x] == 0:
        x = nxt[x]
    return x


@njit(cache=True, inline="always")
def _needless_chain(table, stack_s, sp, since, state, ns, k, ok):
    """Do the crashed calls applied since the last ok call (the chain) do nothing this step needs?  A crashed
    step back to a state the chain passed through, or an ok step that reaches ``ns`` from the chain's start too
    (see reference.py)."""
    if ok == 1:
        return table[stack_s[sp - since], k] == ns
    if ns == state:
        return True
    for j in range(sp - since, sp):
        if stack_s[j] == ns:
            return True
    return False


@njit(cache=True)
def _focus(nxt, ent_ret, ent_call, foot, head):
    x = nxt[head]
    while x != -1 and ent_ret[x] == 0:
        x = nxt[x]
    return -1 if x == -1 else foot[ent_call[x]]


@njit(cache=True, inline="always")
def _first_open(bits, full, lo, OKW):
    """The first ok word from ``lo`` on that is not all linearized."""
    while lo < OKW and bits[lo] == full[lo]:
        lo += 1
    return lo


@njit(cache=True, inline="always")
def _last_used(bits, hi):
    """The last ok word from ``hi`` down that has a linearized call (-1: none)."""
    while hi >= 0 and bits[hi] == 0:
        hi -= 1
    return hi


@njit(cache=True, nogil=True)
def wgl_kernel(ent_call, ent_ret, ent_pos, ret_entry, is_ok, kind, blind, pure, twin, bitpos, full, zob, table,
               nxt, prv, bits, hreg, stack_e, stack_s, stack_since, stack_phase, best, crash_stack,
               slots, arena_words, arena_off, arena_lo, arena_nw, arena_state, arena_hash,
               stuck_state, stuck_bits, regs, max_steps):
    """Run the search until it decides or needs Python; returns one of the codes above.

    Call ``c`` is bit ``bitpos[c]``: ok calls fill the first ``OKW`` words in history order, crashed calls the
    ``CW`` words after them.  ``lo`` (the first ok word not full) and ``hi`` (the last ok word not empty) are kept
    exact as bits come and go, so that a memo record needs only the window between them.
    """
    W = regs[R_W]
    OKW = regs[R_OKW]
    CW = W - OKW
    mask = np.uint64(len(slots) - 1)
    cap = len(arena_state)
    wcap = len(arena_words)
    head = len(ent_call)
    e = regs[R_E]
    state = regs[R_STATE]
    sp = regs[R_SP]
    nokdone = regs[R_NOKDONE]
    nmemo = regs[R_MEMO]
    nok = regs[R_NOK]
    ncrash = regs[R_NCRASH]
    since = regs[R_SINCE]       # crashed calls applied since the last ok call on the stack
    phase = regs[R_PHASE]       # 0: trying ok calls, 1: trying crashed calls (see reference.py)
    lo = regs[R_LO]
    hi = regs[R_HI]
    wused = regs[R_WUSED]
    h = hreg[0]
    steps = 0
    code = PAUSE
    while True:
        if nokdone == nok:
            code = VALID
            break
        if steps >= max_steps:
            code = PAUSE
            break
        steps += 1
        if (e == -1 or ent_ret[e] == 1) and phase == 0:
            phase = 1
            e = nxt[head]
            continue
        if e == -1 or ent_ret[e] == 1:
            pos = ent_pos[e] if e != -1 else np.int64(1) << np.int64(62)
            if pos > regs[R_FAILPOS]:
                regs[R_FAILPOS] = pos
                regs[R_NSTUCK] = 0
            if pos == regs[R_FAILPOS] and regs[R_NSTUCK] < len(stuck_state):
                k = regs[R_NSTUCK]
                stuck_state[k] = state
                for w in range(W):
                    stuck_bits[k * W + w] = bits[w]
                regs[R_NSTUCK] = k + 1
            if sp > regs[R_BEST]:
                common = regs[R_COMMON]
                for i in range(common, sp):
                    best[i] = ent_call[stack_e[i]]
                regs[R_BEST] = sp
                regs[R_COMMON] = sp
            if sp == 0:
                code = INVALID
                break
            sp -= 1
            if regs[R_COMMON] > sp:
                regs[R_COMMON] = sp
            top = stack_e[sp]
            state = stack_s[sp]
            since = stack_since[sp]
            phase = stack_phase[sp]
            call = ent_call[top]
            b = bitpos[call]
            word = b >> 6
            bits[word] &= ~(np.uint64(1) << np.uint64(b & 63))
            h ^= zob[call]
            nokdone -= is_ok[call]
            if is_ok[call] == 0:
                ncrash -= 1
            else:
                if word < lo:
                    lo = word
                if word == hi and bits[word] == 0:
                    hi = _last_used(bits, hi)
            r = ret_entry[call]
            if r != -1:
                _relink(nxt, prv, r)
            _relink(nxt, prv, top)
            e = nxt[top]
            if pure[call] == 1 and is_ok[call] == 1:
                e = _next_return(nxt, ent_ret, e)      # its parent has no other way on (reference.py, rule 6)
                phase = 1
            continue
        call = ent_call[e]
        if is_ok[call] == phase:
            e = nxt[e]
            continue
        tw = twin[call]
        if tw != -1 and (bits[bitpos[tw] >> 6] >> np.uint64(bitpos[tw] & 63)) & np.uint64(1) == 0:
            e = nxt[e]          # an identical crashed call invoked earlier is still unapplied: it goes first
            continue
        ns = table[state, kind[call]]
        if ns == -2:
            regs[R_NEED] = state
            regs[R_NEEDK] = kind[call]
            code = NEED_ROW
            break
        legal = ns >= 0
        if ns >= 0 and blind[call] == 1 and since > 0:
            # the crashed calls applied since the last ok call are overwritten unseen: the same configuration
            # without them (reached by applying this call earlier) covers this one
            ns = -1
        if ns >= 0 and since > 0 and _needless_chain(table, stack_s, sp, since, state, ns, kind[call], is_ok[call]):
            ns = -1
        if ns >= 0:
            b = bitpos[call]
            word = b >> 6
            bit = np.uint64(1) << np.uint64(b & 63)
            old_lo = lo
            old_hi = hi
            bits[word] |= bit
            if is_ok[call] == 1:
                if word == lo:
                    lo = _first_open(bits, full, lo, OKW)
                if word > hi:
                    hi = word
            nw = hi - lo + 1 if hi >= lo else 0
            nh = h ^ zob[call]
            hv = _mix(nh, ns)
            slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                                  hv, ns, bits, lo, nw, OKW, CW)
            if not found and is_ok[call] == 0:
                crash_stack[ncrash] = call
                found = _dominated(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words,
                                   mask, nh, ns, bits, lo, nw, OKW, CW, zob, bitpos, crash_stack, ncrash - since,
                                   ncrash + 1)
            elif not found and since > 0:
                found = _dominated(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words,
                                   mask, nh, ns, bits, lo, nw, OKW, CW, zob, bitpos, crash_stack, ncrash - since,
                                   ncrash)
            if not found and (nmemo >= cap or wused + nw + CW > wcap):
                bits[word] &= ~bit
                lo = old_lo
                hi = old_hi
                code = MEMO_FULL
                break
            if not found:
                slots[slot] = nmemo
                arena_hash[nmemo] = hv
                arena_state[nmemo] = ns
                arena_off[nmemo] = wused
                arena_lo[nmemo] = lo
                arena_nw[nmemo] = nw
                for w in range(nw):
                    arena_words[wused + w] = bits[lo + w]
                for w in range(CW):
                    arena_words[wused + nw + w] = bits[OKW + w]
                wused += nw + CW
                nmemo += 1
                if is_ok[call] == 0:
                    crash_stack[ncrash] = call
                    ncrash += 1
                stack_e[sp] = e
                stack_s[sp] = state
                stack_since[sp] = since
                stack_phase[sp] = phase
                phase = 0
                since = 0 if is_ok[call] == 1 else since + 1
                sp += 1
                state = ns
                h = nh
                nokdone += is_ok[call]
                _unlink(nxt, prv, e)
                r = ret_entry[call]
                if r != -1:
                    _unlink(nxt, prv, r)
                e = nxt[head]
                continue
            bits[word] &= ~bit
            lo = old_lo
            hi = old_hi
        if legal and pure[call] == 1 and is_ok[call] == 1:
            e = _next_return(nxt, ent_ret, e)          # no other way on from here (reference.py, rule 6)
            phase = 1
            continue
        e = nxt[e]
    regs[R_E] = e
    regs[R_STATE] = state
    regs[R_SP] = sp
    regs[R_NOKDONE] = nokdone
    regs[R_MEMO] = nmemo
    regs[R_NCRASH] = ncrash
    regs[R_SINCE] = since
    regs[R_PHASE] = phase
    regs[R_LO] = lo
    regs[R_HI] = hi
    regs[R_WUSED] = wused
    regs[R_STEPS] += steps
    hreg[0] = h
    return code


@njit(cache=True, nogil=True)
def quick_kernel(call_pos, ret_pos, kind, blind, pure, zob, table, stuck_limit, memo_records, memory_limit, regs,
                 max_steps):
    """A whole search in one call, for a search that needs nothing from Python: ``encode.make_entries``, the
    working set of ``search._Arrays`` and ``search.Memo.grow`` compiled around ``wgl_kernel``.

    Small histories are many (a directory of Knossos files), and for them building two dozen numpy arrays in
    Python and passing them to the kernel one by one cost several times the search itself.  The caller gives the
    calls in invocation order (``call_pos``, ``ret_pos`` with +inf for a crashed call, ``kind``, per-call
    ``blind``/``pure``), a complete transition table and at least ``len(kind)`` Zobrist keys.  Returns the kernel's
    code (``NEED_ROW``, ``MEMO_FULL`` past ``memory_limit`` bytes, or ``PAUSE`` after ``max_steps`` mean: search
    again with the resumable driver), the stuck configurations' states and bitsets, the longest linearization and
    each call's bit; ``regs`` holds the kernel's registers (``R_STEPS``, ``R_MEMO``, ``R_FAILPOS`` ...).
    """
    n = len(kind)
    big = np.int64(1) << np.int64(62)
    pos = np.empty(2 * n, np.int64)
    n_ok = 0
    for c in range(n):
        pos[c] = call_pos[c]
        if ret_pos[c] == np.inf:
            pos[n + c] = big
        else:
            pos[n + c] = np.int64(ret_pos[c])
            n_ok += 1
    order = np.argsort(pos, kind="mergesort")[: n + n_ok]     # stable: invocations first on a tie; crashed last
    E = len(order)
    ent_call = np.empty(E, np.int32)
    ent_ret = np.zeros(E, np.uint8)
    ent_pos = np.empty(E, np.int64)
    ret_entry = np.full(n, -1, np.int32)
    for e in range(E):
        s = order[e]
        ent_pos[e] = pos[s]
        if s >= n:
            ent_call[e] = s - n
            ent_ret[e] = 1
            ret_entry[s - n] = e
        else:
            ent_call[e] = s
    is_ok = np.zeros(n, np.uint8)
    twin = np.full(n, -1, np.int32)
    last = np.full(max(1, table.shape[1]), -1, np.int32)
    OKW = (n_ok + 63) // 64
    W = max(1, OKW + (n - n_ok + 63) // 64)
    bitpos = np.empty(n, np.int64)
    ok_before = 0
    for c in range(n):
        if ret_pos[c] != np.inf:
            is_ok[c] = 1
            bitpos[c] = ok_before
            ok_before += 1
        else:
            twin[c] = last[kind[c]]
            last[kind[c]] = c
            bitpos[c] = OKW * 64 + c - ok_before
    full = np.empty(max(OKW, 1), np.uint64)
    full[:] = ~np.uint64(0)
    if n_ok % 64:
        full[OKW - 1] = (np.uint64(1) << np.uint64(n_ok % 64)) - np.uint64(1)
    nxt, prv = linked_list(E)
    bits = np.zeros(W, np.uint64)
    hreg = np.zeros(1, np.uint64)
    size = max(n, 1)
    stacks = np.empty((6, size), np.int32)      # as search._Arrays: one block, a row per stack
    stack_e, stack_s, stack_since, stack_phase, best, crash_stack = (stacks[0], stacks[1], stacks[2], stacks[3],
                                                                     stacks[4], stacks[5])
    per_record = min(W, 4)
    cap = memo_records
    slots = np.full(2 * cap, -1, np.int64)
    words = np.empty(cap * per_record, np.uint64)
    off = np.empty(cap, np.int64)
    lo = np.empty(cap, np.int32)
    nw = np.empty(cap, np.int32)
    state = np.empty(cap, np.int32)
    hashes = np.empty(cap, np.uint64)
    stuck_state = np.empty(stuck_limit, np.int32)
    stuck_bits = np.empty(stuck_limit * W, np.uint64)
    regs[:] = 0
    regs[R_E] = nxt[E]
    regs[R_FAILPOS] = -1
    regs[R_W] = W
    regs[R_OKW] = OKW
    regs[R_HI] = -1
    regs[R_NOK] = n_ok
    fixed = table.nbytes + 8 * (2 * n + 3 * E) + 4 * 8 * size
    while True:
        code = wgl_kernel(ent_call, ent_ret, ent_pos, ret_entry, is_ok, kind, blind, pure, twin, bitpos, full, zob,
                          table, nxt, prv, bits, hreg, stack_e, stack_s, stack_since, stack_phase, best, crash_stack,
                          slots, words, off, lo, nw, state, hashes, stuck_state, stuck_bits, regs,
                          max_steps - regs[R_STEPS])
        if code != MEMO_FULL:
            break
        count = regs[R_MEMO]
        grow_index = count >= len(state)
        grow_words = regs[R_WUSED] + W > len(words)
        new_cap = len(state) * (2 if grow_index else 1)
        new_words = max(len(words) * (2 if grow_words else 1), regs[R_WUSED] + W)
        memo_bytes = slots.nbytes + words.nbytes + off.nbytes + lo.nbytes + nw.nbytes + state.nbytes + hashes.nbytes
        projected = fixed + memo_bytes + (new_cap * 44 if grow_index else 0) + (new_words * 8 if grow_words else 0)
        if projected > memory_limit:
            break
        if grow_words:
            words = _grown(words, new_words)
        if grow_index:
            off = _grown(off, new_cap)
            lo = _grown(lo, new_cap)
            nw = _grown(nw, new_cap)
            state = _grown(state, new_cap)
            hashes = _grown(hashes, new_cap)
            slots = np.full(2 * new_cap, -1, np.int64)
            rehash(hashes, count, slots)
    return code, stuck_state, stuck_bits, best, bitpos


@njit(cache=True)
def _grown(a, size):
    """``a`` copied into a new array of ``size`` elements (the rest uninitialised)."""
    out = np.empty(size, a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True)
def linked_list(size):
    """``nxt`` and ``prv`` of the entry list: entry e links forward to e + 1 and back to e - 1, the head is index
    ``size``, and -1 ends the list."""
    nxt = np.arange(1, size + 2).astype(np.int32)
    prv = np.arange(-1, size).astype(np.int32)
    if size:
        nxt[size - 1] = -1
        nxt[size] = 0
        prv[0] = size
    else:
        nxt[0] = -1
    prv[size] = -1
    return nxt, prv


@njit(cache=True)
def rehash(arena_hash, count, slots):
    """Rebuild the slot index after the arena grew."""
    mask = np.uint64(len(slots) - 1)
    for i in range(count):
        slot = arena_hash[i] & mask
        while slots[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        slots[slot] = i


# -- the compositional search (one object whose calls all have footprints; see reference.py) ---------------------
#
# The same walk, with three changes of representation: a state per footprint (``sv``), the linearized calls laid out
# footprint by footprint (call ``c`` is bit ``bitpos[c]``; footprint ``f`` owns words ``flo[f]`` to
# ``flo[f] + fwords[f]``) with a Zobrist hash per footprint (``fh``), and a memo that holds only dead ends, each a
# record (footprint's state, its words from ``flo[f]``) in the main kernel's layout with no crash words.  State
# ids belong to one footprint each (the table is per footprint), so the state id alone says whose words a record
# holds.



@njit(cache=True)
def _dead_by_crash(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask, fhash, sid,
                   bits, lo, nw, zob, bitpos, foot, f, crash_stack, ncrash):
    """Is a dead end remembered with one crashed call of footprint ``f`` fewer, in the same state?"""
    for i in range(ncrash):
        c = crash_stack[i]
        if foot[c] != f:
            continue
        b = bitpos[c]
        bit = np.uint64(1) << np.uint64(b & 63)
        bits[b >> 6] &= ~bit
        slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                              _mix(fhash ^ zob[c], sid), sid, bits, lo, nw, 0, 0)
        bits[b >> 6] |= bit
        if found:
            return True
    return False


@njit(cache=True, nogil=True)
def split_kernel(ent_call, ent_ret, ret_entry, is_ok, kind, foot, bitpos, flo, fwords, zob, table,
                 nxt, prv, bits, fh, sv, stack_e, stack_s, stack_phase, crash_stack,
                 slots, arena_words, arena_off, arena_lo, arena_nw, arena_state, arena_hash, regs, max_steps):
    """Run the compositional search until it decides or needs Python; returns one of the codes above."""
    head = len(ent_call)
    mask = np.uint64(len(slots) - 1)
    cap = len(arena_state)
    wcap = len(arena_words)
    wused = regs[R_WUSED]
    e = regs[R_E]
    sp = regs[R_SP]
    nokdone = regs[R_NOKDONE]
    nmemo = regs[R_MEMO]
    nok = regs[R_NOK]
    ncrash = regs[R_NCRASH]
    phase = regs[R_PHASE]
    focus = _focus(nxt, ent_ret, ent_call, foot, head)
    steps = 0
    code = PAUSE
    while True:
        if nokdone == nok:
            code = VALID
            break
        if steps >= max_steps:
            break
        steps += 1
        if (e == -1 or ent_ret[e] == 1) and phase == 0:
            phase = 1
            e = nxt[head]
            continue
        blame = -1
        if e == -1 or ent_ret[e] == 1:
            # every focus call leads to a dead end: the focus projection is one (remember it)
            f = focus
            hv = _mix(fh[f], sv[f])
            slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                                  hv, sv[f], bits, flo[f], fwords[f], 0, 0)
            if not found:
                if nmemo >= cap or wused + fwords[f] > wcap:
                    code = MEMO_FULL
                    break
                slots[slot] = nmemo
                arena_hash[nmemo] = hv
                arena_state[nmemo] = sv[f]
                arena_off[nmemo] = wused
                arena_lo[nmemo] = flo[f]
                arena_nw[nmemo] = fwords[f]
                lo = flo[f]
                for w in range(fwords[f]):
                    arena_words[wused + w] = bits[lo + w]
                wused += fwords[f]
                nmemo += 1
            blame = f
        else:
            call = ent_call[e]
            if is_ok[call] == phase or foot[call] != focus:
                e = nxt[e]
                continue
            f = focus
            ns = table[sv[f], kind[call]]
            if ns == -2:
                regs[R_NEED] = sv[f]
                regs[R_NEEDK] = kind[call]
                code = NEED_ROW
                break
            if ns < 0:
                e = nxt[e]
                continue
            b = bitpos[call]
            bit = np.uint64(1) << np.uint64(b & 63)
            bits[b >> 6] |= bit
            nfh = fh[f] ^ zob[call]
            slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                                  _mix(nfh, ns), ns, bits, flo[f], fwords[f], 0, 0)
            if not found and (is_ok[call] == 0 or ncrash > 0):
                crash_stack[ncrash] = call
                found = _dead_by_crash(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words,
                                       mask, nfh, ns, bits, flo[f], fwords[f], zob, bitpos, foot, f, crash_stack,
                                       ncrash + 1 - is_ok[call])
            if found:
                bits[b >> 6] &= ~bit
                e = nxt[e]
                continue
            if is_ok[call] == 0:
                crash_stack[ncrash] = call
                ncrash += 1
            stack_e[sp] = e
            stack_s[sp] = sv[f]
            stack_phase[sp] = phase
            sp += 1
            sv[f] = ns
            fh[f] = nfh
            nokdone += is_ok[call]
            _unlink(nxt, prv, e)
            r = ret_entry[call]
            if r != -1:
                _unlink(nxt, prv, r)
            e = nxt[head]
            phase = 0
            if nokdone == nok:
                continue
            focus = _focus(nxt, ent_ret, ent_call, foot, head)
            if focus == f:
                continue
            g = focus
            slot, found = _lookup(slots, arena_hash, arena_state, arena_off, arena_lo, arena_nw, arena_words, mask,
                                  _mix(fh[g], sv[g]), sv[g], bits, flo[g], fwords[g], 0, 0)
            if not found:
                continue
            blame = g           # the new focus is already known to be a dead end
        # back to the nearest configuration whose focus is the blamed footprint
        invalid = False
        while True:
            if sp == 0:
                invalid = True
                break
            sp -= 1
            top = stack_e[sp]
            call = ent_call[top]
            g = foot[call]
            b = bitpos[call]
            bits[b >> 6] &= ~(np.uint64(1) << np.uint64(b & 63))
            fh[g] ^= zob[call]
            sv[g] = stack_s[sp]
            nokdone -= is_ok[call]
            if is_ok[call] == 0:
                ncrash -= 1
            r = ret_entry[call]
            if r != -1:
                _relink(nxt, prv, r)
            _relink(nxt, prv, top)
            if g == blame:
                e = nxt[top]
                phase = stack_phase[sp]
                focus = g
                break
        if invalid:
            regs[R_BLAME] = blame
            code = INVALID
            break
    regs[R_E] = e
    regs[R_SP] = sp
    regs[R_NOKDONE] = nokdone
    regs[R_MEMO] = nmemo
    regs[R_NCRASH] = ncrash
    regs[R_PHASE] = phase
    regs[R_WUSED] = wused
    regs[R_STEPS] += steps
    return code
