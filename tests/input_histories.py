"""Histories written for the input tests: a cas register simulated so that its verdict is known, and the same
history in every variant histcheck reads (EDN, JSON, history.txt, each jepsen.util log-line shape, any line end,
gzip).  Each op takes effect atomically at its completion, so the simulated history is linearizable; ``broken``
makes one read return a value nobody wrote."""
from __future__ import annotations

import gzip
import json
import random
from typing import Callable

from histcheck import formats
from histcheck.formats.jepsen_log import format_log_line, format_txt_line
from histcheck.history import Op
from histcheck.values import Keyword

NEMESIS = Keyword("nemesis")


def register_history(events: int, seed: int = 7, processes: int = 5, crash: float = 0.002) -> list[Op]:
    """About ``events`` events of a cas register starting at 0, with nemesis events and a few crashes (a crashed
    process is replaced by a new one, as Jepsen does)."""
    rng = random.Random(seed)
    value = 0
    live = list(range(processes))
    next_process = processes
    open_ops: dict[int, tuple[str, object]] = {}
    ops: list[Op] = []
    clock = 0

    def add(kind: str, process, f: str, v, extra=None) -> None:
        nonlocal clock
        clock += rng.randint(1_000, 900_000)
        ops.append(Op(kind, process, Keyword(f), v, index=len(ops), time=clock, extra=extra))

    while len(ops) < events:
        if rng.random() < 0.01:
            add("info", NEMESIS, rng.choice(["start", "stop"]), None)
            continue
        slot = rng.randrange(processes)
        p = live[slot]
        if p not in open_ops:
            f = rng.choice(["read", "write", "cas"])
            v = {"read": None, "write": rng.randrange(5), "cas": (rng.randrange(5), rng.randrange(5))}[f]
            open_ops[p] = (f, v)
            add("invoke", p, f, v)
            continue
        f, v = open_ops.pop(p)
        if rng.random() < crash:
            if f != "read" and rng.random() < 0.5:
                value = v if f == "write" else (v[1] if value == v[0] else value)
            add("info", p, f, v, {"error": Keyword("timeout")})
            live[slot] = next_process
            next_process += 1
        elif f == "read":
            add("ok", p, f, value)
        elif f == "write":
            value = v
            add("ok", p, f, v)
        elif value == v[0]:
            value = v[1]
            add("ok", p, f, v)
        else:
            add("fail", p, f, v)
    return ops


def broken(ops: list[Op]) -> list[Op]:
    """The same history with the last ok read returning 99, which no one wrote: not linearizable."""
    out = list(ops)
    i = max(i for i, op in enumerate(out) if op.type == "ok" and op.f == "read")
    op = out[i]
    out[i] = Op("ok", op.process, op.f, 99, index=op.index, time=op.time, extra=op.extra)
    return out


def _log(prefix: Callable[[Op, int], str], chatter: bool = True) -> Callable[[list[Op]], str]:
    def write(ops: list[Op]) -> str:
        lines = []
        for i, op in enumerate(ops):
            if chatter and i % 40 == 0:
                lines.append(f"2017-03-08 16:48:54,{i % 1000:03d}{{GMT}}\tINFO\t[jepsen nemesis] jepsen.core: "
                             f"something unrelated ({i})")
            body = format_log_line(op)[len("INFO  jepsen.util - "):]
            lines.append(prefix(op, i) + body)
        return "\n".join(lines) + "\n"
    return write


def _jsonl_string_processes(ops: list[Op]) -> str:
    """JSON lines whose process ids are strings ("3", ":nemesis"), as some harnesses write them."""
    out = []
    for line in formats.dumps(ops, "jsonl").splitlines():
        obj = json.loads(line)
        obj["process"] = str(obj["process"]) if isinstance(obj["process"], int) else ":" + obj["process"]
        out.append(json.dumps(obj))
    return "\n".join(out) + "\n"


TEXT_VARIANTS: dict[str, Callable[[list[Op]], str]] = {
    "edn": lambda ops: formats.dumps(ops, "edn"),
    "json": lambda ops: formats.dumps(ops, "json"),
    "jsonl": lambda ops: formats.dumps(ops, "jsonl"),
    "jsonl-string-processes": _jsonl_string_processes,
    "history.txt": lambda ops: "".join(format_txt_line(op) + "\n" for op in ops),
    "log-info-dash": _log(lambda op, i: "INFO  jepsen.util - "),
    "log-logback-colon": _log(lambda op, i: f"2017-03-08 16:48:54,{i % 1000:03d}{{GMT}}\tINFO\t"
                                            f"[jepsen worker {i % 5}] jepsen.util: "),
    "log-worker-space": _log(lambda op, i: f"INFO  [2016-04-11 09:20:11,{i % 1000:03d}] jepsen worker {i % 5} - "
                                           "jepsen.util "),
    "log-nanos-stamp": _log(lambda op, i: f"2016-04-11 09:20:11 INFO jepsen.util: [ {op.time} ] "),
}
DETECTED = {"edn": "edn", "json": "json", "jsonl": "jsonl", "jsonl-string-processes": "jsonl",
            "history.txt": "jepsen-txt"}
LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


def variant_bytes(ops: list[Op], variant: str, line_end: str = "lf", compressed: bool = False) -> bytes:
    text = TEXT_VARIANTS[variant](ops)
    if line_end != "lf":
        text = text.replace("\n", LINE_ENDS[line_end])
    data = text.encode()
    return gzip.compress(data, mtime=0) if compressed else data


def expected_format(variant: str) -> str:
    return DETECTED.get(variant, "jepsen-log")
