"""How fast histcheck reads histories, per format, against edn_format (the general-purpose EDN library).

Real Jepsen histories run to millions of ops, so reading must not be the slow part of checking one.  This script
writes synthetic histories shaped like the real thing -- a Jepsen >= 0.2 ``history.edn`` of a compare-and-set
register (one ``{:index .., :time .., :type .., :process .., :f .., :value ..}`` per line, nemesis events,
``:error`` on crashed ops), a set workload (a new value in every op), the register ops as a Knossos-style vector
without index or time, as JSON lines, a JSON array, a Jepsen log (with timestamps, thread names and unrelated
lines in between) and a Porcupine kv file, plus every other variant the readers take (Jepsen's history.txt, the
``jepsen worker N - jepsen.util N`` and ``jepsen.util: [ nanos ]`` log lines, CRLF and CR-only line ends, gzip,
JSON with string process ids) -- then times ``histcheck.formats.load`` on each (best of ``--repeat``
runs, wall and CPU time), ``history.make_op`` alone (the floor no parser can go below), and edn_format on a
slice of the EDN file (it is too slow for all of it).  The corpus in ../shared/corpus, when present, is timed
too.  The machine is shared: compare rows of one run, and prefer the CPU column when the load is high.

    .venv/bin/python benchmarks/parse_speed.py [--ops 200000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from histcheck import formats  # noqa: E402
from histcheck.formats.ednwrite import format_op  # noqa: E402
from histcheck.formats.jepsen_log import format_log_line, format_txt_line  # noqa: E402
from histcheck.formats.porcupine_kv import format_kv_line  # noqa: E402
from histcheck.history import Op  # noqa: E402
from histcheck.values import Keyword  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def register_ops(n: int, seed: int = 1) -> list[Op]:
    """A plausible cas-register history: 10 processes, read/write/cas, some crashes, a nemesis."""
    rng = random.Random(seed)
    ops: list[Op] = []
    open_f: dict[int, tuple[str, object]] = {}
    clock = 0
    while len(ops) < n:
        clock += rng.randint(10_000, 3_000_000)
        if rng.random() < 0.01:
            f = rng.choice(["start", "stop"])
            ops.append(Op("info", Keyword("nemesis"), Keyword(f), None, index=len(ops), time=clock))
            continue
        p = rng.randrange(10)
        if p in open_f:
            f, value = open_f.pop(p)
            kind = rng.choices(["ok", "fail", "info"], [85, 10, 5])[0]
            extra = {"error": Keyword("timeout")} if kind == "info" else None
            if f == "read" and kind == "ok":
                value = rng.randrange(5)
            ops.append(Op(kind, p, Keyword(f), value, index=len(ops), time=clock, extra=extra))
        else:
            f = rng.choice(["read", "write", "cas"])
            value = {"read": None, "write": rng.randrange(5), "cas": (rng.randrange(5), rng.randrange(5))}[f]
            open_f[p] = (f, value)
            ops.append(Op("invoke", p, Keyword(f), value, index=len(ops), time=clock))
    return ops


def set_ops(n: int, seed: int = 3) -> list[Op]:
    """A Jepsen set workload: every add carries a new element, so no two op lines are alike."""
    rng = random.Random(seed)
    ops: list[Op] = []
    clock = 0
    for i in range(n):
        clock += rng.randint(10_000, 3_000_000)
        ops.append(Op("invoke" if i % 2 == 0 else rng.choice(["ok", "ok", "ok", "fail", "info"]), (i // 2) % 10,
                      Keyword("add"), i // 2, index=i, time=clock))
    return ops


def kv_ops(n: int, seed: int = 2) -> list[Op]:
    """Porcupine-style kv ops: string keys and values, no index or time."""
    rng = random.Random(seed)
    ops = []
    for i in range(n):
        f = rng.choice(["get", "put", "append"])
        value = f"x {rng.randrange(50)} {i} y"
        ops.append(Op(rng.choice(["invoke", "ok"]), rng.randrange(10), Keyword(f), value, index=i,
                      extra={"key": str(rng.randrange(10))}))
    return ops


def write_files(folder: Path, n: int) -> dict[str, Path]:
    """Every benchmark file, keyed by a label."""
    ops = register_ops(n)
    files = {label: folder / name for label, name in [
        ("edn stream (Jepsen history.edn)", "history.edn"), ("edn stream, set workload", "set.edn"),
        ("edn vector (Knossos)", "knossos.edn"),
        ("jsonl", "history.jsonl"), ("json array", "history.json"), ("jepsen-log", "jepsen.log"),
        ("porcupine-kv", "kv.txt")]}
    files.update({label: folder / name for label, name in [
        ("jepsen-txt (history.txt)", "history.txt"), ("jepsen-log, worker N - jepsen.util N", "worker.log"),
        ("jepsen-log, jepsen.util: [ nanos ] N", "nanos.log"), ("jepsen-log, CR-only line ends", "cr.log"),
        ("edn stream, CRLF line ends", "crlf.edn"), ("edn stream, gzip", "history.edn.gz"),
        ("jsonl, string process ids", "strings.jsonl")]})
    formats.write(ops, files["edn stream (Jepsen history.edn)"], "edn")
    formats.write(set_ops(n), files["edn stream, set workload"], "edn")
    formats.write(ops, files["jsonl"], "jsonl")
    formats.write(ops, files["json array"], "json")
    _write_knossos(ops, files["edn vector (Knossos)"])
    _write_log(ops, files["jepsen-log"])
    files["porcupine-kv"].write_text("".join(format_kv_line(op) + "\n" for op in kv_ops(n)))
    _write_new_variants(ops, files)
    return files


def _write_new_variants(ops: list[Op], files: dict[str, Path]) -> None:
    import gzip
    import json
    files["jepsen-txt (history.txt)"].write_text("".join(format_txt_line(op) + "\n" for op in ops))
    _write_log(ops, files["jepsen-log, worker N - jepsen.util N"],
               lambda op, i: f"INFO  [2016-04-11 09:20:11,{i % 1000:03d}] jepsen worker {i % 10} - jepsen.util ")
    _write_log(ops, files["jepsen-log, jepsen.util: [ nanos ] N"],
               lambda op, i: f"2016-04-11 09:20:11 INFO jepsen.util: [ {op.time} ] ")
    log = files["jepsen-log"].read_bytes()
    files["jepsen-log, CR-only line ends"].write_bytes(log.replace(b"\n", b"\r"))
    edn = files["edn stream (Jepsen history.edn)"].read_bytes()
    files["edn stream, CRLF line ends"].write_bytes(edn.replace(b"\n", b"\r\n"))
    files["edn stream, gzip"].write_bytes(gzip.compress(edn, compresslevel=6))
    with files["jsonl, string process ids"].open("w") as out:
        for line in files["jsonl"].read_text().splitlines():
            obj = json.loads(line)
            obj["process"] = str(obj["process"])
            out.write(json.dumps(obj) + "\n")


def _write_knossos(ops: list[Op], path: Path) -> None:
    lines = []
    for op in ops:
        line = format_op(Op(op.type, op.process, op.f, op.value, index=op.index, extra=op.extra))
        lines.append(" {" + line[line.index(", ") + 2:])
    lines[0] = "[" + lines[0][1:]
    path.write_text("\n".join(lines) + "]\n")


def _write_log(ops: list[Op], path: Path, prefix: Callable[[Op, int], str] | None = None) -> None:
    """A log with unrelated lines in between; ``prefix`` replaces the ``... jepsen.util - `` before the op."""
    with path.open("w") as out:
        for i, op in enumerate(ops):
            if i % 50 == 0:
                out.write(f"2017-03-08 16:48:54,{i % 1000:03d}{{GMT}}\tINFO\t[jepsen nemesis] jepsen.core: "
                          "something unrelated happened\n")
            line = format_log_line(op)
            if prefix is None:
                out.write(f"2017-03-08 16:48:54,{i % 1000:03d}{{GMT}}\tINFO\t[jepsen worker 1] " + line[6:] + "\n")
            else:
                out.write(prefix(op, i) + line[len("INFO  jepsen.util - "):] + "\n")


def best(fn: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """(ops, best wall seconds, best CPU seconds)."""
    walls, cpus, count = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        count = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return count, min(walls), min(cpus)


def edn_format_count(path: Path, limit: int) -> int:
    import edn_format
    with path.open() as f:
        text = "".join(line for _, line in zip(range(limit), f))
    return len(edn_format.loads_all(text))


def make_op_floor(n: int) -> int:
    """``history.make_op`` alone on ready-made fields: the part of reading that no parser can save."""
    from histcheck.history import make_op
    fields = {"index": 0, "time": 1, "type": Keyword("ok"), "process": 3, "f": Keyword("read"), "value": 2}
    for i in range(n):
        make_op(fields, position=i, line=i, path="x")
    return n


def corpus_count() -> int:
    return sum(len(formats.load(p)) for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix in
               (".edn", ".log", ".txt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--edn-format-ops", type=int, default=5_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.ops)
        for label, path in files.items():
            detected = formats.detect(path)
            rows.append((f"histcheck {label} [{detected}]",
                         *best(lambda p=path: len(formats.load(p)), args.repeat)))
        rows.append(("floor: history.make_op alone (no parsing)", *best(lambda: make_op_floor(args.ops),
                                                                        args.repeat)))
        edn_file = files["edn stream (Jepsen history.edn)"]
        rows.append(("edn_format (ply) on the same history.edn",
                     *best(lambda: edn_format_count(edn_file, args.edn_format_ops), 1)))
    if CORPUS.is_dir():
        rows.append(("histcheck whole corpus (231 small files)", *best(corpus_count, args.repeat)))
    print(f"{'reader':58} {'ops':>9} {'wall ops/s':>12} {'cpu ops/s':>12}")
    for label, count, wall, cpu in rows:
        print(f"{label:58} {count:9d} {count / wall:12,.0f} {count / cpu:12,.0f}")


if __name__ == "__main__":
    main()
