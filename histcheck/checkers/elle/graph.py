"""The transaction dependency graph, its strongly connected components, and short cycles of each anomaly's shape.

Vertices are transaction ids; an edge ``a -> b`` says a must come before b in any order that explains the
history, for one or more reasons, kept as bits of the edge's mask:

* ``WW``: b overwrote (appended after) a version a wrote; ``WR``: b read a version a wrote; ``RW``: a read a
  version that b's write replaced (an anti-dependency);
* ``PROCESS``: the same process ran a, then b (single-threaded clients); ``REALTIME``: a completed before b was
  invoked.

A cycle of such edges is an anomaly; which one depends on its edges (Adya): only ww is G0, ww and wr with at least
one wr is G1c, exactly one rw is G-single, more is G2-item; a cycle that needs a process or real-time edge gets the
``-process`` or ``-realtime`` suffix.  networkx finds the strongly connected components (every cycle lies in one);
inside a component a breadth-first search finds a shortest cycle through an edge of the kind wanted, which keeps
cycles short enough for a person to check.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
import networkx as nx

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
EDGE_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
# When an edge has several reasons, the cycle names the one that makes the weakest claim about the cycle's kind.
_LABEL_ORDER = (WW, WR, PROCESS, REALTIME, RW)


@dataclass(frozen=True)
class CycleShape:
    """How to search for one anomaly: a first edge of kind ``through``, then a path back using ``path`` edges."""

    kind: str
    through: int
    path: int


SHAPES = {
    "G0": CycleShape("G0", WW, WW),
    "G1c": CycleShape("G1c", WR, WW | WR),
    "G-single": CycleShape("G-single", RW, WW | WR),
    "G2-item": CycleShape("G2-item", RW, DATA),
    "G0-process": CycleShape("G0-process", PROCESS, WW | PROCESS),
    "G1c-process": CycleShape("G1c-process", PROCESS, WW | WR | PROCESS),
    "G-single-process": CycleShape("G-single-process", PROCESS, WW | WR | PROCESS),
    "G2-item-process": CycleShape("G2-item-process", PROCESS, DATA | PROCESS),
    "G0-realtime": CycleShape("G0-realtime", REALTIME, WW | PROCESS | REALTIME),
    "G1c-realtime": CycleShape("G1c-realtime", REALTIME, WW | WR | PROCESS | REALTIME),
    "G-single-realtime": CycleShape("G-single-realtime", REALTIME, WW | WR | PROCESS | REALTIME),
    "G2-item-realtime": CycleShape("G2-item-realtime", REALTIME, DATA | PROCESS | REALTIME),
}


@dataclass
class Cycle:
    """A cycle ``nodes[0] -> nodes[1] -> ... -> nodes[0]``; ``labels[i]`` names the edge leaving ``nodes[i]``."""

    kind: str
    nodes: list[int]
    labels: list[int]


class DependencyGraph:
    """Edges with reason masks, kept as a dict of dicts (cheap to build); networkx is given the plain structure."""

    def __init__(self) -> None:
        self.succ: dict[int, dict[int, int]] = {}

    def add(self, a: int, b: int, reason: int) -> None:
        if a == b:
            return
        out = self.succ.get(a)
        if out is None:
            self.succ[a] = {b: reason}
        else:
            out[b] = out.get(b, 0) | reason

    def edge_count(self) -> int:
        return sum(len(d) for d in self.succ.values())

    def components(self, within: set[int] | None = None, allowed: int = ~0) -> list[set[int]]:
        """Strongly connected components with more than one transaction (only they hold cycles), of the whole
        graph or of the part of it inside ``within`` that uses ``allowed`` edges."""
        g = nx.DiGraph()
        succ = self.succ
        if within is None and allowed == ~0:
            g.add_edges_from((a, b) for a, out in succ.items() for b in out)
        else:
            nodes = within if within is not None else succ.keys()
            g.add_edges_from((a, b) for a in nodes for b, mask in succ.get(a, {}).items()
                             if mask & allowed and (within is None or b in within))
        return [c for c in nx.strongly_connected_components(g) if len(c) > 1]

    # -- cycles ----------------------------------------------------------------------------------------------
    def find_cycle(self, component: set[int], shape: CycleShape, deadline: float) -> Cycle | None:
        """A shortest cycle in ``component`` made of one ``shape.through`` edge and a path of ``shape.path`` edges,
        or None (also when the deadline passes: the search is bounded, the finding never invented)."""
        if shape.through & shape.path:
            # The path may use the first edge's kind too, so such a cycle exists exactly when a component of the
            # subgraph restricted to ``shape.path`` holds a ``through`` edge: the first try then succeeds.
            for sub in self.components(within=component, allowed=shape.path):
                cycle = self._through(sub, shape, deadline)
                if cycle is not None:
                    return cycle
            return None
        return self._through(component, shape, deadline)

    def _through(self, component: set[int], shape: CycleShape, deadline: float) -> Cycle | None:
        succ = self.succ
        for a in component:
            for b, mask in succ.get(a, {}).items():
                if not mask & shape.through or b not in component:
                    continue
                path = self._path(b, a, component, shape.path)
                if path is not None:
                    nodes = [a] + path[:-1]
                    labels = [shape.through] + [self.label(x, y, shape.path)
                                                for x, y in zip(path, path[1:])]
                    return Cycle(classify(labels), nodes, labels)
                if time.monotonic() > deadline:
                    return None
        return None

    def any_cycle(self, component: set[int]) -> Cycle:
        """Some short cycle of the component using every kind of edge (a component always has one)."""
        a = next(iter(component))
        for b, mask in self.succ[a].items():
            if b in component:
                path = self._path(b, a, component, ~0)
                if path is not None:
                    labels = [self.label(a, b, ~0)] + [self.label(x, y, ~0) for x, y in zip(path, path[1:])]
                    return Cycle(classify(labels), [a] + path[:-1], labels)
        raise AssertionError("a strongly connected component without a cycle")

    def label(self, a: int, b: int, allowed: int) -> int:
        mask = self.succ[a][b] & allowed
        for bit in _LABEL_ORDER:
            if mask & bit:
                return bit
        raise AssertionError(f"edge {a}->{b} has no reason among {allowed}")

    def _path(self, start: int, goal: int, component: set[int], allowed: int) -> list[int] | None:
        """Breadth-first: the shortest path start .. goal inside ``component`` over ``allowed`` edges."""
        if start == goal:
            return [start]
        succ = self.succ
        parent = {start: start}
        queue = deque((start,))
        while queue:
            x = queue.popleft()
            for y, mask in succ.get(x, {}).items():
                if y in parent or not mask & allowed or y not in component:
                    continue
                parent[y] = x
                if y == goal:
                    path = [y]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                queue.append(y)
        return None


def classify(labels: list[int]) -> str:
    """The anomaly a cycle with these edge labels shows."""
    rw = sum(1 for x in labels if x == RW)
    if rw == 0:
        base = "G1c" if WR in labels else "G0"
    elif rw == 1:
        base = "G-single"
    else:
        base = "G2-item"
    if REALTIME in labels:
        return base + "-realtime"
    if PROCESS in labels:
        return base + "-process"
    return base


def search_cycles(graph: DependencyGraph, kinds: list[str], implied_by, timeout_s: float) -> list[Cycle]:
    """One cycle per anomaly kind per component, for the kinds asked for (in order, worst first).

    A kind already implied by one found in the same component is not searched again (a G0 there is also a G1c
    there); a component none of whose searches succeed still yields one cycle, whatever its kind, so that no
    component goes unreported.
    """
    found: list[Cycle] = []
    for component in graph.components():
        here: set[str] = set()
        covered: set[str] = set()
        for kind in kinds:
            if kind in covered:
                continue
            cycle = graph.find_cycle(component, SHAPES[kind], time.monotonic() + timeout_s)
            if cycle is not None and cycle.kind not in covered:
                found.append(cycle)
                here.add(cycle.kind)
                covered |= implied_by(here)
        if not here:
            found.append(graph.any_cycle(component))
    return found


def add_process_edges(graph: DependencyGraph, txns: list) -> None:
    """Each process's transactions in order: an ok one precedes the process's next (a crashed one may take
    effect at any later time, so nothing is known to follow it)."""
    last_ok: dict = {}
    for t in txns:
        prev = last_ok.get(t.process)
        if prev is not None:
            graph.add(prev, t.id, PROCESS)
        if t.status == "ok":
            last_ok[t.process] = t.id


def add_realtime_edges(graph: DependencyGraph, txns: list) -> None:
    """a -> b whenever a completed before b was invoked, without listing all O(n^2) such pairs.

    The frontier holds the completed transactions that no completed transaction is yet known to follow.  When b
    is invoked it gets an edge from each of them; when b completes, the ones it follows leave the frontier and b
    joins it.  Every pair in real-time order is then joined by a path, with at most a few edges per transaction
    (as many as were concurrent).
    """
    events: list[tuple[float, int, int]] = []       # (position, 1 for an invocation / 0 for a completion, id)
    for t in txns:
        events.append((t.call.call_pos, 1, t.id))
        if t.status == "ok":
            events.append((t.call.return_pos, 0, t.id))
    events.sort()
    frontier: set[int] = set()
    follows: dict[int, tuple[int, ...]] = {}
    succ = graph.succ
    for _, invoked, b in events:
        if invoked:
            before = tuple(frontier)
            for a in before:
                out = succ.get(a)
                if out is None:
                    succ[a] = {b: REALTIME}
                else:
                    out[b] = out.get(b, 0) | REALTIME
            follows[b] = before
        else:
            frontier.difference_update(follows.pop(b))
            frontier.add(b)
