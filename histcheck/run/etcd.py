"""etcd as a DB under test: Debian's ``etcd-server`` (3.4), N members, one process and data directory each.

Members find each other by the peer URLs their network gives them (namespace addresses, or proxy ports when
unprivileged); clients use each member's v3 JSON gateway.  ``leader`` asks every member's ``/v3/maintenance/status``
and returns the member that says it leads.  Its capabilities: processes, pause, leader, membership (through the
v3 cluster API), logs, wipe, catch-up (a member's revision) and links.
"""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

from . import procs
from .clients import ClientError, EtcdClient
from .db import DB
from .net import ProxyNetwork

ETCD_PACKAGE = "etcd-server"


class EtcdDB(DB):
    """etcd 3.4 (Debian etcd-server): Raft, linearizable reads by default."""

    name = "etcd"
    ports = {"client": 2379, "peer": 2380}
    default_workload = "register"

    def __init__(self, *args: Any, token: str = "histcheck", serializable: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binary = self.program("etcd", ETCD_PACKAGE)
        self.token = token
        self.serializable = serializable
        self.cluster_state = "new"

    @classmethod
    def build(cls, node_names: Sequence[str], network: Any, work_dir: str, log_dir: str, options: Any) -> "EtcdDB":
        return cls(node_names, network, work_dir, log_dir, token=f"histcheck-{os.getpid()}",
                   serializable=getattr(options, "read_mode", "linearizable") == "serializable")

    def capabilities(self) -> frozenset[str]:
        return super().capabilities() | {"leader", "membership", "catch-up"}

    def programs(self) -> list[str]:
        return [self.binary]

    def initial_cluster(self) -> str:
        return ",".join(f"{n}={self.nodes[n].net.ports['peer'].url}" for n in self.node_names)

    def argv(self, name: str) -> list[str]:
        net = self.nodes[name].net
        client, peer = net.ports["client"], net.ports["peer"]
        return [self.binary, "--name", name, "--data-dir", self.nodes[name].data_dir,
                "--listen-client-urls", client.listen_url, "--advertise-client-urls", client.url,
                "--listen-peer-urls", peer.listen_url, "--initial-advertise-peer-urls", peer.url,
                "--initial-cluster", self.initial_cluster(), "--initial-cluster-state", self.cluster_state,
                "--initial-cluster-token", self.token, "--logger", "zap", "--log-outputs", "stderr",
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "100000"]

    def start(self, name: str) -> None:
        self._spawn(name, "etcd", self.argv(name))

    def await_ready(self, timeout: float = 30) -> None:
        if not procs.wait_until(self._all_healthy, timeout, interval=0.2):
            dead = [n for n, node in self.nodes.items() if not node.running()]
            raise RuntimeError(f"etcd did not become ready within {timeout:.0f}s"
                               + (f" (exited: {', '.join(dead)}; see their logs)" if dead else ""))
        self.cluster_state = "existing"
        if isinstance(self.network, ProxyNetwork):
            self.network.register_peer_ids(self.member_ids())

    def _all_healthy(self) -> bool:
        return all(self.status(n) is not None for n in self.node_names) and self.leader() is not None

    def status(self, name: str) -> dict | None:
        client = self.client(name, timeout=1.0)
        try:
            return client.post("/v3/maintenance/status", {})
        except ClientError:
            return None
        finally:
            client.close()

    def leader(self) -> str | None:
        for name in self.node_names:
            if not self.is_running(name) or self.is_paused(name):
                continue
            status = self.status(name)
            if status and status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
                return name
        return None

    def progress(self, name: str) -> dict | None:
        """A running member's revision (its local view), or None."""
        if not self.is_running(name) or self.is_paused(name):
            return None
        found = self.status(name)
        return {"revision": int(found.get("header", {}).get("revision", 0))} if found else None

    # -- membership ----------------------------------------------------------------------------------------------
    def _member_call(self, path: str, body: dict, avoid: str | None = None) -> dict:
        """A cluster API call to whichever running member answers (the leader first)."""
        last: Exception | None = None
        for name in [self.leader()] + list(self.node_names):
            if name and name != avoid and self.is_running(name):
                client = self.client(name, timeout=5.0)
                try:
                    return client.post(path, body)
                except ClientError as exc:  # try the next member
                    last = exc
                finally:
                    client.close()
        raise RuntimeError(f"no member answered {path} ({last})")

    def remove_member(self, name: str, timeout: float = 8) -> dict:
        """Remove ``name`` from the cluster (its process then exits on its own: an exit asked for).

        etcd refuses to remove a member until its peers have been connected for 5 s ("unhealthy cluster"), so
        the call is retried for a while."""
        members = self._member_call("/v3/cluster/member/list", {}).get("members", [])
        member = next(m for m in members if m.get("name") == name)
        self.expect_exit(name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._member_call("/v3/cluster/member/remove", {"ID": member["ID"]}, avoid=name)
                break
            except RuntimeError as exc:
                if "unhealthy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        procs.wait_until(lambda: not self.is_running(name), 3)
        return {"member_id": format(int(member["ID"]), "x")}

    def add_member(self, name: str) -> dict:
        """Add ``name`` back as a brand-new member (its data must have been wiped) and start it."""
        url = self.nodes[name].net.ports["peer"].url
        added = self._member_call("/v3/cluster/member/add", {"peerURLs": [url]}, avoid=name)
        self.cluster_state = "existing"
        self.start(name)
        procs.wait_until(lambda: self.progress(name) is not None, 15, interval=0.2)
        if isinstance(self.network, ProxyNetwork):
            self.network.register_peer_ids(self.member_ids())
        return {"member_id": format(int(added.get("member", {}).get("ID", 0)), "x")}

    def member_ids(self) -> dict[str, str]:
        """Member id (hex) -> node name, from each node's own status."""
        ids = {}
        for name in self.node_names:
            status = self.status(name) or {}
            member = status.get("header", {}).get("member_id")
            if member:
                ids[format(int(member), "x")] = name
        return ids

    def client(self, node: str, timeout: float) -> EtcdClient:
        endpoint = self.nodes[node].net.ports["client"]
        return EtcdClient(endpoint.dial_host, endpoint.dial_port, timeout=timeout, serializable=self.serializable)
