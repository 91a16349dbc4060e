"""One interface for network faults on both topologies: cut links, lose packets, delay, count-filter.

``links_for(db)`` returns the ``Links`` of a run (shared by every nemesis of it).  Each nemesis owns a slot
(``set(owner, cut=..., rules=...)``); the union of all slots is applied at once, so a partition and packet loss
can be in force together and healing one leaves the other.

* **namespaces** (root): the rules live in an nftables table ``inet histcheck-nemesis`` of each node's namespace
  (the runner's own ``partition`` table is left alone); the table is rebuilt atomically on every change and
  deleted on ``clear``.  Loss is ``numgen random mod 100 < P drop``; the count filter is
  ``numgen inc mod 2147483647 >= N drop`` (the first N packets pass, then every one is dropped).  Latency needs
  ``sch_netem``, which this machine's kernel lacks: ``netem_available`` detects it and the latency nemesis says so.
* **proxies** (unprivileged): cuts go through the proxies' ``block`` command, the rest through ``shape``; a proxy
  shapes the stream a dialer sends into its node, and a TCP proxy cannot drop a packet, so "loss" costs what TCP
  would pay for it (a 200 ms retransmission).
* **a DB's own logical network** (the in-memory DB): the same two calls, ``cut_links`` and ``shape``, which that
  network applies to the messages it carries in process.

A rule is ``{"src": a, "dst": b, "loss": pct, "count": n, "delay_ms": d, "jitter_ms": j}`` with node names or
``clients``.
"""
from __future__ import annotations

import subprocess
import threading
import weakref
from typing import Any, Iterable

from histcheck.run import procs
from histcheck.run.net import CLIENTS

TABLE = "histcheck-nemesis"
_LINKS: "weakref.WeakKeyDictionary[Any, Links]" = weakref.WeakKeyDictionary()
_NETEM: dict[str, bool] = {}


def links_for(db: Any) -> "Links":
    if db not in _LINKS:
        _LINKS[db] = Links(db.network)
    return _LINKS[db]


def pairs_of(groups: Iterable[Iterable[str]]) -> set[frozenset[str]]:
    """The links a partition into ``groups`` cuts (members in no group keep all their links)."""
    groups = [list(g) for g in groups]
    return {frozenset((a, b)) for i, g in enumerate(groups) for h in groups[i + 1:] for a in g for b in h}


class Links:
    def __init__(self, network: Any) -> None:
        self.network = network
        self.kind = network.kind
        self.slots: dict[str, tuple[set[frozenset[str]], list[dict]]] = {}
        self.lock = threading.Lock()

    def set(self, owner: str, cut: Iterable[frozenset[str]] = (), rules: Iterable[dict] = ()) -> None:
        with self.lock:
            self.slots[owner] = (set(cut), [dict(r) for r in rules])
            self._apply()

    def clear(self, owner: str) -> None:
        with self.lock:
            self.slots.pop(owner, None)
            self._apply()

    def union(self) -> tuple[set[frozenset[str]], list[dict]]:
        cut: set[frozenset[str]] = set()
        rules: list[dict] = []
        for c, r in self.slots.values():
            cut |= c
            rules += r
        return cut, rules

    def _apply(self) -> None:
        cut, rules = self.union()
        if self.kind != "netns":
            self.network.cut_links(cut)
            self.network.shape(rules)
        else:
            for node in self.network.nodes:
                _nft(self.network.ns(node), self._table(node, cut, rules))

    # -- nftables ----------------------------------------------------------------------------------------------
    def _addr(self, member: str) -> str:
        return self.network.client_ip if member == CLIENTS else self.network.nodes[member].host

    def _table(self, node: str, cut: set[frozenset[str]], rules: list[dict]) -> str:
        chains: dict[str, list[str]] = {"input": [], "output": []}
        for pair in cut:
            if node in pair:
                other = self._addr(next(iter(pair - {node})))
                chains["input"].append(f"ip saddr {other} drop")
                chains["output"].append(f"ip daddr {other} drop")
        for rule in rules:
            for chain, stmt in self._rule_lines(node, rule):
                chains[chain].append(stmt)
        lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
        for chain, stmts in chains.items():
            lines.append(f"  chain {chain} {{ type filter hook {chain} priority -10; policy accept;")
            lines += [f"    {s}" for s in stmts]
            lines.append("  }")
        return "\n".join(lines + ["}"]) + "\n"

    def _rule_lines(self, node: str, rule: dict) -> list[tuple[str, str]]:
        """Rules for src->dst: on dst's input when dst is a node, else on src's output (towards the clients)."""
        if rule.get("delay_ms") or rule.get("jitter_ms"):
            raise RuntimeError(no_netem_message())
        if rule["dst"] == node:
            chain, match = "input", f"ip saddr {self._addr(rule['src'])}"
        elif rule["src"] == node and rule["dst"] == CLIENTS:
            chain, match = "output", f"ip daddr {self._addr(CLIENTS)}"
        else:
            return []
        if rule.get("count") is not None:
            return [(chain, f"{match} numgen inc mod 2147483647 >= {int(rule['count'])} drop")]
        return [(chain, f"{match} numgen random mod 100 < {int(rule.get('loss', 0))} drop")]

    def rule_count(self) -> int:
        """How many nemesis rules are in force in the namespaces now (0 after a heal; the tests check)."""
        if self.kind != "netns":
            return 0
        total = 0
        for node in self.network.nodes:
            done = subprocess.run(["ip", "netns", "exec", self.network.ns(node), "nft", "-a", "list", "table",
                                   "inet", TABLE], capture_output=True, text=True)
            total += done.stdout.count(" drop")
        return total

    def remove_table(self) -> None:
        if self.kind == "netns":
            for node in self.network.nodes:
                _nft(self.network.ns(node), f"table inet {TABLE}\ndelete table inet {TABLE}\n", check=False)


def _nft(ns: str, script: str, check: bool = True) -> None:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, capture_output=True,
                          text=True, timeout=10)
    if check and done.returncode != 0:
        raise RuntimeError(f"nft in {ns} failed: {done.stderr.strip()}\n{script}")


def netem_available(ns: str | None = None) -> bool:
    """Whether the kernel has ``sch_netem`` (tried on loopback inside ``ns`` or a throwaway namespace)."""
    key = ns or ""
    if key in _NETEM:
        return _NETEM[key]
    if not procs.shutil.which("tc"):
        _NETEM[key] = False
        return False
    prefix = ["ip", "netns", "exec", ns] if ns else ["unshare", "-n"]
    done = subprocess.run([*prefix, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                          capture_output=True, text=True)
    _NETEM[key] = done.returncode == 0
    if done.returncode == 0 and ns:
        subprocess.run([*prefix, "tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)
    return _NETEM[key]


def no_netem_message() -> str:
    return ("this kernel has no netem (sch_netem: `tc qdisc add ... netem` fails), so latency cannot be added "
            "inside network namespaces; the latency nemesis uses the TCP proxies (--network proxy)")
