"""Nodes on remote hosts, one host each, reached over SSH: the network kind ``ssh``.

Each node listens on the address its host was reached on (the server side of ``$SSH_CONNECTION``, so a host
named by DNS still gets an IP the rules can match) and talks to the other nodes at theirs; the clients are the
control machine, at the address each host sees it connect from.  Link faults are nftables rules on the hosts: one
table per run (``inet histcheck-<pid>-<id>``) on each host, rebuilt atomically on every change with the same
shape as the namespaces' rules (a cut drops both directions on both ends; loss and the count filter apply on the
receiving end).  The table always accepts the SSH port first, so a partition never cuts the runner off its own
hosts.  The final heal deletes the table on every host it can reach; a host it cannot reach is remembered
(``heal_failures``) and named in the run's verdict and ``test.json``.  Teardown fetches logs, kills whatever the
run started there (by the pid files of its directory), removes the table and the directory, and closes the
connections.
"""
from __future__ import annotations

import os
import secrets
import shlex
import string
import threading
from typing import Callable, Iterable, Sequence, TypeVar

from .net import CLIENTS, Endpoint, Network, NodeNet, cut_pairs
from .ssh import Connections, Hosts, HostUnreachable, SSHHost, SSHSession

T = TypeVar("T")


def run_id() -> str:
    letters = string.ascii_lowercase + string.digits
    return f"{os.getpid()}-remote-" + "".join(secrets.choice(letters) for _ in range(8))


class RemoteNetwork(Network):
    """One remote host per node; faults are nftables rules on the hosts."""

    kind = "ssh"
    programs_here = False

    def __init__(self, hosts: Hosts) -> None:
        self.hosts = hosts
        self.id = run_id()
        self.table = f"histcheck-{self.id}"
        self.connections = Connections(hosts)
        self.nodes: dict[str, NodeNet] = {}
        self.sessions: dict[str, SSHSession] = {}
        self.node_hosts: dict[str, SSHHost] = {}
        self.client_ips: dict[str, str] = {}
        self.unhealed: dict[str, str] = {}
        self._cut: set[frozenset[str]] = set()
        self._rules: list[dict] = []
        self._applied: tuple | None = None
        self._lock = threading.Lock()
        self._opened = False

    def node_count(self) -> int:
        return len(self.hosts.hosts)

    def connect(self) -> None:
        """Connect to every host now (before anything runs): a host key that does not match refuses the run."""
        if not self._opened:
            self.connections.open()
            self._opened = True

    def run_dir(self, session: SSHSession) -> str:
        return f"{session.spec.run_root.rstrip('/')}/histcheck-{self.id}"

    # -- setup ---------------------------------------------------------------------------------------------------
    def setup(self, names: Sequence[str], ports: dict[str, int]) -> dict[str, NodeNet]:
        self.connect()
        for name, session in zip(names, self.connections.sessions):
            self.sessions[name] = session
            self.node_hosts[name] = SSHHost(session, self.run_dir(session), name)
        where = self._each(lambda name, s: s.run('echo "$SSH_CONNECTION"', check=True).stdout.split())
        for name in names:
            fields = where[name]
            if len(fields) != 4:
                raise HostUnreachable(f"{self.sessions[name].spec.label} did not say where the runner connects from")
            self.client_ips[name], address = fields[0], fields[2]
            self.nodes[name] = NodeNet(name, address, {p: Endpoint(address, port, address, port)
                                                       for p, port in ports.items()})
        for name, node in self.nodes.items():
            node.peers = {other: self.nodes[other].ports for other in self.nodes if other != name}
        self._apply(set(), [])
        return self.nodes

    def _each(self, fn: Callable[[str, SSHSession], T]) -> dict[str, T]:
        """``fn`` on every host at once (a round trip costs the same for three hosts as for one)."""
        out: dict[str, T] = {}
        errors: list[BaseException] = []

        def one(name: str) -> None:
            try:
                out[name] = fn(name, self.sessions[name])
            except BaseException as exc:  # re-raised below on the caller's thread
                errors.append(exc)
        threads = [threading.Thread(target=one, args=(n,)) for n in self.sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return out

    def host(self, name: str) -> SSHHost:
        return self.node_hosts[name]

    # -- faults --------------------------------------------------------------------------------------------------
    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        self.cut_links(cut_pairs(groups, [*self.nodes, CLIENTS]))

    def heal(self) -> None:
        self.cut_links(set())
        self.shape([])

    def cut_links(self, pairs: Iterable[Iterable[str]]) -> None:
        with self._lock:
            self._cut = {frozenset(p) for p in pairs}
            self._apply(self._cut, self._rules)

    def shape(self, rules: list[dict]) -> None:
        for rule in rules:
            if rule.get("delay_ms") or rule.get("jitter_ms"):
                raise RuntimeError("latency is not added on remote hosts (only cuts, loss and the count filter)")
        with self._lock:
            self._rules = [dict(r) for r in rules]
            self._apply(self._cut, self._rules)

    def _apply(self, cut: set[frozenset[str]], rules: list[dict]) -> None:
        """Rebuild the run's table on every host (deleted when nothing is in force); a host out of reach is
        remembered as not healed and the others still get their rules.  The nemesis sets cuts and shaping one
        after the other, so a state already in force everywhere is not sent again."""
        state = (frozenset(cut), tuple(sorted(map(repr, rules))))
        if state == self._applied and not self.unhealed:
            return
        self._applied = state

        def one(name: str, session: SSHSession) -> None:
            script = self.table_script(name, cut, rules)
            try:
                session.run(f"nft -f - <<'EOF'\n{script}EOF", check=True, timeout=20)
                self.unhealed.pop(name, None)
            except (HostUnreachable, RuntimeError) as exc:
                self.unhealed[name] = str(exc)
                if cut or rules:
                    raise
        self._each(one)

    def _addr(self, node: str, member: str) -> str:
        return self.client_ips[node] if member == CLIENTS else self.nodes[member].host

    def table_script(self, node: str, cut: set[frozenset[str]], rules: list[dict]) -> str:
        """The nft script that puts ``node``'s host in the wanted state (no table at all when nothing holds)."""
        lines = [f"table inet {self.table}", f"delete table inet {self.table}"]
        if not cut and not rules:
            return "\n".join(lines) + "\n"
        ssh_port = self.sessions[node].spec.port
        chains = {"input": [f"tcp dport {ssh_port} accept"], "output": [f"tcp sport {ssh_port} accept"]}
        for pair in cut:
            if node in pair:
                other = self._addr(node, next(iter(pair - {node})))
                chains["input"].append(f"ip saddr {other} drop")
                chains["output"].append(f"ip daddr {other} drop")
        for rule in rules:
            if rule["dst"] == node:
                chain, match = "input", f"ip saddr {self._addr(node, rule['src'])}"
            elif rule["src"] == node and rule["dst"] == CLIENTS:
                chain, match = "output", f"ip daddr {self._addr(node, CLIENTS)}"
            else:
                continue
            if rule.get("count") is not None:
                chains[chain].append(f"{match} numgen inc mod 2147483647 >= {int(rule['count'])} drop")
            else:
                chains[chain].append(f"{match} numgen random mod 100 < {int(rule.get('loss', 0))} drop")
        lines.append(f"table inet {self.table} {{")
        for chain, stmts in chains.items():
            lines.append(f"  chain {chain} {{ type filter hook {chain} priority -20; policy accept;")
            lines += [f"    {s}" for s in stmts]
            lines.append("  }")
        return "\n".join(lines + ["}"]) + "\n"

    def heal_failures(self) -> dict[str, str]:
        """Hosts (node and address) whose last heal or teardown did not get through, and why."""
        return {f"{name} ({self.sessions[name].spec.label})": why for name, why in self.unhealed.items()}

    # -- teardown ------------------------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Everything of the run off every host it can reach (processes, the table, the directory), then the
        connections closed."""
        def one(name: str, session: SSHSession) -> None:
            d = shlex.quote(f"{self.run_dir(session)}/{name}")
            parent = shlex.quote(self.run_dir(session))
            script = (f"for f in {d}/launch-*.pid; do [ -s \"$f\" ] && kill -9 -- -$(cat \"$f\") 2>/dev/null; done; "
                      f"nft delete table inet {self.table} 2>/dev/null; rm -rf {d}; rmdir {parent} 2>/dev/null; true")
            try:
                session.run(script, timeout=30)
                self.unhealed.pop(name, None)
            except HostUnreachable as exc:
                self.unhealed[name] = f"teardown: {exc}"
        try:
            if self.sessions:
                self._each(one)
        finally:
            self.connections.close()

    def describe(self) -> dict:
        out: dict = {"kind": self.kind, "table": self.table,
                     "hosts": {n: {**h.describe(), "address": self.nodes[n].host if n in self.nodes else None,
                                   "clients": self.client_ips.get(n)} for n, h in self.node_hosts.items()}}
        if self.unhealed:
            out["unhealed"] = self.heal_failures()
        return out


def remote_network(db_class: type, hosts: Hosts) -> RemoteNetwork:
    """The network of a run on remote hosts; refused for a DB whose nodes do not run as programs."""
    from ..errors import InputError
    from .db import DB
    if db_class.make_network.__func__ is not DB.make_network.__func__:  # type: ignore[attr-defined]
        raise InputError(f"the {db_class.name} DB brings its own network; it has no programs to start on remote "
                         "hosts", expected="a DB that runs programs (etcd, redis, a system file)")
    return RemoteNetwork(hosts)
