"""etcd as a DB under test: Debian's ``etcd-server`` (3.4), N members, one process and data directory each.

Members find each other by the peer URLs their network gives them (namespace addresses, or proxy ports when
unprivileged); clients use each member's v3 JSON gateway.  ``leader`` asks every member's ``/v3/maintenance/status``
and returns the member that says it leads.
"""
from __future__ import annotations

from typing import Any

from . import procs
from .clients import ClientError, EtcdClient
from .db import DB
from .net import ProxyNetwork

ETCD_PACKAGE = "etcd-server"


class EtcdDB(DB):
    name = "etcd"
    ports = {"client": 2379, "peer": 2380}

    def __init__(self, *args: Any, token: str = "histcheck", serializable: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binary = procs.require_binary("etcd", ETCD_PACKAGE)
        self.token = token
        self.serializable = serializable
        self.cluster_state = "new"

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
            if not self.nodes[name].running() or self.nodes[name].paused:
                continue
            status = self.status(name)
            if status and status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
                return name
        return None

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
