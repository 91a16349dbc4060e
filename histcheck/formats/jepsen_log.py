"""Reading the operations Jepsen prints as text: the op lines of its log (``jepsen.log``), and ``history.txt``.

Every operation a Jepsen worker performs is also logged by ``jepsen.util/log-op``, in one of these shapes
(all read, among any other log lines)::

    INFO  jepsen.util - 3	:invoke	:read	nil
    2017-03-08 16:48:54,330{GMT}	INFO	[jepsen worker 3] jepsen.util: 3	:ok	:read	4
    INFO  [2016-04-11 09:20:11,517] jepsen worker 1 - jepsen.util 1	:invoke	:txn	[[:r 1 nil]]
    INFO  jepsen.util: [ 546548968 ] 1	:ok	:read	3

that is: process, type, f and value (an EDN value), separated by tabs -- or by runs of spaces in some
re-formatted logs, such as the etcd logs that Porcupine and ahorn's checker ship.  The bracketed number some
logs put before the process is a nanosecond stamp and becomes the op's ``:time``.  A full log holds many other
lines (startup, nemesis chatter, stack traces); they are skipped and counted in a note.  A line that *looks*
like an op -- the ``jepsen.util`` marker followed by a process -- but cannot be read is an error with its line
number, because silently dropping an op would change the verdict; so is an EDN op map among the log lines.  As
in Porcupine, an op's index is its position among the op lines (0-based); text after the value (``log-op``
appends the op's ``:error``) is kept as ``:error``.

``history.txt``, which Jepsen writes beside ``history.edn``, has the same fields and no log prefix
(``3<TAB>:invoke<TAB>:write<TAB>4``); there every non-blank line must be an op.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from ..errors import InputError
from ..history import Op, make_op
from .edn import parse_prefix, parse_value
from .lines import LineSource
from .notes import ReadNotes

_CACHE_LIMIT = 100_000
_MARKER = "jepsen.util"
# After the marker: " - " (log4j), ": " (logback) or a lone space (Jepsen 0.2's "jepsen worker 1 - jepsen.util 1"),
# an optional bracketed stamp ("[ 546548968 ] ", nanoseconds), then the process and a tab or space.
_AFTER_MARKER = re.compile(r"(?: - |: | )(?:\[ *(\d+) *\] *)?(?=(?:\d+|:[^\s:]\S*)[\t ])")
_PROCESS = re.compile(r"(?:\d+|:[^\s:]\S*)[\t ]")
_TXT_LINE = re.compile(r"(?:\d+|:[^\s:]\S*)\t+:(?:invoke|ok|fail|info)\t")
_FIELDS = re.compile(r"(\S+)[\t ]+(\S+)[\t ]+(\S+)(?:[\t ]+|\Z)(.*)", re.S)
_EDN_OP = re.compile(r"\s*(?:\[\s*)?\{(?=.*:type\s+:(?:invoke|ok|fail|info)\b):(?:index|time|type|process|f|value)\b")


def op_text(line: str) -> str | None:
    """The op part of a log line (from its process on) when the line is a ``jepsen.util`` op line, else None."""
    found = _op_match(line)
    return None if found is None else line[found.end():].rstrip("\r\n")


def _op_match(line: str) -> re.Match | None:
    at = line.find(_MARKER)
    while at >= 0:
        m = _AFTER_MARKER.match(line, at + len(_MARKER))
        if m is not None:
            return m
        at = line.find(_MARKER, at + 1)
    return None


def is_txt_line(line: str) -> bool:
    """Whether a line reads like one of Jepsen's ``history.txt`` (process, tab, type keyword, tab...)."""
    return _TXT_LINE.match(line) is not None


def looks_like_edn_op(line: str) -> bool:
    """Whether a line holds an EDN op map (a sign that EDN follows a log header, which must not be skipped)."""
    return _EDN_OP.match(line) is not None


def _parse(text: str, path: str | None, line: int) -> dict[str, Any]:
    """process, type, f and value (and any :error) from the text after the marker."""
    m = _FIELDS.match(text)
    if m is None:
        raise InputError(f"cannot read the operation {text.strip()!r}", path=path, line=line,
                         expected="process, type, f and value separated by tabs or spaces")
    process_text, type_text, f_text, value_text = m.groups()
    if not type_text.startswith(":"):
        raise InputError(f"the type {type_text!r} is not a keyword", path=path, line=line,
                         expected=":invoke, :ok, :fail or :info")
    fields: dict[str, Any] = {
        "process": parse_value(process_text, path, line),
        "type": type_text[1:],
        "f": parse_value(f_text, path, line),
    }
    value_text = value_text.strip()
    if not value_text:
        raise InputError("the operation has no value", path=path, line=line, expected="an EDN value (or nil)")
    value, rest = parse_prefix(value_text, path, line)
    fields["value"] = value
    rest = rest.strip()
    if rest:
        fields["error"] = _error(rest, path, line)
    return fields


def _error(text: str, path: str | None, line: int) -> Any:
    """``log-op`` prints the error with ``str``: keep it as EDN when it reads as one value, else as text."""
    try:
        value, rest = parse_prefix(text, path, line)
    except InputError:
        return text
    return text if rest.strip() else value


class _Ops:
    """Op texts to ops, each distinct text parsed once: without index or time, the same op text
    ("3\t:invoke\t:read\tnil") comes back again and again.  Texts holding a map are not cached, so that no two
    ops share a mutable value."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.parsed: dict[str, dict[str, Any]] = {}
        self.position = 0

    def op(self, text: str, lineno: int, stamp: str | None = None) -> Op:
        fields = self.parsed.get(text)
        if fields is None:
            fields = _parse(text, self.path, lineno)
            if "{" not in text and len(self.parsed) < _CACHE_LIMIT:
                self.parsed[text] = fields
        fields = fields.copy()
        if stamp is not None:
            if len(stamp) > 30:
                raise InputError(f"the stamp before the process has {len(stamp):,} digits", path=self.path,
                                 line=lineno, expected="a nanosecond count such as [ 546548968 ]")
            fields["time"] = int(stamp)
        op = make_op(fields, position=self.position, line=lineno, path=self.path)
        self.position += 1
        return op


def read_jepsen_log(lines: Iterable[bytes | str], path: str | None = None,
                    notes: ReadNotes | None = None) -> Iterator[Op]:
    """Ops from the op lines of a Jepsen log, in order; every other non-blank line is counted in ``notes`` as
    skipped.  An EDN op map among the log lines is an error: it means an EDN history with a log line on top,
    and skipping it would drop operations."""
    source = LineSource.of(lines, path)
    ops = _Ops(path)
    parsed = ops.parsed
    skipped = first_skipped = 0
    after_marker = _AFTER_MARKER.match
    for lineno, line in source.numbered:
        at = line.find(_MARKER)
        found = None if at < 0 else (after_marker(line, at + 11) or _op_match(line))
        if found is not None and found.lastindex is None:   # the common case (no stamp), inline
            text = line[found.end():].rstrip("\r\n")
            fields = parsed.get(text)
            if fields is None:
                fields = _parse(text, path, lineno)
                if "{" not in text and len(parsed) < _CACHE_LIMIT:
                    parsed[text] = fields
            yield make_op(fields.copy(), position=ops.position, line=lineno, path=path)
            ops.position += 1
            continue
        if found is None:
            if not line.isspace():
                if not skipped:
                    first_skipped = lineno
                skipped += 1
                if line[:1] in "{[ \t" and looks_like_edn_op(line):
                    raise InputError("an EDN operation among the lines of a Jepsen log", path=path, line=lineno,
                                     expected="only log lines (or --format edn for an EDN history, without the "
                                              "lines that are not EDN)")
            continue
        yield ops.op(line[found.end():].rstrip("\r\n"), lineno, found.group(1))
    if skipped and notes is not None:
        notes.add("skipped", first_skipped, skipped)


def read_jepsen_txt(lines: Iterable[bytes | str], path: str | None = None,
                    notes: ReadNotes | None = None) -> Iterator[Op]:
    """Ops from Jepsen's ``history.txt``: every non-blank line is an op (process, type, f, value and perhaps an
    error, separated by tabs), so a line that is not one is an error naming it."""
    source = LineSource.of(lines, path)
    ops = _Ops(path)
    for lineno, line in source.numbered:
        if _PROCESS.match(line) is None:
            if line.isspace() or not line:
                continue
            raise InputError(f"cannot read {line.strip()[:60]!r} as an operation", path=path, line=lineno,
                             expected="process, type, f and value separated by tabs, as in Jepsen's history.txt")
        yield ops.op(line.rstrip("\r\n"), lineno)


def format_txt_line(op: Op) -> str:
    """One op the way Jepsen's ``history.txt`` writes it (process, type, f, value, error; tab-separated)."""
    from .ednwrite import edn, edn_keyword
    process = edn_keyword(op.process) if isinstance(op.process, str) else edn(op.process)
    f = edn_keyword(op.f) if isinstance(op.f, str) else edn(op.f)
    text = f"{process}\t:{op.type}\t{f}\t{edn(op.value)}"
    if op.extra and "error" in op.extra:
        text += "\t" + edn(op.extra["error"])
    return text


def format_log_line(op: Op) -> str:
    """One op as ``log-op`` writes it (used by tests, and handy for producing Porcupine-style logs)."""
    from .ednwrite import edn, edn_keyword
    process = edn_keyword(op.process) if isinstance(op.process, str) else edn(op.process)
    f = edn_keyword(op.f) if isinstance(op.f, str) else edn(op.f)
    text = f"INFO  jepsen.util - {process}\t:{op.type}\t{f}\t{edn(op.value)}"
    if op.extra and "error" in op.extra:
        text += "\t" + edn(op.extra["error"])
    return text
