"""Elle's list-append checker: transactions of ``[:append k v]`` and ``[:r k [v ...]]`` over lists.

Appends make versions traceable: every appended value is unique, so a read ``[1 2 3]`` names the whole history of
its key up to that point.  All reads of a key must then be prefixes of one order of appends, and the longest read
*is* that order (as far as anyone saw).  From it follow, for each append of value e to key k by transaction T:

* ww: the writer of the element just before e precedes T;
* rw: every transaction that read k ending at that element (or read it empty, if e was first) precedes T;
* and for each read, wr: the writer of its last element precedes the reader.

An append nobody read still comes after everything that was read of its key (it was not there when those reads
ran), so it gets the same edges as if it were appended at the end.  A crashed (``:info``) transaction enters the
graph only if one of its appends was read: then it certainly committed; otherwise nothing is known to follow it.

Anomalies found without the graph: internal (a transaction's read disagrees with its own earlier reads and
appends), future-read (it read what it appends later), duplicate-elements, incompatible-order (two reads that are
not prefixes of one another), garbage-read (an element nobody appended), G1a (an element a failed transaction
appended), G1b (a read ending in an append that its writer followed with another to the same key),
dirty-update (a committed append on top of a failed one) and lost-update (two transactions that read the same
version of a key and both appended to it).
"""
from __future__ import annotations

from typing import Any

from ...checker.result import Anomaly
from ...values import to_plain
from .core import Analysis, Options, TxnChecker, mop_plain, txn_summary
from .graph import RW, WR, WW
from .txn import Txn

INIT = None   # the key's initial, empty state: "the element before the first" is None in facts


class ListAppendAnalysis(Analysis):
    """Indexes of one list-append history: who appended what, the version order of each key, who read what."""

    def __init__(self) -> None:
        super().__init__()
        self.writer: dict[tuple, Txn] = {}          # (key, element) -> appending transaction (any status)
        self.order: dict[Any, tuple] = {}           # key -> elements in version order (from the longest read)
        self.position: dict[Any, dict] = {}         # key -> element -> its index in order
        self.in_graph: set[int] = set()

    def previous(self, k: Any, e: Any) -> Any:
        """The element just before ``e`` in ``k``'s version order (or after the last read one, if e was never
        read); None for the initial empty state."""
        order = self.order.get(k, ())
        i = self.position.get(k, {}).get(e)
        if i is None:
            return order[-1] if order else INIT
        return order[i - 1] if i > 0 else INIT

    def explain_data_edge(self, a: Txn, b: Txn, bit: int) -> dict:
        if bit == WW:
            for f, k, e in b.mops:
                if f == "append":
                    prev = self.previous(k, e)
                    if prev is not INIT and self.writer.get((k, prev)) is a:
                        return {"key": to_plain(k), "value": to_plain(prev), "value'": to_plain(e)}
        elif bit == WR:
            for f, k, v in b.mops:
                if f == "r" and v and self.writer.get((k, v[-1])) is a:
                    return {"key": to_plain(k), "value": to_plain(v[-1]), "read": to_plain(v)}
        else:
            appended = [(k, e) for f, k, e in b.mops if f == "append"]
            for f, k, v in a.mops:
                if f != "r" or v is None:
                    continue
                last = v[-1] if v else INIT
                for k2, e in appended:
                    if k2 == k and self.previous(k, e) == last:
                        return {"key": to_plain(k), "value": to_plain(last), "read": to_plain(v),
                                "value'": to_plain(e)}
        raise AssertionError(f"no {bit} reason for edge {a} -> {b}")


class ListAppend(TxnChecker):
    """Elle's list-append analysis (``--checker list-append``)."""

    name = "list-append"
    needs_process = True
    mop_fs = ("append", "r")

    def analyse(self, txns: list[Txn], opts: Options) -> Analysis:
        an = ListAppendAnalysis()
        if not self._index_writers(txns, an):
            return an
        reads = self._internal(txns, an)
        self._version_orders(reads, an)
        self._aborted_and_intermediate(txns, reads, an)
        self._lost_updates(txns, an)
        self._build_graph(txns, reads, an)
        return an

    # -- indexes -----------------------------------------------------------------------------------------------
    def _index_writers(self, txns: list[Txn], an: ListAppendAnalysis) -> bool:
        writer = an.writer
        for t in txns:
            for f, k, e in t.mops:
                if f == "append":
                    other = writer.setdefault((k, e), t)
                    if other is not t:
                        an.unknown = ("duplicate-appends",
                                      f"value {to_plain(e)!r} was appended to key {to_plain(k)!r} twice (index "
                                      f"{other.index} and {t.index}); list-append needs every appended value to "
                                      f"be unique to recover the order of appends")
                        return False
        return True

    def _internal(self, txns: list[Txn], an: ListAppendAnalysis) -> dict[Any, list[tuple[Txn, tuple]]]:
        """Check each ok transaction against itself; return every ok read, by key."""
        reads: dict[Any, list[tuple[Txn, tuple]]] = {}
        for t in txns:
            if t.status != "ok":
                continue
            expected: dict[Any, tuple[bool, tuple]] = {}
            last_append = {k: i for i, (f, k, _) in enumerate(t.mops) if f == "append"}
            for i, (f, k, v) in enumerate(t.mops):
                if f == "append":
                    known, state = expected.get(k, (False, ()))
                    expected[k] = (known, state + (v,))
                    continue
                if v is None:
                    continue
                if not isinstance(v, tuple):
                    v = (v,)
                reads.setdefault(k, []).append((t, v))
                if k in expected:
                    known, state = expected[k]
                    if (v != state) if known else (len(v) < len(state) or v[len(v) - len(state):] != state):
                        an.anomalies.append(Anomaly("internal", ops=[txn_summary(t)], key=to_plain(k), facts={
                            "mop": mop_plain((f, k, v)), "expected": to_plain(state), "prefix-known": known}))
                expected[k] = (True, v)
                if last_append.get(k, -1) < i:
                    continue
                later = {e for f2, k2, e in t.mops[i + 1:] if f2 == "append" and k2 == k}
                future = [e for e in v if e in later]
                if future:
                    an.anomalies.append(Anomaly("future-read", ops=[txn_summary(t)], key=to_plain(k), facts={
                        "mop": mop_plain((f, k, v)), "elements": to_plain(future)}))
        return reads

    def _version_orders(self, reads: dict[Any, list[tuple[Txn, tuple]]], an: ListAppendAnalysis) -> None:
        for k, rs in reads.items():
            longest_t, longest = max(rs, key=lambda r: len(r[1]))
            n = len(longest)
            conflict = None
            for t, v in rs:
                if len(v) < n and longest[:len(v)] != v or len(v) == n and v != longest:
                    conflict = (t, v)
                    break
            if conflict is not None:
                t, v = conflict
                an.anomalies.append(Anomaly("incompatible-order", ops=[txn_summary(t), txn_summary(longest_t)],
                                            key=to_plain(k), facts={"values": [to_plain(v), to_plain(longest)]}))
            order = tuple(dict.fromkeys(longest))
            if len(order) != n:
                self._duplicates(k, rs, an)
            an.order[k] = order
            an.position[k] = {e: i for i, e in enumerate(order)}
            for e in order:
                if (k, e) not in an.writer:
                    reader = next(t for t, v in sorted(rs, key=lambda r: len(r[1])) if e in v)
                    an.anomalies.append(Anomaly("garbage-read", ops=[txn_summary(reader)], key=to_plain(k),
                                                facts={"element": to_plain(e)}))

    def _duplicates(self, k: Any, rs: list[tuple[Txn, tuple]], an: ListAppendAnalysis) -> None:
        for t, v in rs:
            if len(set(v)) != len(v):
                seen: dict = {}
                for e in v:
                    seen[e] = seen.get(e, 0) + 1
                dups = {to_plain(e): c for e, c in seen.items() if c > 1}
                an.anomalies.append(Anomaly("duplicate-elements", ops=[txn_summary(t)], key=to_plain(k),
                                            facts={"read": to_plain(v), "duplicates": dups}))
                return

    def _aborted_and_intermediate(self, txns: list[Txn], reads: dict, an: ListAppendAnalysis) -> None:
        writer = an.writer
        for k, order in an.order.items():
            rs = sorted(reads[k], key=lambda r: len(r[1]))
            failed_run: list | None = None
            for i, e in enumerate(order):
                w = writer.get((k, e))
                if w is None:
                    continue
                if w.status == "fail":
                    reader = next(t for t, v in rs if len(v) > i and v[i] == e or e in v)
                    an.anomalies.append(Anomaly("G1a", ops=[txn_summary(reader), txn_summary(w)], key=to_plain(k),
                                                facts={"element": to_plain(e)}))
                    failed_run = failed_run or [w, e]
                elif w.status == "ok" and failed_run is not None:
                    an.anomalies.append(Anomaly("dirty-update", ops=[txn_summary(failed_run[0]), txn_summary(w)],
                                                key=to_plain(k), facts={"aborted": to_plain(failed_run[1]),
                                                                        "committed": to_plain(e)}))
                    failed_run = None
        last_append: dict[tuple, Any] = {}
        for t in txns:
            if t.status == "fail":
                continue
            mine: dict[Any, Any] = {}
            for f, k, e in t.mops:
                if f == "append":
                    mine[k] = e
            for f, k, e in t.mops:
                if f == "append" and mine[k] != e:
                    last_append[(k, e)] = mine[k]
        if not last_append:
            return
        for k, rs in reads.items():
            for t, v in rs:
                if v and (k, v[-1]) in last_append:
                    w = writer[(k, v[-1])]
                    if w is not t:
                        an.anomalies.append(Anomaly("G1b", ops=[txn_summary(t), txn_summary(w)], key=to_plain(k),
                                                    facts={"read": to_plain(v), "element": to_plain(v[-1]),
                                                           "final": to_plain(last_append[(k, v[-1])])}))

    def _lost_updates(self, txns: list[Txn], an: ListAppendAnalysis) -> None:
        """Transactions that read the same version of a key first and then appended to it."""
        groups: dict[tuple, list[tuple[Txn, tuple]]] = {}
        for t in txns:
            if t.status != "ok":
                continue
            first_read: dict[Any, tuple] = {}
            touched: set = set()
            appended: set = set()
            for f, k, v in t.mops:
                if f == "r":
                    if k not in touched and v is not None:
                        first_read[k] = v
                elif k in first_read and k not in appended:
                    v = first_read[k]
                    groups.setdefault((k, v[-1] if v else INIT), []).append((t, v))
                    appended.add(k)
                touched.add(k)
        for (k, last), members in groups.items():
            if len(members) > 1:
                an.anomalies.append(Anomaly("lost-update", ops=[txn_summary(t) for t, _ in members],
                                            key=to_plain(k), facts={"read": to_plain(members[0][1])}))

    # -- the graph ---------------------------------------------------------------------------------------------
    def _build_graph(self, txns: list[Txn], reads: dict, an: ListAppendAnalysis) -> None:
        writer, order, position = an.writer, an.order, an.position
        observed = {writer[(k, e)].id for k, o in order.items() for e in o
                    if (k, e) in writer and writer[(k, e)].status == "info"}
        vertices = [t for t in txns if t.status == "ok" or t.id in observed]
        an.vertices = vertices
        in_graph = an.in_graph = {t.id for t in vertices}
        readers: dict[Any, dict[Any, list[int]]] = {}
        for k, rs in reads.items():
            by_last = readers[k] = {}
            for t, v in rs:
                by_last.setdefault(v[-1] if v else INIT, []).append(t.id)
        succ = an.graph.succ      # edges are added inline here: this loop runs once per micro-operation
        no_readers: dict = {}
        for t in vertices:
            tid = t.id
            ok = t.status == "ok"
            for f, k, v in t.mops:
                if f == "r":
                    if ok and v:
                        w = writer.get((k, v[-1] if v.__class__ is tuple else v))
                        if w is not None and w.id != tid and w.id in in_graph:
                            out = succ.get(w.id)
                            if out is None:
                                succ[w.id] = {tid: WR}
                            else:
                                out[tid] = out.get(tid, 0) | WR
                    continue
                o = order.get(k, ())
                i = position[k].get(v) if o else None
                if i is None:
                    prev = o[-1] if o else INIT
                else:
                    prev = o[i - 1] if i > 0 else INIT
                if prev is not INIT:
                    w = writer.get((k, prev))
                    if w is not None and w.id != tid and w.id in in_graph:
                        out = succ.get(w.id)
                        if out is None:
                            succ[w.id] = {tid: WW}
                        else:
                            out[tid] = out.get(tid, 0) | WW
                for r in readers.get(k, no_readers).get(prev, ()):
                    if r != tid:
                        out = succ.get(r)
                        if out is None:
                            succ[r] = {tid: RW}
                        else:
                            out[tid] = out.get(tid, 0) | RW
