"""Refusing an input from which no operation was read, instead of calling it an empty, valid history.

A file that holds text but yields no client operation was misread: the wrong ``--format``, a log without op
lines, ops whose processes are all named.  ``require_operations`` turns that into an ``InputError`` quoting the
first line and saying what the format expected, so that a checker never answers ``valid`` about a history it did
not read.  An input with no text at all is an empty history, which is fine.
"""
from __future__ import annotations

from ..errors import InputError
from ..history import History
from ..values import show
from .jepsen_log import is_txt_line, op_text

EXPECTED = {
    "edn": "EDN op maps such as {:type :invoke, :process 0, :f :read, :value nil}",
    "porcupine-kv": "EDN op maps such as {:process 0, :type :invoke, :f :get, :key \"1\", :value nil}",
    "json": 'a JSON array of op objects such as [{"type": "invoke", "process": 0, "f": "read", "value": null}]',
    "jsonl": 'JSON op objects, one a line, such as {"type": "invoke", "process": 0, "f": "read", "value": null}',
    "jepsen-log": "Jepsen log lines holding jepsen.util op lines such as "
                  "\"INFO  jepsen.util - 0<TAB>:invoke<TAB>:read<TAB>nil\"",
    "jepsen-txt": "history.txt lines such as \"0<TAB>:invoke<TAB>:read<TAB>nil\"",
}


def require_operations(history: History) -> list[str]:
    """Raise unless the history holds a client operation, is empty text, or holds only nemesis events (Knossos
    counts such a history as linearizable: nothing happened to check).  Events of other named processes and
    nothing else mean the processes were misread (JSON strings, say).  Returns notes to show."""
    if any(op.process is None or op.is_client for op in history.ops):
        return []
    first = history.meta.get("first_content")
    if first is None and not history.ops:
        return []
    expected = EXPECTED.get(history.format or "", "operations")
    if history.ops:
        op = next((op for op in history.ops if str(op.process) != "nemesis"), None)
        if op is None:
            return [f"no client operations: all {len(history.ops):,} events are the nemesis's"]
        raise InputError(f"no client operations found: all {len(history.ops):,} events have named processes "
                         f"such as {show(op.process)} (line {op.line})", path=history.source, line=op.line,
                         expected="operations of integer processes; named processes (:nemesis) never enter a "
                                  "model")
    lineno, text = first
    raise InputError(f"no operations found; line {lineno} looks like {describe_line(text)}", path=history.source,
                     line=lineno, expected=f"{expected} (read as {history.format})")


def describe_line(text: str) -> str:
    """What a line of text looks like, for a message: a guess at the format it belongs to, and its start."""
    shown = repr(text[:50] + ("..." if len(text) > 50 else ""))
    if op_text(text) is not None:
        kind = "a Jepsen log op line"
    elif "jepsen" in text and ("INFO" in text or "WARN" in text or "DEBUG" in text):
        kind = "a Jepsen log line"
    elif is_txt_line(text):
        kind = "a history.txt line"
    elif text.startswith("{\"") or text.startswith("[{\""):
        kind = "JSON"
    elif text[:1] in "{[(#":
        kind = "EDN"
    else:
        kind = "text"
    return f"{kind}: {shown}"
