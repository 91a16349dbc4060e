"""Where the nodes live on the network, and the hooks that cut and heal their links.

Two topologies behind one interface (``Network``):

* ``NamespaceNetwork`` (root): every node gets its own network namespace ``hc<pid>-n<i>`` with one veth into a
  bridge that lives in a hub namespace ``hc<pid>-hub``; the runner reaches the bridge through one more veth whose
  root end holds ``.254`` of a private /24 under 10.77.0.0/16 that no interface on the machine uses.  Traffic only
  ever goes to addresses inside namespaces the run created.  Faults are nftables rules inside a node's namespace
  (a table ``inet histcheck``), so node<->node and client<->node links can be cut one by one.
* ``ProxyNetwork`` (unprivileged): every node listens on loopback, and one small TCP proxy per node
  (``histcheck.run.proxy``) carries its ports; cutting a link tells the proxies to drop and refuse the matching
  connections.  A DB that asks for it (``route_per_pair``, as system files do) gets one public port per ordered
  pair (dialer, node) and port: node a reaches b's port only through the port b's proxy keeps for a, so the proxy
  knows who dials without reading the protocol.  Otherwise (etcd, Redis) each port has one public address, and
  the proxy tells dialers apart only on etcd's peer port (its ``X-Server-From`` header); ``link_limits`` says
  which links therefore cannot be cut.

``partition(groups)`` and ``heal()`` are the hooks the nemesis builds on; ``clients`` may appear in a group to
place the clients (the runner) on one side.  Everything is removed by ``teardown()``; ``sweep_stale()`` removes
what a SIGKILLed run of an earlier process left behind.
"""
from __future__ import annotations

import fcntl
import ipaddress
import itertools
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import IO, Container, Iterable, Sequence

from . import procs

CLIENTS = "clients"
_NS_RE = re.compile(r"^hc(\d+)(?:x\d+)?-(hub|n\d+)$")
_LINK_RE = re.compile(r"^hc(\d+)(?:x\d+)?c$")
_RUNS = itertools.count()
LOCK_PATH = "/run/histcheck-net.lock"


@dataclass
class Endpoint:
    """How to reach one port of one node: where it listens and what others dial."""

    listen_host: str
    listen_port: int
    dial_host: str
    dial_port: int

    @property
    def url(self) -> str:
        return f"http://{self.dial_host}:{self.dial_port}"

    @property
    def listen_url(self) -> str:
        return f"http://{self.listen_host}:{self.listen_port}"


@dataclass
class NodeNet:
    """A node's place on the network: its name, address and ports (``client``, ``peer``, others by name), and
    ``peers``: how this node reaches each other node's ports (the addresses its peer list must name)."""

    name: str
    host: str
    ports: dict[str, Endpoint] = field(default_factory=dict)
    peers: dict[str, dict[str, Endpoint]] = field(default_factory=dict)


class Network:
    """The interface both topologies share."""

    kind = "abstract"
    programs_here = True  # the nodes' programs run on this machine (False: on remote hosts)

    def setup(self, names: Sequence[str], ports: dict[str, int]) -> dict[str, NodeNet]:
        raise NotImplementedError

    def wrap(self, name: str, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` as node ``name`` (inside its namespace, when there is one)."""
        return list(argv)

    def host(self, name: str) -> procs.NodeHost:
        """Where node ``name``'s programs run: this machine, through ``wrap`` (remote networks: its host)."""
        return procs.LocalHost(lambda argv: self.wrap(name, argv))

    def heal_failures(self) -> dict[str, str]:
        """Nodes whose links could not be healed (node -> why); only remote hosts can be out of reach."""
        return {}

    def route_per_pair(self) -> None:
        """Ask, before ``setup``, for an address per ordered pair of nodes where the topology needs one to cut
        links without reading the protocol (the proxies); namespaces tell nodes apart by address already."""

    def link_limits(self, ports: Iterable[str] | None = None, *, per_pair: bool | None = None) -> list[str]:
        """Links this topology cannot cut one by one, in words (empty when every link can be cut).  A preflight
        asks before anything is set up by passing a DB class's ``ports`` and ``per_pair_links``."""
        return []

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        raise NotImplementedError

    def heal(self) -> None:
        raise NotImplementedError

    def node_stopped(self, name: str) -> None:
        """Node ``name`` was just stopped or killed: a topology that stands between it and its dialers (the
        proxies) makes it refuse connections now, as the node itself does."""

    def teardown(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind}


def is_root() -> bool:
    return os.geteuid() == 0


def choose_network(mode: str = "auto") -> "Network":
    """``auto``: namespaces when root and ``ip`` works, proxies otherwise; ``netns`` or ``proxy`` to force one."""
    if mode == "proxy" or (mode == "auto" and not (is_root() and procs.shutil.which("ip"))):
        return ProxyNetwork()
    if mode not in ("auto", "netns"):
        raise ValueError(f"unknown network mode {mode!r}")
    if not is_root():
        from ..errors import InputError
        raise InputError("network namespaces need root", expected="--network proxy when not root")
    return NamespaceNetwork()


def group_of(groups: Sequence[Sequence[str]]) -> dict[str, int]:
    """Map each member to the index of its group (members absent from every group are left out)."""
    return {member: i for i, group in enumerate(groups) for member in group}


def cut_pairs(groups: Sequence[Sequence[str]], members: Iterable[str]) -> set[frozenset[str]]:
    """The unordered pairs of members that a partition into ``groups`` separates."""
    where = group_of(groups)
    members = list(members)
    pairs = set()
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            if a in where and b in where and where[a] != where[b]:
                pairs.add(frozenset((a, b)))
    return pairs


# -- namespaces -------------------------------------------------------------------------------------------------
class NamespaceNetwork(Network):
    """One network namespace per node on a bridge in a hub namespace (root only)."""

    kind = "netns"

    def __init__(self) -> None:
        seq = next(_RUNS)
        self.tag = f"hc{os.getpid()}" + (f"x{seq}" if seq else "")
        self.hub = f"{self.tag}-hub"
        self.root_link = f"{self.tag}c"
        self.subnet: ipaddress.IPv4Network | None = None
        self.nodes: dict[str, NodeNet] = {}
        self.namespaces: list[str] = []
        self.client_ip = ""
        self.reaper: subprocess.Popen | None = None
        self.nft = False

    def setup(self, names: Sequence[str], ports: dict[str, int]) -> dict[str, NodeNet]:
        sweep_stale()
        self.reaper = start_reaper(self.tag)
        self._add_ns(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        with open(LOCK_PATH, "a") as lock:  # concurrent runs must not pick the same subnet
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = _free_subnet()
            hosts = list(self.subnet.hosts())
            self.client_ip = str(hosts[253])
            self._add_root_link()
        for i, name in enumerate(names):
            self.nodes[name] = self._add_node(name, str(hosts[i]), ports)
        self.nft = procs.shutil.which("nft") is not None
        for name in names:
            if self.nft:
                self._nft_base(name)
        for name, node in self.nodes.items():
            node.peers = {other: self.nodes[other].ports for other in self.nodes if other != name}
        return self.nodes

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _add_node(self, name: str, ip: str, ports: dict[str, int]) -> NodeNet:
        ns = self.ns(name)
        self._add_ns(ns)
        _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", name, "netns", self.hub)
        _ip("-n", self.hub, "link", "set", name, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        endpoints = {p: Endpoint(ip, port, ip, port) for p, port in ports.items()}
        return NodeNet(name, ip, endpoints)

    def _add_root_link(self) -> None:
        _ip("link", "add", self.root_link, "type", "veth", "peer", "name", "clients", "netns", self.hub)
        _ip("-n", self.hub, "link", "set", "clients", "master", "br0", "up")
        _ip("addr", "add", f"{self.client_ip}/{self.subnet.prefixlen}", "dev", self.root_link)
        _ip("link", "set", self.root_link, "up")

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def wrap(self, name: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(name), *argv]

    def _nft_base(self, name: str) -> None:
        script = ("table inet histcheck {\n chain input { type filter hook input priority 0; policy accept; }\n"
                  " chain output { type filter hook output priority 0; policy accept; }\n}\n")
        _nft(self.ns(name), script)

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        """Drop every packet between members of different groups (``clients`` names the runner's side)."""
        if not self.nft:
            from ..errors import InputError
            raise InputError("cutting links in network namespaces needs nftables",
                             expected="`apt-get install -y nftables` (or `bash .ci/setup`)")
        self.heal()
        members = list(self.nodes) + [CLIENTS]
        blocked: dict[str, list[str]] = {n: [] for n in self.nodes}
        for pair in cut_pairs(groups, members):
            a, b = sorted(pair)
            for node, other in ((a, b), (b, a)):
                if node in blocked:
                    blocked[node].append(self.client_ip if other == CLIENTS else self.nodes[other].host)
        for node, addrs in blocked.items():
            if addrs:
                rule = "{ " + ", ".join(addrs) + " }"
                _nft(self.ns(node), f"add rule inet histcheck input ip saddr {rule} drop\n"
                                    f"add rule inet histcheck output ip daddr {rule} drop\n")

    def heal(self) -> None:
        if not self.nft:
            return
        for name in self.nodes:
            _nft(self.ns(name), "flush chain inet histcheck input\nflush chain inet histcheck output\n",
                 check=False)

    def teardown(self) -> None:
        procs.run_cmd(["ip", "link", "del", self.root_link], check=False)
        for ns in reversed(self.namespaces):
            procs.run_cmd(["ip", "netns", "del", ns], check=False)
        self.namespaces.clear()
        procs.wait_until(lambda: not _own_leftovers(self.tag), timeout=5)
        if self.reaper is not None:
            procs.kill(self.reaper)
            self.reaper = None

    def describe(self) -> dict:
        return {"kind": self.kind, "subnet": str(self.subnet), "clients": self.client_ip, "hub": self.hub,
                "namespaces": {n: self.ns(n) for n in self.nodes}}


def start_reaper(tag: str) -> subprocess.Popen:
    """A detached shell that removes this run's namespaces and link if the runner dies without cleaning up
    (SIGKILL); the runner kills it after its own teardown."""
    return procs.start_reaper(f"for ns in $(ip netns list | awk '{{print $1}}' | grep '^{tag}-'); "
                              f"do ip netns del $ns; done; ip link del {tag}c 2>/dev/null")


def _ip(*args: str) -> None:
    procs.run_cmd(["ip", *args])


def _nft(ns: str, script: str, check: bool = True) -> None:
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, capture_output=True,
                          text=True, timeout=10)
    if check and done.returncode != 0:
        raise RuntimeError(f"nft in {ns} failed: {done.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 under 10.77.0.0/16 that no address or route on the machine touches yet."""
    used = procs.run_cmd(["ip", "-4", "-o", "addr"]).stdout + procs.run_cmd(["ip", "-4", "route"]).stdout
    start = os.getpid() % 200
    for k in range(250):
        third = (start + k) % 250 + 1
        if f"10.77.{third}." not in used:
            return ipaddress.IPv4Network(f"10.77.{third}.0/24")
    raise RuntimeError("no free /24 under 10.77.0.0/16")


def list_namespaces() -> list[str]:
    done = procs.run_cmd(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def list_root_links() -> list[str]:
    done = procs.run_cmd(["ip", "-o", "link"], check=False)
    names = []
    for line in done.stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            names.append(parts[1].strip().split("@")[0])
    return names


def leftovers(tag_pid: int | None = None) -> list[str]:
    """Namespaces and root links that histcheck runs created and that still exist (of one pid, or any)."""
    out = []
    for name in list_namespaces():
        m = _NS_RE.match(name)
        if m and (tag_pid is None or int(m.group(1)) == tag_pid):
            out.append(f"netns {name}")
    for name in list_root_links():
        m = _LINK_RE.match(name)
        if m and (tag_pid is None or int(m.group(1)) == tag_pid):
            out.append(f"link {name}")
    return out


def _own_leftovers(tag: str) -> list[str]:
    return [x for x in leftovers(int(re.match(r"hc(\d+)", tag).group(1))) if tag + "-" in x or x.endswith(tag + "c")]


def sweep_stale() -> list[str]:
    """Remove namespaces and links of histcheck runs whose process is gone (a SIGKILLed runner)."""
    if not is_root():
        return []
    removed = []
    for name in list_namespaces():
        m = _NS_RE.match(name)
        if m and not procs.pid_alive(int(m.group(1))):
            procs.run_cmd(["ip", "netns", "del", name], check=False)
            removed.append(name)
    for name in list_root_links():
        m = _LINK_RE.match(name)
        if m and not procs.pid_alive(int(m.group(1))):
            procs.run_cmd(["ip", "link", "del", name], check=False)
            removed.append(name)
    return removed


# -- proxies ----------------------------------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1", avoid: Container[int] = ()) -> int:
    """A port nothing listens on, chosen below the kernel's ephemeral range: a port the kernel hands out (bind to
    0) may be taken a moment later as the source port of some outgoing connection (a client's, a peer's), and a
    node started on it then fails to listen, or a proxy sees a connection it did not carry.  Never one of
    ``avoid``: the ports already chosen for the same run, which nothing may listen on yet."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 20000), low)
        if port in avoid:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:      # that range is full: the kernel's own choice is still a free port now
        s.bind((host, 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 on Linux by default)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class ProxyNetwork(Network):
    """Loopback addresses and one TCP proxy process per node (no privileges needed).

    Each node listens on private loopback ports; its proxy listens on the public ones that clients and the other
    nodes dial.  With ``route_per_pair`` every public port belongs to one dialer (a node or ``clients``);
    otherwise a proxy learns who is dialling from the first bytes of a connection (``X-Server-From`` of etcd's
    peer protocol) and lets unknown dialers through.  Connections across a partition are dropped and refused.
    """

    kind = "proxy"

    def __init__(self, log_dir: str | None = None) -> None:
        self.nodes: dict[str, NodeNet] = {}
        self.proxies: dict[str, subprocess.Popen] = {}
        self.log_dir = log_dir
        self.per_pair = False
        self.routes: dict[str, list[dict]] = {}

    def route_per_pair(self) -> None:
        self.per_pair = True

    def setup(self, names: Sequence[str], ports: dict[str, int]) -> dict[str, NodeNet]:
        chosen: set[int] = set()

        def fresh_port() -> int:
            """Distinct ports: free_port only knows what listens now, and a port handed out twice is wanted by two
            programs of the run (one node fails to listen; or, since a proxy closes its public ports while its
            node is down, a node could take one and get its dialers)."""
            port = free_port(avoid=chosen)
            chosen.add(port)
            return port
        for name in names:
            private = {port_name: fresh_port() for port_name in ports}
            if self.per_pair:
                self.routes[name] = [{"port": p, "listen": fresh_port(), "target": private[p], "source": dialer}
                                     for p in ports for dialer in [CLIENTS, *(n for n in names if n != name)]]
            else:
                self.routes[name] = [{"port": p, "listen": fresh_port(), "target": private[p]} for p in ports]
        for name in names:
            endpoints = {r["port"]: Endpoint("127.0.0.1", r["target"], "127.0.0.1", r["listen"])
                         for r in self.routes[name] if r.get("source", CLIENTS) == CLIENTS}
            self.nodes[name] = NodeNet(name, "127.0.0.1", endpoints)
        for name, node in self.nodes.items():
            node.peers = {other: self._seen_from(name, other) for other in names if other != name}
        for name, node in self.nodes.items():
            self.proxies[name] = self._start_proxy(name, node)
        return self.nodes

    def bypasses(self) -> list[str]:
        """Established connections into a node's private port that no proxy made (``ss``): links no partition
        can cut, e.g. a node that dialled an address a peer gossiped instead of the one it was started with."""
        targets = {r["target"]: (name, r["port"]) for name, routes in self.routes.items() for r in routes}
        proxies = {str(p.pid) for p in self.proxies.values()}
        done = procs.run_cmd(["ss", "-tnpH", "state", "established"], check=False)
        found = []
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            local, peer = parts[2], parts[3]
            port = int(peer.rsplit(":", 1)[-1]) if peer.rsplit(":", 1)[-1].isdigit() else -1
            if port not in targets or not peer.startswith("127.0.0.1:"):
                continue
            pids = set(re.findall(r"pid=(\d+)", line))
            if pids and not pids & proxies:
                name, port_name = targets[port]
                found.append(f"{local} -> {name}'s {port_name} port ({peer}) by pid {', '.join(sorted(pids))}")
        return found

    def _seen_from(self, dialer: str, target: str) -> dict[str, Endpoint]:
        """The ports of ``target`` as ``dialer`` reaches them (its own public ports, when routed per pair)."""
        wanted = dialer if self.per_pair else None
        return {r["port"]: Endpoint("127.0.0.1", r["target"], "127.0.0.1", r["listen"])
                for r in self.routes[target] if r.get("source") == wanted}

    def link_limits(self, ports: Iterable[str] | None = None, *, per_pair: bool | None = None) -> list[str]:
        """Without per-pair ports, only etcd's peer port names its dialer; links over other ports stay up."""
        if self.per_pair if per_pair is None else per_pair:
            return []
        if ports is None:
            ports = {r["port"] for routes in self.routes.values() for r in routes}
        shared = sorted(set(ports) - {"client", "peer"})
        return [f"port {p!r}: the proxies cannot tell which node dials it, so a partition leaves node-to-node "
                f"links over it up" for p in shared]

    def _start_proxy(self, name: str, node: NodeNet) -> subprocess.Popen:
        """Start the proxy and wait for its ``ready`` (every public port bound): no connection of ours goes
        through it, and one that cannot bind a port exits at once instead of timing out."""
        routes = self.routes[name]
        argv = [sys.executable, "-m", "histcheck.run.proxy", name, json.dumps(routes), f"hc{os.getpid()}"]
        proc = procs.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, log=self._log(name))
        if _first_line(proc.stdout, timeout=10) != b"ready":
            procs.kill(proc)
            raise RuntimeError(f"the proxy for {name} did not start")
        return proc

    def _log(self, name: str) -> IO[bytes] | None:
        if self.log_dir is None:
            return None
        return open(os.path.join(self.log_dir, f"proxy-{name}.log"), "ab")

    def register_peer_ids(self, ids: dict[str, str]) -> None:
        """Tell every proxy which etcd member id is which node (to recognise peer connections)."""
        self._send({"cmd": "ids", "ids": ids})

    def partition(self, groups: Sequence[Sequence[str]]) -> None:
        members = list(self.nodes) + [CLIENTS]
        pairs = [sorted(p) for p in cut_pairs(groups, members)]
        self._send({"cmd": "block", "pairs": pairs})

    def heal(self) -> None:
        self._send({"cmd": "block", "pairs": []})

    def cut_links(self, pairs: Iterable[Iterable[str]]) -> None:
        """Cut exactly these links (node or ``clients`` pairs), replacing any earlier cut (the nemesis's hook)."""
        self._send({"cmd": "block", "pairs": [sorted(p) for p in pairs]})

    def shape(self, rules: list[dict]) -> None:
        """Loss / latency / count-filter rules (see ``histcheck.run.proxy``); an empty list removes them."""
        self._send({"cmd": "shape", "rules": rules})

    def node_stopped(self, name: str) -> None:
        """The proxy closes the public ports of the node's dead ports before the next request (it would notice
        on its own, but only once a connection had slipped through it)."""
        if name in self.proxies:
            self._send({"cmd": "check"}, [self.proxies[name]])

    def _send(self, message: dict, proxies: Iterable[subprocess.Popen] | None = None) -> None:
        """Send a command to every proxy (or to ``proxies``) and wait for each to confirm it is in force."""
        line = (json.dumps(message) + "\n").encode()
        sent = []
        for proc in self.proxies.values() if proxies is None else proxies:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    sent.append(proc)
                except (BrokenPipeError, OSError):
                    pass
        for proc in sent:
            proc.stdout.readline()

    def teardown(self) -> None:
        for proc in self.proxies.values():
            procs.stop(proc, grace=1)
        self.proxies.clear()

    def describe(self) -> dict:
        out: dict = {"kind": self.kind, "per_pair": self.per_pair,
                     "proxies": {n: {p: e.dial_port for p, e in node.ports.items()} for n, node in self.nodes.items()}}
        if self.per_pair:
            out["peer_ports"] = {n: {other: {p: e.dial_port for p, e in ports.items()}
                                     for other, ports in node.peers.items()} for n, node in self.nodes.items()}
        limits = self.link_limits()
        if limits:
            out["link_limits"] = limits
        return out


def own_processes(pid: int) -> list[str]:
    """Command lines of live processes that belong to the run of ``pid`` (nodes, proxies, reaper)."""
    mark = re.compile(rf"histcheck-{pid}-|\bhc{pid}(?!\d)")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if mark.search(cmdline):
            found.append(f"{entry}: {cmdline.strip()}")
    return found


def wait_until_gone(pid: int, timeout: float = 10) -> bool:
    """Wait until nothing of the run of ``pid`` is left (processes, namespaces, links, node data)."""
    import glob
    import tempfile
    data = os.path.join(tempfile.gettempdir(), f"histcheck-{pid}-*")
    return procs.wait_until(lambda: not own_processes(pid) and not (is_root() and leftovers(pid))
                            and not glob.glob(data), timeout, interval=0.2)


def _first_line(stream: IO[bytes] | None, timeout: float) -> bytes | None:
    """The first line a child writes on ``stream`` (stripped), or None when none comes within ``timeout``."""
    if stream is None or not select.select([stream], [], [], timeout)[0]:
        return None
    return stream.readline().strip()
