"""When a nemesis strikes: fault windows ``(start_s, stop_s)`` drawn from the run's seeded nemesis RNG.

* ``Every(interval, duration)``: a fault every ``interval`` seconds of calm, held ``duration`` seconds (Jepsen's
  default shape);
* ``RandomIntervals(gap, hold)``: calm and fault lengths drawn uniformly from ``(lo, hi)`` ranges;
* ``Sequence(windows)``: explicit windows, e.g. ``[(2, 5), (7, 9)]`` (scenarios use these).

A window whose stop falls after the time limit is ended by the final heal.  ``parse`` reads the CLI's spelling:
``every:3:2`` (interval 3 s, hold 2 s), ``random:1-4:1-3``, ``seq:2-5,7-9``, and refuses anything else (a word
where seconds belong, a hold of 0, a range backwards) as an input error; ``first_start`` lets the runner refuse a
schedule whose first fault would come after the time limit.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from histcheck.errors import InputError

Window = tuple[float, float]


class Schedule(Protocol):
    def windows(self, rng: random.Random, time_limit: float) -> list[Window]: ...

    def first_start(self) -> float:
        """The earliest second a fault can start (whatever the RNG draws)."""
        ...


@dataclass
class Every:
    """A fault every ``interval`` s of calm, held ``duration`` s; the first after ``first`` s (default interval)."""

    interval: float = 2.0
    duration: float = 3.0
    first: float | None = None

    def windows(self, rng: random.Random, time_limit: float) -> list[Window]:
        out, t = [], self.interval if self.first is None else self.first
        while t < time_limit:
            out.append((t, t + self.duration))
            t += self.duration + self.interval
        return out

    def first_start(self) -> float:
        return self.interval if self.first is None else self.first


@dataclass
class RandomIntervals:
    """Calm gaps and fault holds drawn uniformly from ``gap`` and ``hold`` (seconds, lo-hi)."""

    gap: Window = (1.0, 4.0)
    hold: Window = (1.0, 4.0)

    def windows(self, rng: random.Random, time_limit: float) -> list[Window]:
        out, t = [], rng.uniform(*self.gap)
        while t < time_limit:
            hold = rng.uniform(*self.hold)
            out.append((round(t, 3), round(t + hold, 3)))
            t += hold + rng.uniform(*self.gap)
        return out

    def first_start(self) -> float:
        return self.gap[0]


@dataclass
class Sequence:
    """Explicit fault windows."""

    fixed: list[Window] = field(default_factory=list)

    def windows(self, rng: random.Random, time_limit: float) -> list[Window]:
        return [w for w in self.fixed if w[0] < time_limit]

    def first_start(self) -> float:
        return min((w[0] for w in self.fixed), default=float("inf"))


SPELLING = "every:CALM:HOLD, random:A-B:C-D or seq:A-B,C-D (seconds)"


def _seconds(text: str, schedule: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"schedule {schedule!r}: {text!r} is not a number of seconds", expected=SPELLING) from None
    if not value >= 0 or value == float("inf"):
        raise InputError(f"schedule {schedule!r}: {text!r} is not a number of seconds", expected=SPELLING)
    return value


def _range(text: str, schedule: str, positive: bool) -> Window:
    lo_text, _, hi_text = text.partition("-")
    lo = _seconds(lo_text, schedule)
    hi = _seconds(hi_text, schedule) if hi_text else lo
    if hi < lo or (positive and hi <= 0):
        raise InputError(f"schedule {schedule!r}: {text!r} is not a range of seconds A-B with A <= B"
                         + (" and B > 0" if positive else ""), expected=SPELLING)
    return lo, hi


def parse(text: str | None) -> Schedule:
    """``every[:INTERVAL[:HOLD]]``, ``random[:GAP_LO-GAP_HI[:HOLD_LO-HOLD_HI]]``, ``seq:A-B,C-D``."""
    if not text:
        return Every()
    kind, *args = text.split(":")
    if kind == "every" and len(args) <= 2:
        values = [_seconds(a, text) for a in args]
        if len(values) == 2 and values[1] <= 0:
            raise InputError(f"schedule {text!r}: a fault must be held for some time", expected=SPELLING)
        return Every(*values)
    if kind == "random" and len(args) <= 2:
        ranges = [_range(a, text, positive=i == 1) for i, a in enumerate(args)]
        return RandomIntervals(*ranges)
    if kind in ("seq", "sequence") and len(args) == 1:
        windows = [_range(w, text, positive=True) for w in args[0].split(",")]
        if any(a == b for a, b in windows):
            raise InputError(f"schedule {text!r}: every window needs a start before its stop", expected=SPELLING)
        return Sequence(windows)
    raise InputError(f"unknown schedule {text!r}", expected=SPELLING)
