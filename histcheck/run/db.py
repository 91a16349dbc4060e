"""The DB protocol: what the runner and the nemesis may do to a database under test.

A DB owns N nodes, each one or more processes with a data directory and a log file, placed on a ``Network``.
``setup`` brings the whole cluster up and waits until it serves; ``teardown`` stops everything and removes the data.
The per-node verbs (``start``, ``stop``, ``kill``, ``pause``, ``resume``, ``wipe``) and ``leader`` are what process
faults are made of; ``client`` opens a connection for one worker.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import procs
from .net import Network, NodeNet


@dataclass
class Node:
    """One node of the cluster: its network place, directories and running processes (by role)."""

    name: str
    net: NodeNet
    data_dir: str
    log_path: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    paused: bool = False

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs.values())


class DB:
    """Base class: node bookkeeping and the process verbs shared by every database."""

    name = "db"
    ports: dict[str, int] = {}

    def __init__(self, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str) -> None:
        self.node_names = list(node_names)
        self.network = network
        self.work_dir = work_dir
        self.log_dir = log_dir
        self.nodes: dict[str, Node] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the network, start every node, wait until the cluster serves."""
        os.makedirs(self.log_dir, exist_ok=True)
        nets = self.network.setup(self.node_names, self.ports)
        for name in self.node_names:
            data_dir = os.path.join(self.work_dir, name)
            os.makedirs(data_dir, exist_ok=True)
            self.nodes[name] = Node(name, nets[name], data_dir, os.path.join(self.log_dir, f"{name}.log"))
        for name in self.node_names:
            self.start(name)
        self.await_ready()

    def teardown(self) -> None:
        for name in list(self.nodes):
            self.kill(name)
        self.network.teardown()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def await_ready(self, timeout: float = 30) -> None:
        raise NotImplementedError

    # -- per node ----------------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        raise NotImplementedError

    def _spawn(self, name: str, role: str, argv: Sequence[str]) -> subprocess.Popen:
        node = self.nodes[name]
        log = open(node.log_path, "ab")
        try:
            prefix = getattr(self, "launch_prefix", {}).get(name, [])  # e.g. the clock nemesis's libfaketime
            proc = procs.spawn(self.network.wrap(name, [*prefix, *argv]), log=log)
        finally:
            log.close()
        node.procs[role] = proc
        return proc

    def stop(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.stop(proc)
        self.nodes[name].paused = False

    def kill(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.kill(proc)
        self.nodes[name].paused = False

    def pause(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.pause(proc)
        self.nodes[name].paused = True

    def resume(self, name: str) -> None:
        for proc in self.nodes[name].procs.values():
            procs.resume(proc)
        self.nodes[name].paused = False

    def wipe(self, name: str) -> None:
        """Remove a (stopped) node's data."""
        data_dir = self.nodes[name].data_dir
        shutil.rmtree(data_dir, ignore_errors=True)
        os.makedirs(data_dir, exist_ok=True)

    def leader(self) -> str | None:
        return None

    def logs(self) -> list[str]:
        return [n.log_path for n in self.nodes.values() if os.path.exists(n.log_path)]

    def pids(self) -> list[int]:
        return [p.pid for n in self.nodes.values() for p in n.procs.values() if p.poll() is None]

    # -- clients -----------------------------------------------------------------------------------------------
    def client(self, node: str, timeout: float) -> Any:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"db": self.name, "nodes": self.node_names, "network": self.network.describe()}
