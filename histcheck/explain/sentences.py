"""The verdict in sentences that a person can check by hand against the history.

Elle's lesson is that an anomaly report is read by someone holding the history file: every claim should name
operations by process, what they did and their ``:index``, so that each sentence can be verified with a text
editor.  This module turns a ``Result`` (and the ``History`` it came from) into such sentences:

* the operation that cannot be linearized, with where it was invoked and where it returned;
* for register-like histories (read/write/cas, get/put): the write that must precede it in real time, where its
  observed value was last written, and which operations could still change the state in between;
* the candidate states of the model just before it returned (``configs``), each with its pending operations;
* why no order of the pending operations works (``final_paths``), step by step;
* for ``unknown``: the cause and what to try; for ``valid``: one line.

Nothing here searches: everything comes from the result's data and from reading the history.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..values import show

READS = frozenset(("read", "get"))
WRITES = frozenset(("write", "put"))
MUTATIONS = frozenset(("write", "put", "cas", "append", "acquire", "release", "enqueue", "dequeue", "add",
                       "incr", "add-and-get", "txn"))


def explain(history: Any, result: Any, counterexample: Any = None) -> str:
    """The whole explanation: verdict, minimal counterexample first, then the reasoning."""
    return "\n".join(explain_lines(history, result, counterexample)) + "\n"


def explain_lines(history: Any, result: Any, counterexample: Any = None) -> list[str]:
    lines = [headline(result)]
    if result.valid is True:
        return lines
    if result.valid != "unknown" and result.failure is not None:
        if counterexample is not None:
            lines += [""] + counterexample_lines(counterexample)
        lines += ["", "What went wrong"] + failure_lines(history, result)
    lines += key_lines(result)
    if result.valid == "unknown":
        lines += [""] + unknown_lines(result)
    return lines


def headline(result: Any) -> str:
    init = "" if result.init is None else f" (initial value {show(result.init)})"
    if result.valid is True:
        return (f"Valid: the {result.ops} operations are linearizable for the {result.model} model{init}: "
                f"the checker found an order of them consistent with real time.")
    if result.valid is False:
        key = "" if result.failure is None or result.failure.key is None else f" on key {show(result.failure.key)}"
        return (f"INVALID: the history is not linearizable for the {result.model} model{init}{key}; "
                f"{result.ops} operations checked.")
    return (f"Unknown: the checker gave up ({cause_phrase(result.cause)}) before deciding whether the "
            f"{result.ops} operations are linearizable for the {result.model} model{init}.")


# -- operations in words --------------------------------------------------------------------------------------

def describe(op: dict | None, *, where: bool = True) -> str:
    """``process 70's read of 0 (invoked at index 488, ok at index 491)``."""
    if not op:
        return "no operation"
    text = f"process {show(op.get('process'))}'s {action(op)}"
    return text + f" ({span(op)})" if where else text


def action(op: dict) -> str:
    f, value = str(op.get("f")), op.get("value")
    if f in READS or f in WRITES:
        return f if value is None else f"{f} of {show(value)}"
    return f if value is None else f"{f} {show(value)}"


def span(op: dict) -> str:
    status, index, invoked = op.get("status") or op.get("type"), op.get("index"), op.get("invoke_index")
    if status in ("info", "open") or op.get("type") in ("info", "invoke"):
        crashed = f"crashed: :info at index {index}" if status == "info" else "never completed"
        return f"invoked at index {invoked if invoked is not None else index}, {crashed}"
    if invoked is None or invoked == index:
        return f"index {index}"
    return f"invoked at index {invoked}, {status} at index {index}"


def cause_phrase(cause: str | None) -> str:
    return {"time": "out of time", "memory": "out of memory", "interrupted": "interrupted"}.get(cause or "",
                                                                                            str(cause))


# -- the minimal counterexample --------------------------------------------------------------------------------

def counterexample_lines(ce: Any) -> list[str]:
    of = f"of the {ce.original_calls} on this key" if ce.key is not None else f"of {ce.original_calls}"
    claim = ("removing any one of them makes it linearizable" if ce.minimal
             else f"not proven minimal: {ce.note}")
    lines = [f"Minimal counterexample: {ce.calls} operation{'s' if ce.calls != 1 else ''} ({of}) that the "
             f"checker still rejects; {claim}. Indexes are those of the original history:"]
    lines += ["  " + line for line in ce.lines()]
    if getattr(ce, "context", None):
        from .minimize import show_op
        calls = sum(op.type == "invoke" for op in ce.context)
        lines += [f"The same failure, keeping for every value read an operation that wrote it ({calls} operations; "
                  f"none can be removed without losing that):"] + ["  " + show_op(op) for op in ce.context]
    return lines


# -- the failure ------------------------------------------------------------------------------------------------

def failure_lines(history: Any, result: Any) -> list[str]:
    failure = result.failure
    op = failure.op
    if op.get("index") is None:
        return ["No order of the operations, consistent with real time, lets the model return what they returned, "
                "but the operation where that first happens could not be located: "
                + " ".join(note for note in result.notes if "locating" in note)]
    lines = [f"{capital(describe(op))} cannot be linearized: no order of the operations before it, consistent "
             f"with real time, lets the {result.model} model return what it returned."]
    lines += register_lines(history, failure, result.init)
    lines += config_lines(failure)
    lines += path_lines(failure)
    if failure.previous_ok:
        lines.append(f"The last operation to complete successfully before it was {describe(failure.previous_ok)}.")
    return lines


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def config_lines(failure: Any) -> list[str]:
    if not failure.configs:
        return []
    states = sorted({c.state for c in failure.configs})
    lines = [f"Just before it returned, the model could only be in {len(states)} state"
             f"{'s' if len(states) != 1 else ''}: {', '.join(states)}."]
    for config in failure.configs[:8]:
        pending = [describe(p, where=False) for p in config.pending]
        rest = f" with {join(pending)} still pending" if pending else " with nothing pending"
        lines.append(f"  - state {config.state}{rest}.")
    if len(failure.configs) > 8 or failure.configs_truncated:
        lines.append(f"  - ... and more candidate states ({len(failure.configs)} listed in results.json).")
    return lines


def path_lines(failure: Any) -> list[str]:
    if not failure.final_paths:
        return []
    lines = ["No order of the pending operations works; every attempt ends in a contradiction:"]
    sentences = list(dict.fromkeys(path_sentence(path) for path in failure.final_paths))
    lines += ["  - " + sentence for sentence in sentences[:12]]
    if len(sentences) > 12:
        lines.append(f"  - ... {len(sentences) - 12} more orders, all listed in results.json.")
    return lines


def path_sentence(path: Iterable[Any]) -> str:
    parts = []
    for step in path:
        who = describe(_field(step, "op"), where=False)
        reason, state = _field(step, "reason"), _field(step, "state")
        if reason:
            parts.append(f"{who} is impossible ({reason})")
        else:
            parts.append(f"{who} leaves {state}")
    return "; then ".join(parts) + "."


def _field(step: Any, name: str) -> Any:
    return step.get(name) if isinstance(step, dict) else getattr(step, name, None)


def join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# -- register-like histories: which write, which pending operations ------------------------------------------

@dataclass
class _Call:
    process: Any
    f: str
    value: Any
    status: str
    invoke_index: int
    index: int
    start: int
    end: float

    def as_dict(self) -> dict:
        return {"process": self.process, "f": self.f, "value": self.value, "status": self.status,
                "invoke_index": self.invoke_index, "index": self.index,
                "type": self.status if self.status != "open" else "invoke"}


def register_lines(history: Any, failure: Any, init: Any) -> list[str]:
    """For a read (or get) that saw the wrong value: the write it must follow, and who wrote its value."""
    op = failure.op
    if history is None or str(op.get("f")) not in READS | LOCKS:
        return []
    calls = _key_calls(history, failure)
    me = next((c for c in calls if c.index == op.get("index") and c.process == op.get("process")), None)
    if me is None:
        return []
    if me.f in LOCKS:
        return _lock_story(calls, me)
    if any(c.f == "append" for c in calls) and isinstance(me.value, str):
        return _append_story(calls, me)
    if not any(c.f in WRITES or c.f == "cas" for c in calls):
        return []
    return _read_story(calls, me, init)


LOCKS = frozenset(("acquire", "release"))


def _lock_story(calls: list[_Call], me: _Call) -> list[str]:
    """For a mutex: who held the lock (or that nobody did) when the acquire (or release) began."""
    done = sorted((c for c in calls if c.f in LOCKS and c.status == "ok" and c.end < me.start and c is not me),
                  key=lambda c: c.end)
    last = done[-1] if done else None
    pending = [c for c in calls if c.f in LOCKS and c is not me and c.status != "fail" and c.start < me.end
               and c.end > (last.end if last else -1)]
    if me.f == "acquire" and last is not None and last.f == "acquire":
        lines = [f"{capital(describe(last.as_dict()))} was the last lock operation to complete before process "
                 f"{show(me.process)} invoked its acquire at index {me.invoke_index}: the lock was held then."]
        other = "release"
    elif me.f == "release" and (last is None or last.f == "release"):
        since = describe(last.as_dict()) if last else "the start of the history"
        lines = [f"The last lock operation to complete before process {show(me.process)} invoked its release at "
                 f"index {me.invoke_index} was {since}: the lock was free then."]
        other = "acquire"
    else:
        return []
    helpers = [c for c in pending if c.f == other]
    if helpers:
        return lines + [f"Operations that could still {other} it in between: {_some(helpers)}; with them the "
                        f"model still cannot order everything (see below)."]
    return lines + [f"No {other} overlaps the interval from there to index {me.index}."]


def _append_story(calls: list[_Call], me: _Call) -> list[str]:
    """For appends: what the read should have seen, because it had completed (or been read) before it began."""
    last_put = max((c for c in calls if c.f in WRITES and c.status == "ok" and c.end < me.start),
                   key=lambda c: c.end, default=None)
    floor = last_put.end if last_put is not None else -1
    missing = [c for c in calls if c.f == "append" and c.status == "ok" and floor < c.start and c.end < me.start
               and isinstance(c.value, str) and c.value not in me.value]
    seen = [c for c in calls if c.f in READS and c.status == "ok" and floor < c.start and c.end < me.start
            and isinstance(c.value, str) and not me.value.startswith(c.value)]
    lines = []
    if missing:
        they = "they" if len(missing) > 1 else "it"
        lines.append(f"It returned {show(me.value)}, which lacks {_some(missing)}: {they} completed after "
                     f"{_since(last_put)} and before process {show(me.process)} invoked its {me.f} at index "
                     f"{me.invoke_index}, so every order consistent with real time applies "
                     f"{'them' if len(missing) > 1 else 'it'} first.")
    if seen:
        earlier = max(seen, key=lambda c: c.end)
        lines.append(f"{capital(describe(earlier.as_dict()))} had already returned {show(earlier.value)} before "
                     f"this {me.f} was invoked, and {show(me.value)} does not extend it: a later read cannot see "
                     f"less.")
    puts = [c for c in calls if c.f in WRITES and c.status != "fail" and c.start < me.end and c.end > floor
            and c is not last_put]
    if lines and puts:
        lines.append(f"Only a {puts[0].f} in between could explain it: {_some(puts, 4)}; the candidate states "
                     f"below show that none does.")
    return lines


def _some(calls: list[_Call], limit: int = 5) -> str:
    more = f" (and {len(calls) - limit} more)" if len(calls) > limit else ""
    return join([describe(c.as_dict()) for c in calls[:limit]]) + more


def _since(put: _Call | None) -> str:
    return "the start of the history" if put is None else f"{describe(put.as_dict(), where=False)} (index {put.index})"


def _read_story(calls: list[_Call], me: _Call, init: Any) -> list[str]:
    lines = []
    before = [c for c in calls if c.status == "ok" and c.f in WRITES | {"cas"} and c.end < me.start]
    last = max(before, key=lambda c: c.end, default=None)
    if last is not None:
        lines.append(f"{capital(describe(last.as_dict(), where=False))} completed at index {last.index}, before "
                     f"process {show(me.process)} invoked its {me.f} at index {me.invoke_index}, so the {me.f} "
                     f"must be ordered after it; after it the register holds {show(_written(last))}.")
        lines += _writers_of(calls, me, last, init)
        lines += _changers(calls, me, last)
    return lines


def _written(call: _Call) -> Any:
    if call.f == "cas" and isinstance(call.value, (list, tuple)) and len(call.value) == 2:
        return call.value[1]
    return call.value


def _writers_of(calls: list[_Call], me: _Call, last: _Call, init: Any) -> list[str]:
    value = me.value
    writers = [c for c in calls if c.status != "fail" and c.f in WRITES | {"cas"} and _written(c) == value
               and c is not last and c.start < me.end]
    if not writers:
        origin = " (it is the initial value)" if value == init else ""
        return [f"No operation after index {last.index} could write {show(value)}{origin}."]
    late = [c for c in writers if c.end > last.end]
    if not late:
        latest = max(writers, key=lambda c: c.end)
        return [f"The last write of {show(value)} was {describe(latest.as_dict())}, which completed before "
                f"{describe(last.as_dict(), where=False)} began (index {last.invoke_index})."]
    return [f"Writes of {show(value)} that could still follow it: "
            f"{join([describe(c.as_dict()) for c in late[:5]])}."]


def _changers(calls: list[_Call], me: _Call, last: _Call) -> list[str]:
    between = [c for c in calls if c is not last and c is not me and c.f in MUTATIONS and c.status != "fail"
               and c.start < me.end and c.end > last.end]
    if not between:
        return [f"No other operation that changes the register overlaps the interval from index {last.index} "
                f"to index {me.index}."]
    listed = join([describe(c.as_dict()) for c in between[:6]])
    more = f" (and {len(between) - 6} more)" if len(between) > 6 else ""
    return [f"Between those two, the only operations that could change the register are {listed}{more}."]


def _key_calls(history: Any, failure: Any) -> list[_Call]:
    from .minimize import failing_units, _pos
    _, units = failing_units(history, failure)
    out = []
    for inv, comp in units:
        status = comp.type if comp is not None else "open"
        value = comp.value if comp is not None and status == "ok" and comp.value is not None else inv.value
        end = _pos(comp) if comp is not None and status in ("ok", "fail") else float("inf")
        out.append(_Call(inv.process, str(inv.f), value, status, inv.index,
                         comp.index if comp is not None else inv.index, _pos(inv), end))
    return out


# -- keys and unknown results ----------------------------------------------------------------------------------

def key_lines(result: Any) -> list[str]:
    keys = list(result.keys or [])
    if len(keys) <= 1:
        return []
    bad = [k for k in keys if k.valid is False]
    unknown = [k for k in keys if k.valid == "unknown"]
    text = f"Of {len(keys)} independent keys, {len(bad)} {'is' if len(bad) == 1 else 'are'} not linearizable"
    if bad:
        text += " (" + ", ".join(show(k.key) for k in bad[:10]) + (", ..." if len(bad) > 10 else "") + ")"
    if unknown:
        text += f" and {len(unknown)} could not be decided"
    return ["", text + "."]


ADVICE = {
    "time": ["Give the search more time (--time-limit, or time_limit= in histcheck.check).",
             "Crashed (:info) operations may take effect at any later moment, so each one multiplies the states to "
             "explore: a shorter history (check a prefix), or fewer concurrent processes, decides faster.",
             "If the history uses independent keys, keep partitioning on (the default) so that keys are checked "
             "one by one.",
             "For reads of nil on an absent key, nil_read='absent' constrains reads that nil_read='unknown' does not."],
    "memory": ["Allow more memory (--memory-limit, or memory_limit= in histcheck.check).",
               "Crashed (:info) operations are the usual cause: check a prefix of the history, or fewer keys at a "
               "time."],
    "interrupted": ["The check was interrupted (Ctrl-C or a signal) before it finished: run it again, with a "
                    "larger time limit if it was stopped for taking too long."],
}


def unknown_lines(result: Any) -> list[str]:
    lines = [f"Why unknown: {cause_phrase(result.cause)}.{_where_unknown(result)}", "What to try:"]
    return lines + ["  - " + tip for tip in ADVICE.get(result.cause or "", ["Run the check again."])]


def _where_unknown(result: Any) -> str:
    undecided = [k for k in result.keys or [] if k.valid == "unknown"]
    if not undecided:
        return f" The search ran for {result.seconds:.1f} s."
    k = max(undecided, key=lambda k: k.ops)
    key = f" on key {show(k.key)}" if k.key is not None else ""
    info = f" after exploring {k.explored:,} configurations" if k.explored else ""
    return f" The search stopped{key} ({k.ops} operations){info} after {k.seconds:.1f} s."
