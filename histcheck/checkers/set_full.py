"""Jepsen's ``checker/set-full``: adds of unique elements and reads of the whole set, every read judged.

For each element Jepsen follows a timeline, with real time given by the history's order:

* *known*: the add's ``:ok`` completion, or the first read observing the element if that completes earlier;
* the last read *invocation* that observed it, and the last one that did not;
* *stable* when the last read observing it began after the last read missing it: from then on it was always
  seen.  Its *stable latency* is the time from known to just after that last missing read began (0 when no read
  began after it was known and missed it), in milliseconds;
* *lost* when it was known and the last read missing it began after it was known and after every read that saw
  it: from then on it was never seen again;
* *never read* otherwise (no read began after it was known).

``stale`` elements are stable ones with a positive stable latency: a read that began after they were known missed
them.  Valid unless something is lost; unknown (cause ``no-stable-element``) when no element is stable, e.g. no
read ever began after an add completed; with option ``linearizable=true`` a stale element is invalid too.
histcheck adds two checks Jepsen's set-full leaves out: elements no add ever attempted (``unexpected``) and
elements a single read returns twice (``duplicated``) are invalid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checker.result import UNKNOWN, Anomaly, Result
from ..history import Call, History
from ..values import freeze
from .base import BOOLEAN, choice_option, client_invocations, take_options
from .set import LIMIT, element_ops, read_elements, shape_notes, sorted_elements

QUANTILES = (0, 0.5, 0.95, 0.99, 1)
WORST = 8


@dataclass
class Sighting:
    """A read as an element's timeline needs it: where its invocation is, and when."""

    pos: int
    time: int | None
    call: Call


@dataclass
class Element:
    """One element's timeline (Jepsen's SetFullElement)."""

    element: Any
    add: Call
    known_pos: float = float("inf")
    known_time: int | None = None
    known_call: Call | None = None
    last_present: Sighting | None = None
    last_absent: Sighting | None = None

    def learn(self, pos: int, time: int | None, call: Call) -> None:
        if pos < self.known_pos:
            self.known_pos, self.known_time, self.known_call = pos, time, call

    @property
    def known(self) -> bool:
        return self.known_call is not None

    @property
    def stable(self) -> bool:
        return self.last_present is not None and _pos(self.last_absent) < self.last_present.pos

    @property
    def lost(self) -> bool:
        return (self.known and self.last_absent is not None and _pos(self.last_present) < self.last_absent.pos
                and self.known_pos < self.last_absent.pos)

    def latency(self, since: Sighting | None) -> int | None:
        """Milliseconds from known to just after ``since`` began (0 without it); None without times."""
        if since is None:
            return 0
        if since.time is None or self.known_time is None:
            return None
        return max(0, since.time + 1 - self.known_time) // 1_000_000

    @property
    def stale(self) -> bool:
        if not self.stable or self.last_absent is None:
            return False
        latency = self.latency(self.last_absent)
        return latency > 0 if latency is not None else self.last_absent.pos > self.known_pos

    def outcome(self) -> str:
        return "stable" if self.stable else "lost" if self.lost else "never-read"


def _pos(sighting: Sighting | None) -> float:
    return -1 if sighting is None else sighting.pos


class SetFull:
    """Jepsen's set-full checker: lost, stale and never-read elements, and the latency to stable visibility."""

    name = "set-full"
    needs_process = True

    def check(self, history: History, **options: Any) -> Result:
        take_options(self.name, options, ("linearizable", "linearizable?"))
        linearizable = choice_option(self.name, options, "linearizable", BOOLEAN,
                                     choice_option(self.name, options, "linearizable?", BOOLEAN, False))
        elements, unexpected, duplicated, reads = self._timelines(history)
        by_outcome: dict[str, list[Element]] = {"stable": [], "lost": [], "never-read": []}
        for e in elements.values():
            by_outcome[e.outcome()].append(e)
        stale = [e for e in by_outcome["stable"] if e.stale]
        lost = by_outcome["lost"]
        valid: Any = True
        if lost or unexpected or duplicated or (linearizable and stale):
            valid = False
        elif not by_outcome["stable"]:
            valid = UNKNOWN
        details = self._details(elements, by_outcome, stale, unexpected, duplicated)
        anomalies = [self._lost(e) for e in _by_element(lost)[:LIMIT]]
        if linearizable:
            anomalies += [self._stale(e) for e in _by_element(stale)[:LIMIT]]
        anomalies += [Anomaly("unexpected", element_ops(call), {"element": e, "read_index": call.index})
                      for e, call in sorted(unexpected.items(), key=lambda kv: kv[1].call_pos)[:LIMIT]]
        anomalies += [Anomaly("duplicated", element_ops(call), {"element": e, "times": n, "read_index": call.index})
                      for e, (n, call) in list(duplicated.items())[:LIMIT]]
        notes = [f"{len(elements)} elements attempted, {reads} reads: stable {len(by_outcome['stable'])}, "
                 f"lost {len(lost)}, never read {len(by_outcome['never-read'])}, stale {len(stale)}"]
        notes += shape_notes(elements, unexpected) if unexpected else []
        cause = message = None
        if valid == UNKNOWN:
            cause = "no-stable-element"
            message = ("no element was seen by a read that began after every read missing it, so nothing can "
                       "be said: reads must follow the adds")
        return Result(valid, self.name, ops=client_invocations(history), analyzer=self.name, checker=self.name,
                      cause=cause, cause_message=message, anomalies=anomalies, details=details, notes=notes)

    def _timelines(self, history: History) -> tuple[dict[Any, Element], dict[Any, Call],
                                                     dict[Any, tuple[int, Call]], int]:
        """Walk the history in order: adds open timelines, ok reads update every open one."""
        calls = history.calls(include_failed=True)
        events: list[tuple[float, int, Call]] = []      # (position, 0 invoke / 1 completion, call)
        for call in calls:
            if call.f == "add":
                events.append((call.call_pos, 0, call))
                if call.status == "ok":
                    events.append((call.return_pos, 1, call))
            elif call.f == "read" and call.status == "ok":
                events.append((call.return_pos, 1, call))
        events.sort(key=lambda e: e[0])
        elements: dict[Any, Element] = {}
        attempted: set = {freeze(c.invoke.value) for c in calls if c.f == "add"}
        unexpected: dict[Any, Call] = {}
        duplicated: dict[Any, tuple[int, Call]] = {}
        reads = 0
        for pos, phase, call in events:
            if call.f == "add":
                element = freeze(call.invoke.value)
                if phase == 0:
                    elements.setdefault(element, Element(element, call))
                elif element in elements:
                    elements[element].learn(int(pos), call.complete.time, call)
                continue
            reads += 1
            values = read_elements(call, history.source, self.name)
            seen = set(values)
            self._doubles(values, seen, call, duplicated)
            for element in seen - attempted:
                unexpected.setdefault(element, call)
            sighting = Sighting(call.call_pos, call.invoke.time, call)
            for element, state in elements.items():
                if element in seen:
                    state.learn(int(pos), call.complete.time, call)
                    if _pos(state.last_present) < sighting.pos:
                        state.last_present = sighting
                elif _pos(state.last_absent) < sighting.pos:
                    state.last_absent = sighting
        return elements, unexpected, duplicated, reads

    @staticmethod
    def _doubles(values: list, seen: set, call: Call, duplicated: dict) -> None:
        if len(values) == len(seen):
            return
        counts: dict[Any, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        for v, n in counts.items():
            if n > 1 and n > duplicated.get(v, (0, None))[0]:
                duplicated[v] = (n, call)

    def _details(self, elements, by_outcome, stale, unexpected, duplicated) -> dict:
        stable_latencies = [lat for e in elements.values() if e.stable
                            and (lat := e.latency(e.last_absent)) is not None]
        lost_latencies = [lat for e in elements.values() if e.lost
                          and (lat := e.latency(e.last_present)) is not None]
        worst = sorted(stale, key=lambda e: e.latency(e.last_absent) or 0, reverse=True)[:WORST]
        details: dict[str, Any] = {
            "attempt-count": len(elements), "stable-count": len(by_outcome["stable"]),
            "lost-count": len(by_outcome["lost"]), "lost": sorted_elements(e.element for e in by_outcome["lost"]),
            "never-read-count": len(by_outcome["never-read"]),
            "never-read": sorted_elements(e.element for e in by_outcome["never-read"]),
            "stale-count": len(stale), "stale": sorted_elements(e.element for e in stale),
            "worst-stale": [self._describe(e) for e in worst],
            "unexpected-count": len(unexpected), "unexpected": sorted_elements(unexpected),
            "duplicated-count": len(duplicated),
            "duplicated": {repr(k) if not isinstance(k, (int, str)) else k: n
                           for k, (n, _) in duplicated.items()},
        }
        if stable_latencies:
            details["stable-latencies"] = distribution(stable_latencies)
        if lost_latencies:
            details["lost-latencies"] = distribution(lost_latencies)
        return details

    @staticmethod
    def _describe(e: Element) -> dict:
        return {"element": e.element, "outcome": e.outcome(), "stable-latency": e.latency(e.last_absent),
                "known": element_ops(e.known_call)[0] if e.known_call else None,
                "last-absent": element_ops(e.last_absent.call)[0] if e.last_absent else None}

    @staticmethod
    def _lost(e: Element) -> Anomaly:
        return Anomaly("lost", element_ops(e.add, e.last_present and e.last_present.call, e.last_absent.call),
                       {"element": e.element, "known_index": e.known_call.index if e.known_call else None,
                        "last_present_index": e.last_present.call.invoke.index if e.last_present else None,
                        "last_absent_index": e.last_absent.call.invoke.index,
                        "lost-latency": e.latency(e.last_present)})

    @staticmethod
    def _stale(e: Element) -> Anomaly:
        return Anomaly("stale", element_ops(e.known_call, e.last_absent.call),
                       {"element": e.element, "known_index": e.known_call.index if e.known_call else None,
                        "last_absent_index": e.last_absent.call.invoke.index,
                        "stable-latency": e.latency(e.last_absent)})


def _by_element(elements: list[Element]) -> list[Element]:
    try:
        return sorted(elements, key=lambda e: e.element)
    except TypeError:
        return sorted(elements, key=lambda e: repr(e.element))


def distribution(values: list[int]) -> dict[str, int]:
    """Jepsen's frequency-distribution: the value at each quantile of the sorted list."""
    ordered = sorted(values)
    n = len(ordered)
    return {str(q): ordered[min(n - 1, int(n * q))] for q in QUANTILES}
