"""The DB protocol: what the runner and the nemesis may do to a database under test.

A DB owns N nodes, each zero or more processes with a data directory and a log file, placed on a ``Network``.
Every DB sets up (``setup``: the whole cluster up and serving), tears down (``teardown``: everything stopped and
the data removed) and opens clients (``client``).  Everything else is an optional capability, in the spirit of
Jepsen's optional DB protocols; ``capabilities()`` names the ones a DB has (instance-level, because a system file
decides them) from ``CAPABILITIES``:

* ``processes``: ``start``, ``stop`` (SIGTERM), ``kill`` (SIGKILL) per node;
* ``pause``: ``pause``/``resume`` (SIGSTOP/SIGCONT);
* ``leader``: ``leader() -> node name | None``;
* ``membership``: ``remove_member(node)``, ``add_member(node)``;
* ``logs``: ``logs() -> list[path]``;
* ``wipe``: ``wipe(node)``;
* ``failpoints``: ``set_failpoint(node, name, action)``, ``clear_failpoint(node, name)``;
* ``catch-up``: ``progress(node) -> dict`` (``{"revision": n}``: how far a node's copy has got);
* ``links``: its nodes talk over the runner's ``Network``, so link faults (partition, loss, latency) apply.

A nemesis declares the capabilities it needs and is refused before any node starts when the DB lacks one; no
nemesis looks at a DB's name or private attributes.  Node launches go through ``add_launch_wrapper`` (the clock
nemesis runs nodes under libfaketime that way), and ``unexpected_exits`` tells the runner about node processes
that ended without anyone asking (a ``kill -9`` from outside, a crash).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import InputError
from . import procs
from .net import Network, NodeNet, choose_network

CAPABILITIES = frozenset({"processes", "pause", "leader", "membership", "logs", "wipe", "failpoints", "catch-up",
                          "links"})


@dataclass
class Node:
    """One node of the cluster: its network place, directories and running processes (by role).

    ``reported`` holds the pids whose exit is not news: told already, or asked for (a stop or kill marks its
    processes before signalling them, so the exit it causes is never mistaken for a crash)."""

    name: str
    net: NodeNet
    data_dir: str
    log_path: str
    host: procs.NodeHost | None = None
    procs: dict[str, "subprocess.Popen | procs.ProcessHandle"] = field(default_factory=dict)
    paused: bool = False
    reported: set[int] = field(default_factory=set)

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs.values())


@dataclass(frozen=True)
class NodeExit:
    """A node process that ended without the nemesis or the runner asking."""

    node: str
    role: str
    returncode: int

    @property
    def how(self) -> str:
        if self.returncode < 0:
            return f"signal {-self.returncode}"
        return f"code {self.returncode}"

    def message(self) -> str:
        return f"{self.node} exited, {self.how}"

    def to_dict(self) -> dict[str, Any]:
        signame = signal.Signals(-self.returncode).name if self.returncode < 0 else None
        return {"node": self.node, "role": self.role, "returncode": self.returncode, "signal": signame,
                "message": self.message()}


def not_capable(db: "DB", capability: str) -> InputError:
    return InputError(f"the {db.name} DB has no {capability!r} capability")


class DB:
    """Base class: node bookkeeping and the process verbs shared by every database that runs programs."""

    name = "db"
    ports: dict[str, int] = {}
    default_workload = "register"
    # Defaults a DB suggests for a nemesis it suits differently (Redis: isolate the primary with the clients,
    # held long enough for a failover): nemesis name -> {"mode": ..., "schedule": ...}.
    fault_defaults: dict[str, dict[str, str]] = {}

    def __init__(self, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str) -> None:
        self.node_names = list(node_names)
        self.network = network
        self.work_dir = work_dir
        self.log_dir = log_dir
        self.nodes: dict[str, Node] = {}
        self._launch_wrappers: dict[str, list[str]] = {}
        self.log_errors: list[str] = []

    @classmethod
    def build(cls, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str,
              options: Any) -> "DB":
        """The DB for a run's ``options`` (a ``RunOptions``); a DB with options of its own reads them here."""
        return cls(node_names, network, work_dir, log_dir)

    @classmethod
    def make_network(cls, mode: str) -> Network:
        """The network its nodes live on (``--network``): namespaces or proxies, unless the DB has its own."""
        return choose_network(mode)

    def capabilities(self) -> frozenset[str]:
        """What this DB can take (names from ``CAPABILITIES``); a program-running DB has at least these."""
        return frozenset({"processes", "pause", "logs", "wipe", "links"})

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the network, start every node, wait until the cluster serves."""
        os.makedirs(self.log_dir, exist_ok=True)
        nets = self.network.setup(self.node_names, self.ports)
        for name in self.node_names:
            host = self.network.host(name)
            data_dir = host.node_dir(self.work_dir, name)
            host.make_dir(data_dir)
            self.nodes[name] = Node(name, nets[name], data_dir, os.path.join(self.log_dir, f"{name}.log"), host)
        self.require_programs_on_hosts()
        for name in self.node_names:
            self.start(name)
        self.await_ready()

    def require_programs_on_hosts(self) -> None:
        """Every host has the programs the nodes run (a remote host may lack what this machine has)."""
        for node in self.nodes.values():
            missing = self.host(node.name).missing_programs(self.programs())
            if missing:
                raise InputError(f"{node.name}'s host {self.host(node.name).label} has no {', '.join(missing)}",
                                 expected=f"the {self.name} programs installed on every host")

    def host(self, name: str) -> procs.NodeHost:
        """Where ``name``'s programs run (a node made without one, as a DB's own setup may, gets its network's)."""
        node = self.nodes[name]
        if node.host is None:
            node.host = self.network.host(name)
        return node.host

    def teardown(self) -> None:
        for name in list(self.nodes):
            self.kill(name)
        self.collect_logs()
        self.network.teardown()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def await_ready(self, timeout: float = 30) -> None:
        raise NotImplementedError

    # -- node launches -----------------------------------------------------------------------------------------
    def add_launch_wrapper(self, node: str, argv_prefix: Sequence[str]) -> None:
        """Run ``node``'s programs under ``argv_prefix`` from its next start on (e.g. ``env LD_PRELOAD=...``)."""
        self._launch_wrappers[node] = list(argv_prefix)

    def remove_launch_wrapper(self, node: str) -> None:
        self._launch_wrappers.pop(node, None)

    def launch_wrapper(self, node: str) -> list[str]:
        return list(self._launch_wrappers.get(node, []))

    def program(self, name: str, package: str) -> str:
        """A program the nodes run: its path here (or a refusal saying how to install it) when the nodes run on
        this machine; the bare name when they run on remote hosts, which resolve it and are checked at setup."""
        if not self.network.programs_here:
            return name
        return procs.require_binary(name, package)

    def programs(self) -> list[str]:
        """The programs its nodes run (paths), for faults that must know whether a program tolerates them (the
        clock nemesis: Go programs ignore libfaketime, jemalloc ones hang under it); a DB that names none cannot
        take the clock nemesis."""
        return []

    # -- per node ----------------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        raise NotImplementedError

    def _spawn(self, name: str, role: str, argv: Sequence[str]) -> "subprocess.Popen | procs.ProcessHandle":
        node = self.nodes[name]
        proc = self.host(name).spawn([*self.launch_wrapper(name), *argv], node.log_path)
        node.procs[role] = proc
        node.paused = False
        return proc

    def expect_exit(self, name: str) -> None:
        """The node's current processes are about to end on purpose (a stop, a kill, a removal)."""
        node = self.nodes[name]
        node.reported.update(p.pid for p in node.procs.values())

    def stop(self, name: str) -> None:
        self.expect_exit(name)
        for proc in self.nodes[name].procs.values():
            procs.stop(proc)
        self.nodes[name].paused = False
        self.network.node_stopped(name)

    def kill(self, name: str) -> None:
        self.expect_exit(name)
        for proc in self.nodes[name].procs.values():
            procs.kill(proc)
        self.nodes[name].paused = False
        self.network.node_stopped(name)

    def pause(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.pause(proc)
        self.nodes[name].paused = True

    def resume(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.resume(proc)
        self.nodes[name].paused = False

    def is_running(self, name: str) -> bool:
        return self.nodes[name].running()

    def is_paused(self, name: str) -> bool:
        return self.nodes[name].paused

    def wipe(self, name: str) -> None:
        """Remove a (stopped) node's data."""
        self.host(name).reset_dir(self.nodes[name].data_dir)

    def leader(self) -> str | None:
        raise not_capable(self, "leader")

    def remove_member(self, name: str) -> dict:
        raise not_capable(self, "membership")

    def add_member(self, name: str) -> dict:
        raise not_capable(self, "membership")

    def set_failpoint(self, node: str, name: str, action: str) -> None:
        raise not_capable(self, "failpoints")

    def clear_failpoint(self, node: str, name: str) -> None:
        raise not_capable(self, "failpoints")

    def known_failpoints(self) -> frozenset[str] | None:
        """The failpoint names this DB has, when it can say (None: any name may exist)."""
        return None

    def progress(self, name: str) -> dict | None:
        """How far ``name``'s copy has got (``{"revision": n}``), None when it cannot answer now."""
        raise not_capable(self, "catch-up")

    def collect_logs(self) -> None:
        """Bring logs written on remote hosts into the store (local nodes write there already)."""
        for node in self.nodes.values():
            try:
                self.host(node.name).collect_logs()
            except Exception as exc:  # noqa: BLE001 - a host out of reach must not stop the teardown
                self.log_errors.append(f"logs of {node.name}: {exc}")

    def logs(self) -> list[str]:
        self.collect_logs()
        return [n.log_path for n in self.nodes.values() if os.path.exists(n.log_path)]

    def pids(self) -> list[int]:
        return [p.pid for n in self.nodes.values() for p in n.procs.values() if p.poll() is None]

    def unexpected_exits(self) -> list[NodeExit]:
        """Node processes that ended since the last call while nobody had asked them to (each told once)."""
        found = []
        for node in self.nodes.values():
            for role, proc in node.procs.items():
                code = proc.poll()
                if code is not None and proc.pid not in node.reported:
                    node.reported.add(proc.pid)
                    found.append(NodeExit(node.name, role, code))
        return found

    # -- clients -----------------------------------------------------------------------------------------------
    def client(self, node: str, timeout: float) -> Any:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"db": self.name, "nodes": self.node_names, "network": self.network.describe(),
                "capabilities": sorted(self.capabilities())}


def is_system_file(value: str) -> bool:
    """``--db VALUE`` names a system file (rather than a registered DB) when it is a file or ends in .toml."""
    return value.endswith(".toml") or os.path.isfile(value)


def lookup(value: str) -> type[DB]:
    """The DB class for ``--db VALUE``: a system file's, or the ``dbs`` entry of the registry."""
    if is_system_file(value):
        from .described import db_class_for
        return db_class_for(value)
    from .. import registry
    return registry.get("dbs", value)
