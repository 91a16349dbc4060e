"""Reading the operations Jepsen logs as it runs (``jepsen.log``), when no ``history.edn`` survived.

Every operation a Jepsen worker performs is also logged by ``jepsen.util/log-op``::

    INFO  jepsen.util - 3	:invoke	:read	nil
    2017-03-08 16:48:54,330{GMT}	INFO	[jepsen worker 3] jepsen.util: 3	:ok	:read	4
    INFO  jepsen.util - :nemesis	:info	:start	[:isolated {"n1" #{"n2"}}]

that is: process, type, f and value (an EDN value), separated by tabs -- or by runs of spaces in some
re-formatted logs, such as the etcd logs that Porcupine and ahorn's checker ship.  A full log holds many other
lines (startup, nemesis chatter, stack traces); they are skipped.  A line that *looks* like an op -- the
``jepsen.util`` marker followed by a process -- but cannot be read is an error with its line number, because
silently dropping an op would change the verdict.  As in Porcupine, an op's index is its position among the op
lines (0-based); text after the value (``log-op`` appends the op's ``:error``) is kept as ``:error``.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from ..errors import InputError
from ..history import Op, make_op
from .edn import parse_prefix, parse_value
from .lines import LineSource

MARKERS = ("jepsen.util - ", "jepsen.util: ")
_CACHE_LIMIT = 100_000
_PROCESS = re.compile(r"(?:\d+|:[^\s:]\S*)[\t ]")
_FIELDS = re.compile(r"(\S+)[\t ]+(\S+)[\t ]+(\S+)(?:[\t ]+|\Z)(.*)", re.S)


def op_text(line: str) -> str | None:
    """The part of a log line after the ``jepsen.util`` marker when it starts with a process, else None."""
    for marker in MARKERS:
        at = line.find(marker)
        if at >= 0:
            rest = line[at + len(marker):]
            if _PROCESS.match(rest):
                return rest.rstrip("\r\n")
    return None


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


def read_jepsen_log(lines: Iterable[bytes | str], path: str | None = None) -> Iterator[Op]:
    """Ops from the op lines of a Jepsen log, in order; every other line is skipped."""
    source = LineSource(lines, path)
    position = 0
    # Without index or time, the same op text ("3\t:invoke\t:read\tnil") comes back again and again: parse each
    # once.  Texts holding a map are not cached, so that no two ops share a mutable value.
    parsed: dict[str, dict[str, Any]] = {}
    for lineno, line in source.numbered:
        if "jepsen.util" not in line:
            continue
        text = op_text(line)
        if text is None:
            continue
        fields = parsed.get(text)
        if fields is None:
            fields = _parse(text, path, lineno)
            if "{" not in text and len(parsed) < _CACHE_LIMIT:
                parsed[text] = fields
        yield make_op(fields.copy(), position=position, line=lineno, path=path)
        position += 1


def format_log_line(op: Op) -> str:
    """One op as ``log-op`` writes it (used by tests, and handy for producing Porcupine-style logs)."""
    from .ednwrite import edn, edn_keyword
    process = edn_keyword(op.process) if isinstance(op.process, str) else edn(op.process)
    f = edn_keyword(op.f) if isinstance(op.f, str) else edn(op.f)
    text = f"INFO  jepsen.util - {process}\t:{op.type}\t{f}\t{edn(op.value)}"
    if op.extra and "error" in op.extra:
        text += "\t" + edn(op.extra["error"])
    return text
