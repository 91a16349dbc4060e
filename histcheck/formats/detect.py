"""Telling the format of a history file from its first bytes, so that ``histcheck check FILE`` just works.

People hand us whatever their test left behind: ``history.edn`` from Jepsen, a Knossos data file, JSON from
elle-cli or a home-grown harness, a ``jepsen.log`` when the history was lost, Porcupine's test data.  The
content decides, not the name (``.txt`` and ``.log`` say little, and people rename files): we look at the first
non-blank, non-comment text:

* ``{"`` on a line: JSON lines; ``[`` then ``{"`` (or ``[]`` in a ``.json`` file): a JSON array;
* ``{:``, ``[{:``, ``(``, ``#``: EDN -- and Porcupine's kv flavour of it when the first ops all carry a
  ``:key``, have no ``:index`` and use get/put/append;
* a process, a tab and a type keyword (``3<TAB>:invoke<TAB>...``): Jepsen's ``history.txt``;
* anything else: a log, if a ``jepsen.util`` op line turns up in the first few thousand lines, or if the first
  line starts like a log line (a date and time, or a level such as ``INFO``): a Jepsen log may spend thousands
  of lines setting up before its first op.

The extension only breaks ties: an empty file, ``[]``, or a log with no op line yet.  A file that fits nothing
is an ``InputError`` naming the line we gave up on, rather than a silently empty history.  Detection reads from
an ``Input``, which keeps the lines it reads for the reader: a pipe is read once.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .jepsen_log import is_txt_line, op_text
from .lines import Input, LineSource, open_input

FORMATS = ("edn", "json", "jsonl", "jepsen-log", "jepsen-txt", "porcupine-kv")
SNIFF_LINES = 5000
KV_SNIFF_LINES = 50
_LOG_LINE = re.compile(r"(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d|(?:INFO|WARN|DEBUG|ERROR|TRACE)\b)")
_BY_EXTENSION = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".edn": "edn", ".log": "jepsen-log"}


def detect(path: str | Path) -> str:
    """The format of the history at ``path`` (gzip or not; ``-`` is standard input): one of ``FORMATS``."""
    with open_input(path) as opened:
        return detect_input(opened, suffix_of(path))


def detect_input(opened: Input, suffix: str = "") -> str:
    """The format of an opened input; the lines read to decide stay in ``opened.head`` for the reader."""
    return detect_lines(opened.head_lines(), opened.name, suffix)


def suffix_of(path: str | Path) -> str:
    """The extension that breaks ties, under any ``.gz``."""
    p = Path(str(path))
    if p.suffix.lower() == ".gz":
        p = p.with_suffix("")
    return p.suffix.lower()


def detect_lines(lines: Iterable[bytes | str], path: str | None = None, suffix: str = "") -> str:
    """The format of a history given as lines (the first ``SNIFF_LINES`` at most are read)."""
    source = LineSource(lines, path)
    head: list[str] = []
    first: str | None = None
    first_line = 0
    for line in source:
        head.append(line)
        stripped = line.strip()
        if first is None and stripped and not stripped.startswith(";"):
            first, first_line = stripped, source.lineno
            if first[0] in "{[(#":
                return _structured(first, head, source, suffix)
            if is_txt_line(line):
                return "jepsen-txt"
        if "jepsen.util" in line and op_text(line) is not None:
            return "jepsen-log"
        if len(head) >= SNIFF_LINES:
            break
    if first is None:
        return _BY_EXTENSION.get(suffix, "edn")
    if suffix in (".log", ".txt") or _LOG_LINE.match(first):
        return "jepsen-log"   # a log whose op lines come later (a long setup), or never: the reader will say
    raise InputError(f"cannot tell what kind of history this is from {first[:40]!r}", path=path,
                     line=first_line, expected="EDN ({:type ...} or [{...}]), JSON ([{\"type\": ...}] or JSON "
                                               "lines) or a Jepsen log with jepsen.util op lines")


def _structured(first: str, head: list[str], source: LineSource, suffix: str) -> str:
    """EDN or JSON, from the first meaningful line (and more lines for the kv check)."""
    if first[0] == "{" and first[1:].lstrip().startswith('"'):
        return "jsonl"
    if first[0] == "[":
        inner = first[1:].lstrip()
        if not inner:
            inner = _next_meaningful(source)
        if (inner[:1] == "{" and inner[1:].lstrip().startswith('"')) or (inner.startswith("]") and suffix == ".json"):
            return "json"
        return "edn"
    if first[0] == "{" and _is_kv(head, source):
        return "porcupine-kv"
    return "edn"


def _next_meaningful(source: LineSource) -> str:
    for line in source:
        stripped = line.strip()
        if stripped:
            return stripped
    return ""


def _is_kv(head: list[str], source: LineSource) -> bool:
    """Read the first few maps as EDN and check Porcupine's kv conventions."""
    from .edn import read_edn
    from .porcupine_kv import looks_like_kv

    for line in source:
        head.append(line)
        if len(head) >= KV_SNIFF_LINES:
            break
    try:
        ops = list(read_edn(head))
    except InputError:  # a map cut off by the sniffing limit, or a bad file the EDN reader will report
        return False
    return looks_like_kv(ops, "".join(head))
