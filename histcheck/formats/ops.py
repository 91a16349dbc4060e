"""Ops whose map has no ``:process``.

elle-cli and other tools write histories of completed operations without processes (a transactional history of
``:ok`` txns needs none), and checks that need no process read them.  Such an op keeps ``process`` None ("not
recorded"), is counted in a note, and is refused, naming its line, by checks that pair invocations with
completions by process (``require_processes``), such as the linearizability check.
"""
from __future__ import annotations

from ..errors import InputError
from ..history import History, Op, make_op
from .notes import ReadNotes


def op_without_process(fields: dict, position: int, line: int | None, path: str | None,
                       notes: ReadNotes | None) -> Op:
    """The op for ``fields`` after ``make_op`` refused it: with process None if the process was what was
    missing; any other problem is raised again as ``make_op`` reports it."""
    if "process" in fields:
        return make_op(fields, position=position, line=line, path=path)   # raises the real problem
    fields["process"] = None
    op = make_op(fields, position=position, line=line, path=path)
    if notes is not None:
        notes.add("no-process", line)
    return op


def require_processes(history: History, check: str = "the linearizability check") -> None:
    """Refuse a history with an op that has no process, naming the first one's line."""
    op = history.first_without_process()
    if op is not None:
        raise InputError(f"this operation has no :process, which {check} needs to pair invocations with "
                         "completions", path=history.source, line=op.line,
                         expected=":process on every operation (an integer, or :nemesis)")
