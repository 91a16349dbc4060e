"""Elle's rw-register checker: transactions of ``[:w k v]`` and ``[:r k v]`` over registers with unique writes.

A register read shows one version, not its history, so the version order can only be inferred in part:

* every key starts at nil, and every version written or read comes after nil;
* with ``wfr-keys=true`` (writes follow reads), a transaction that read k = v1 and then wrote k = v2 shows v1 < v2.

From each inferred ``v1 < v2``: the writers of v1 precede the writers of v2 (ww) and the readers of v1 precede the
writers of v2 (rw); and the writer of the version a read saw precedes the reader (wr).  Only a transaction's
external reads (its first access of a key is a read) and external writes (its last write of a key) create
edges; the rest is checked inside the transaction (internal).  A crashed transaction whose write was read committed.

Anomalies without the graph: internal, G1a (read a failed write), G1b (read a write its transaction overwrote),
lost-update (two transactions read the same version and both wrote the key); garbage-read (a value nobody wrote)
only when asked for (``anomalies=garbage-read``), because Elle, and histories that preload data, accept such reads.
"""
from __future__ import annotations

from typing import Any

from ...checker.result import Anomaly
from ...values import to_plain
from .core import Analysis, Options, TxnChecker, mop_plain, txn_summary
from .graph import RW, WR, WW
from .txn import Txn

NIL = None


def external(t: Txn) -> tuple[dict, dict]:
    """A transaction's external reads (first access of the key is a read) and final writes, by key."""
    reads: dict = {}
    writes: dict = {}
    touched: set = set()
    for f, k, v in t.mops:
        if f == "r":
            if k not in touched:
                reads[k] = v
        else:
            writes[k] = v
        touched.add(k)
    return reads, writes


class RwRegisterAnalysis(Analysis):
    def __init__(self) -> None:
        super().__init__()
        self.ext: dict[int, tuple[dict, dict]] = {}
        self.successors: dict[Any, dict[Any, set]] = {}   # key -> version -> later versions (direct)

    def explain_data_edge(self, a: Txn, b: Txn, bit: int) -> dict:
        a_reads, a_writes = self.ext[a.id]
        b_reads, b_writes = self.ext[b.id]
        if bit == WR:
            for k, v in b_reads.items():
                if v is not NIL and a_writes.get(k, NIL) == v:
                    return {"key": to_plain(k), "value": to_plain(v)}
        source = a_writes if bit == WW else a_reads
        for k, v in source.items():
            if k in b_writes and b_writes[k] in self.successors.get(k, {}).get(v, ()):
                return {"key": to_plain(k), "value": to_plain(v), "value'": to_plain(b_writes[k])}
        raise AssertionError(f"no {bit} reason for edge {a} -> {b}")


class RwRegister(TxnChecker):
    """Elle's rw-register analysis (``--checker rw-register``)."""

    name = "rw-register"
    needs_process = True
    mop_fs = ("w", "r")
    extra_flags = ("wfr-keys",)

    def analyse(self, txns: list[Txn], opts: Options) -> Analysis:
        an = RwRegisterAnalysis()
        writer: dict[tuple, Txn] = {}
        final_writer: dict[tuple, Txn] = {}
        for t in txns:
            if t.status != "fail":
                an.ext[t.id] = external(t)
            for f, k, v in t.mops:
                if f == "w":
                    other = writer.setdefault((k, v), t)
                    if other is not t or v is NIL:
                        an.unknown = ("duplicate-writes",
                                      f"value {to_plain(v)!r} was written to key {to_plain(k)!r} more than once "
                                      f"(index {other.index} and {t.index}), or is nil; rw-register needs unique "
                                      f"non-nil writes to tell versions apart")
                        return an
            if t.status != "fail":
                for k, v in an.ext[t.id][1].items():
                    final_writer[(k, v)] = t
        for t in txns:
            if t.status == "ok":
                self._direct(t, writer, final_writer, an, "garbage-read" in opts.anomalies)
        self._lost_updates(txns, an)
        self._build_graph(txns, final_writer, an, bool(opts.extra.get("wfr-keys")))
        return an

    def _direct(self, t: Txn, writer: dict, final_writer: dict, an: RwRegisterAnalysis, garbage: bool) -> None:
        state: dict = {}
        for f, k, v in t.mops:
            if f == "w":
                state[k] = v
                continue
            if k in state and state[k] != v:
                an.anomalies.append(Anomaly("internal", ops=[txn_summary(t)], key=to_plain(k), facts={
                    "mop": mop_plain((f, k, v)), "expected": to_plain(state[k])}))
            state[k] = v
            if v is NIL:
                continue
            w = writer.get((k, v))
            if w is None:
                if garbage:
                    an.anomalies.append(Anomaly("garbage-read", ops=[txn_summary(t)], key=to_plain(k),
                                                facts={"element": to_plain(v)}))
            elif w is not t:
                if w.status == "fail":
                    an.anomalies.append(Anomaly("G1a", ops=[txn_summary(t), txn_summary(w)], key=to_plain(k),
                                                facts={"element": to_plain(v)}))
                elif (k, v) not in final_writer:
                    final = an.ext[w.id][1][k]
                    an.anomalies.append(Anomaly("G1b", ops=[txn_summary(t), txn_summary(w)], key=to_plain(k),
                                                facts={"element": to_plain(v), "final": to_plain(final)}))

    def _lost_updates(self, txns: list[Txn], an: RwRegisterAnalysis) -> None:
        groups: dict[tuple, list[Txn]] = {}
        for t in txns:
            if t.status == "ok":
                reads, writes = an.ext[t.id]
                for k, v in reads.items():
                    if k in writes:
                        groups.setdefault((k, v), []).append(t)
        for (k, v), members in groups.items():
            if len(members) > 1:
                an.anomalies.append(Anomaly("lost-update", ops=[txn_summary(t) for t in members], key=to_plain(k),
                                            facts={"read": to_plain(v)}))

    def _build_graph(self, txns: list[Txn], final_writer: dict, an: RwRegisterAnalysis, wfr: bool) -> None:
        observed: set[int] = set()
        readers: dict[tuple, list[int]] = {}
        for t in txns:
            if t.status == "ok":
                for k, v in an.ext[t.id][0].items():
                    readers.setdefault((k, v), []).append(t.id)
                    w = final_writer.get((k, v))
                    if w is not None and w.status == "info":
                        observed.add(w.id)
        vertices = [t for t in txns if t.status == "ok" or t.id in observed]
        an.vertices = vertices
        in_graph = {t.id for t in vertices}
        succ = an.successors
        versions: dict[Any, set] = {}
        for t in vertices:
            reads, writes = an.ext[t.id]
            for k, v in writes.items():
                versions.setdefault(k, set()).add(v)
            if t.status == "ok":
                for k, v in reads.items():
                    if v is not NIL:
                        versions.setdefault(k, set()).add(v)
                    if wfr and k in writes and v is not NIL and writes[k] != v:
                        succ.setdefault(k, {}).setdefault(v, set()).add(writes[k])
        for k, vs in versions.items():
            succ.setdefault(k, {}).setdefault(NIL, set()).update(vs)
        add = an.graph.add
        for (k, v), rs in readers.items():
            w = final_writer.get((k, v)) if v is not NIL else None
            if w is not None and w.id in in_graph:
                for r in rs:
                    add(w.id, r, WR)
        for k, later in succ.items():
            for v1, v2s in later.items():
                w1 = final_writer.get((k, v1)) if v1 is not NIL else None
                r1 = readers.get((k, v1), ())
                for v2 in v2s:
                    w2 = final_writer.get((k, v2))
                    if w2 is None or w2.id not in in_graph:
                        continue
                    if w1 is not None and w1.id in in_graph:
                        add(w1.id, w2.id, WW)
                    for r in r1:
                        add(r, w2.id, RW)
