"""When a nemesis strikes: fault windows ``(start_s, stop_s)`` drawn from the run's seeded nemesis RNG.

* ``Every(interval, duration)``: a fault every ``interval`` seconds of calm, held ``duration`` seconds (Jepsen's
  default shape);
* ``RandomIntervals(gap, hold)``: calm and fault lengths drawn uniformly from ``(lo, hi)`` ranges;
* ``Sequence(windows)``: explicit windows, e.g. ``[(2, 5), (7, 9)]`` (scenarios use these).

A window whose stop falls after the time limit is ended by the final heal.  ``parse`` reads the CLI's spelling:
``every:3:2`` (interval 3 s, hold 2 s), ``random:1-4:1-3``, ``seq:2-5,7-9``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

Window = tuple[float, float]


class Schedule(Protocol):
    def windows(self, rng: random.Random, time_limit: float) -> list[Window]: ...


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


@dataclass
class Sequence:
    """Explicit fault windows."""

    fixed: list[Window] = field(default_factory=list)

    def windows(self, rng: random.Random, time_limit: float) -> list[Window]:
        return [w for w in self.fixed if w[0] < time_limit]


def _range(text: str) -> Window:
    lo, _, hi = text.partition("-")
    return float(lo), float(hi or lo)


def parse(text: str | None) -> Schedule:
    """``every[:INTERVAL[:HOLD]]``, ``random[:GAP_LO-GAP_HI[:HOLD_LO-HOLD_HI]]``, ``seq:A-B,C-D``."""
    if not text:
        return Every()
    kind, *args = text.split(":")
    if kind == "every":
        return Every(*(float(a) for a in args[:2]))
    if kind == "random":
        return RandomIntervals(*(_range(a) for a in args[:2]))
    if kind in ("seq", "sequence"):
        return Sequence([_range(w) for w in args[0].split(",")] if args else [])
    raise ValueError(f"unknown schedule {text!r} (every:I:H, random:A-B:C-D, seq:A-B,C-D)")
