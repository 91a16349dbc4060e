"""The in-memory DB (Jepsen's atom-db): a linearizable store inside the runner's process, with switchable bugs.

``--db memory`` runs N logical nodes that share one key-value map behind one lock, so every operation takes
effect atomically at one instant between its call and its return: the store is linearizable, and a run against
it is valid unless a bug is switched on.  It starts in milliseconds and needs no program, which is what tests of
the runner, generator, nemesis plumbing, store and report want.

Nodes are logical but take the faults real ones take (capabilities ``processes``, ``pause``, ``leader``,
``failpoints``, ``links``):

* ``start``/``stop``/``kill``: a stopped node refuses connections (``Definite``: nothing happened);
* ``pause``: a paused node accepts a request and never answers (``Indeterminate`` after the client's timeout);
* ``links``: the DB lives on its own ``MemoryNetwork``; a partition cuts logical links.  A node that cannot reach a
  majority of the cluster (running, unpaused, over uncut links) refuses requests, and a node cut off from the
  clients refuses connections; loss, the count filter and latency on the clients' link to a node are applied to
  each request (a lost one times out, ``Indeterminate``);
* ``leader``: the lowest-numbered node of the majority side.

The bugs are failpoints, switched through the failpoint nemesis (``--nemesis failpoint:stale-read=return``), per
node; any action but ``off`` switches one on, ``P%`` makes it strike that share of requests:

* ``stale-read``: the node answers reads from a copy taken when the failpoint was set;
* ``lost-write``: the node acknowledges writes (and successful compare-and-sets) without applying them;
* ``split-brain``: cut off from the majority, the node goes on serving from its own fork of the data instead of
  refusing; the fork is dropped when the partition heals (what it acknowledged is lost).
"""
from __future__ import annotations

import random
import re
import threading
import time
from typing import Any, Callable, Iterable, Sequence

from .clients import Definite, Indeterminate
from .db import DB, Node
from .net import CLIENTS, Network, NodeNet

BUGS = frozenset({"stale-read", "lost-write", "split-brain"})
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%")


class MemoryNetwork(Network):
    """Logical links between logical nodes: which pairs are cut, and the shaping rules on each link."""

    kind = "memory"

    def __init__(self) -> None:
        self.nodes: dict[str, NodeNet] = {}
        self.cut: set[frozenset[str]] = set()
        self.rules: list[dict] = []
        self.sent: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def setup(self, names: Sequence[str], ports: dict[str, int]) -> dict[str, NodeNet]:
        self.nodes = {name: NodeNet(name, f"memory:{name}") for name in names}
        return self.nodes

    def cut_links(self, pairs: Iterable[Iterable[str]]) -> None:
        with self.lock:
            self.cut = {frozenset(p) for p in pairs}

    def shape(self, rules: list[dict]) -> None:
        with self.lock:
            self.rules = [dict(r) for r in rules]
            self.sent = {}

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        from .net import cut_pairs
        self.cut_links(cut_pairs(groups, list(self.nodes) + [CLIENTS]))

    def heal(self) -> None:
        self.cut_links([])

    def linked(self, a: str, b: str) -> bool:
        return frozenset((a, b)) not in self.cut

    def deliver(self, src: str, dst: str, rng: random.Random) -> tuple[bool, float]:
        """Whether a message from ``src`` to ``dst`` arrives, and how many seconds it is delayed."""
        delay, arrives = 0.0, self.linked(src, dst)
        with self.lock:
            for rule in self.rules:
                if rule["src"] != src or rule["dst"] != dst:
                    continue
                if rule.get("count") is not None:
                    sent = self.sent.get((src, dst), 0)
                    self.sent[(src, dst)] = sent + 1
                    arrives = arrives and sent < int(rule["count"])
                if rule.get("loss") and rng.uniform(0, 100) < float(rule["loss"]):
                    arrives = False
                if rule.get("delay_ms"):
                    jitter = float(rule.get("jitter_ms") or 0)
                    delay += max(0.0, float(rule["delay_ms"]) + rng.uniform(-jitter, jitter)) / 1000
        return arrives, delay

    def teardown(self) -> None:
        self.heal()
        self.shape([])

    def describe(self) -> dict:
        return {"kind": self.kind, "cut": sorted(sorted(p) for p in self.cut)}


def strikes(action: str, rng: random.Random) -> bool:
    """Whether a failpoint set to ``action`` strikes this time (``50%return`` half the time; ``off`` never)."""
    match = _PERCENT.match(action)
    task = action[match.end():] if match else action
    if task.split("(")[0].split("*")[-1] == "off":
        return False
    return match is None or rng.uniform(0, 100) < float(match.group(1))


class MemoryDB(DB):
    """A linearizable in-process store with switchable bugs (stale reads, lost writes, split brain)."""

    name = "memory"
    default_workload = "register"

    def __init__(self, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str) -> None:
        super().__init__(node_names, network, work_dir, log_dir)
        self.lock = threading.Lock()
        self.data: dict[str, str] = {}
        self.up: set[str] = set()
        self.frozen: set[str] = set()
        self.failpoints: dict[str, dict[str, str]] = {n: {} for n in self.node_names}
        self.snapshots: dict[str, dict[str, str]] = {}
        self.forks: dict[str, dict[str, str]] = {}
        self.rng = random.Random(0)

    @classmethod
    def make_network(cls, mode: str) -> Network:
        """Its own logical network, whatever ``--network`` says (nothing leaves the process)."""
        return MemoryNetwork()

    def capabilities(self) -> frozenset[str]:
        return frozenset({"processes", "pause", "leader", "failpoints", "links"})

    def known_failpoints(self) -> frozenset[str]:
        return BUGS

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def setup(self) -> None:
        nets = self.network.setup(self.node_names, {})
        for name in self.node_names:
            self.nodes[name] = Node(name, nets[name], "", "")
        self.up = set(self.node_names)

    def teardown(self) -> None:
        with self.lock:
            self.up.clear()
            self.frozen.clear()
        self.network.teardown()

    def await_ready(self, timeout: float = 30) -> None:
        return None

    # -- per node ----------------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        with self.lock:
            self.up.add(name)
            self.frozen.discard(name)

    def stop(self, name: str) -> None:
        with self.lock:
            self.up.discard(name)
            self.frozen.discard(name)
            self.snapshots.pop(name, None)
            self.forks.pop(name, None)

    kill = stop

    def pause(self, name: str) -> None:
        with self.lock:
            self.frozen.add(name)

    def resume(self, name: str) -> None:
        with self.lock:
            self.frozen.discard(name)

    def is_running(self, name: str) -> bool:
        return name in self.up

    def is_paused(self, name: str) -> bool:
        return name in self.frozen

    def logs(self) -> list[str]:
        return []

    def pids(self) -> list[int]:
        return []

    def set_failpoint(self, node: str, name: str, action: str) -> None:
        if name not in BUGS:
            raise ValueError(f"the memory DB has no failpoint {name!r} (it has {', '.join(sorted(BUGS))})")
        with self.lock:
            self.failpoints[node][name] = action
            if name == "stale-read":
                self.snapshots[node] = dict(self.data)

    def clear_failpoint(self, node: str, name: str) -> None:
        with self.lock:
            self.failpoints[node].pop(name, None)
            if name == "stale-read":
                self.snapshots.pop(node, None)
            if name == "split-brain":
                self.forks.pop(node, None)

    # -- the cluster's view ------------------------------------------------------------------------------------
    def _side(self, node: str) -> set[str]:
        """The serving nodes ``node`` reaches over uncut links (itself included)."""
        serving = self.up - self.frozen
        seen, todo = {node}, [node]
        while todo:
            here = todo.pop()
            for other in serving - seen:
                if self.network.linked(here, other):
                    seen.add(other)
                    todo.append(other)
        return seen

    def _has_quorum(self, node: str) -> bool:
        return len(self._side(node)) > len(self.node_names) // 2

    def leader(self) -> str | None:
        with self.lock:
            for name in self.node_names:
                if name in self.up and name not in self.frozen and self._has_quorum(name):
                    return name
        return None

    def _bug(self, node: str, name: str) -> bool:
        action = self.failpoints[node].get(name)
        return action is not None and strikes(action, self.rng)

    def request(self, node: str, timeout: float, op: Callable[[dict[str, str], dict[str, str] | None, bool], Any]
                ) -> Any:
        """Carry one client request to ``node`` and perform ``op(data, stale_copy, lose_writes)`` atomically."""
        arrives, delay = self.network.deliver(CLIENTS, node, self.rng)
        if node not in self.up:
            raise Definite(f"{node} is down: connection refused")
        if not self.network.linked(CLIENTS, node):
            raise Definite(f"the link to {node} is cut: connection refused")
        if not arrives or node in self.frozen:
            time.sleep(min(timeout, 0.05) if not arrives else timeout)
            raise Indeterminate(f"{node} did not answer within {timeout:g} s")
        if delay:
            time.sleep(min(delay, timeout))
        with self.lock:
            if node not in self.up:
                raise Definite(f"{node} is down: connection refused")
            data: dict[str, str] = self.data
            if not self._has_quorum(node):
                if not self._bug(node, "split-brain"):
                    raise Definite(f"{node} cannot reach a majority: not leader")
                data = self.forks.setdefault(node, dict(self.data))
            else:
                self.forks.pop(node, None)
            stale = self.snapshots.get(node) if self._bug(node, "stale-read") else None
            return op(data, stale, self._bug(node, "lost-write"))

    def client(self, node: str, timeout: float) -> "MemoryClient":
        return MemoryClient(self, node, timeout)

    def describe(self) -> dict:
        info = super().describe()
        info["failpoints"] = {n: dict(f) for n, f in self.failpoints.items() if f}
        return info


class MemoryClient:
    """A worker's connection to one logical node (the workloads' key-value interface)."""

    def __init__(self, db: MemoryDB, node: str, timeout: float) -> None:
        self.db, self.node, self.timeout = db, node, timeout

    def _call(self, op: Callable[[dict[str, str], dict[str, str] | None, bool], Any]) -> Any:
        return self.db.request(self.node, self.timeout, op)

    def read(self, key: str) -> str | None:
        return self._call(lambda data, stale, lose: (stale if stale is not None else data).get(key))

    def write(self, key: str, value: str) -> None:
        def put(data: dict[str, str], stale: Any, lose: bool) -> None:
            if not lose:
                data[key] = value
        self._call(put)

    def cas(self, key: str, old: str | None, new: str) -> bool:
        return self.multi_cas({key: old}, {key: new})

    def read_prefix(self, prefix: str) -> dict[str, str]:
        def scan(data: dict[str, str], stale: dict[str, str] | None, lose: bool) -> dict[str, str]:
            return {k: v for k, v in (stale if stale is not None else data).items() if k.startswith(prefix)}
        return self._call(scan)

    def read_many(self, keys: list[str]) -> dict[str, str | None]:
        return self._call(lambda data, stale, lose: {k: (stale if stale is not None else data).get(k) for k in keys})

    def multi_cas(self, expect: dict[str, str | None], puts: dict[str, str]) -> bool:
        def txn(data: dict[str, str], stale: Any, lose: bool) -> bool:
            if any(data.get(k) != v for k, v in expect.items()):
                return False
            if not lose:
                data.update(puts)
            return True
        return self._call(txn)

    def close(self) -> None:
        return None
