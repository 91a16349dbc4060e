"""What a reader noticed besides operations, counted so that nothing an input holds is dropped silently.

A reader that skips a line, reads a process id by a rule, or meets an op without a process says so here; each
kind of event is counted with the line of its first occurrence, and becomes one note on the history
(``History.meta["notes"]``), which the CLI prints with the result.  Counting costs a dict update per event, and
events are rare in a clean history.
"""
from __future__ import annotations

_MESSAGES = {
    "skipped": "skipped {n} line{s} that {are} not {an}operation{s}, the first at line {line}",
    "no-process": "{n} operation{s} {have} no :process, the first at line {line}",
    "digit-process": "{n} process id{s} written as a string of digits {were} read as integer{s}, the first at "
                     "line {line}",
    "named-process": "{n} process id{s} written as a string that is not a number {were} read as naming a "
                     "process (like :nemesis, never given to a model), the first at line {line}",
    "index-repeated": "{n} operation{s} repeat an :index already used, the first at line {line}; events are "
                      "taken in file order",
    "index-backwards": "{n} operation{s} {have} an :index lower than the one before, the first at line {line}; "
                       "events are taken in file order",
}


class ReadNotes:
    """Counts of noted events by kind, with the first line of each."""

    __slots__ = ("counts", "first")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, int | None] = {}

    def add(self, kind: str, line: int | None, n: int = 1) -> None:
        if kind not in self.counts:
            self.counts[kind] = 0
            self.first[kind] = line
        self.counts[kind] += n

    def count(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def messages(self) -> list[str]:
        out = []
        for kind, n in self.counts.items():
            plural = n != 1
            out.append(_MESSAGES[kind].format(n=f"{n:,}", line=self.first[kind], s="s" if plural else "",
                                              are="are" if plural else "is", have="have" if plural else "has",
                                              were="were" if plural else "was", an="" if plural else "an "))
        return out
