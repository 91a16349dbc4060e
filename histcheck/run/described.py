"""A database described by a system file: ``histcheck run --db path/to/system.toml``.

``db_class_for(path)`` reads and checks the file once (``system_file.load``) and returns a ``DB`` subclass with
the standard constructor ``(node_names, network, work_dir, log_dir)``, so the runner treats it like any other DB.
Its capabilities follow from what the file gives: every described system can be started, stopped, killed,
paused, wiped and cut off (its nodes name the addresses the run's network gives them); ``[leader]`` adds
``leader``, ``[progress]`` adds ``catch-up``, ``[membership]`` adds ``membership`` and ``[failpoints]`` adds
``failpoints``.

On a ``ProxyNetwork`` the DB asks for a public port per ordered pair of nodes, and a node's start command names,
for every other node, the address of that node *as seen from this one*; so the proxies know who dials without
reading the protocol, and a partition of any system is a partition.  Probes, membership and failpoint requests
run on the runner's side and reach a node as the clients do.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any, Sequence

from ..errors import InputError
from . import procs
from .db import DB
from .net import Endpoint, Network
from .clients import ClientError
from .python_client import load_client_class, open_client
from .system_file import OPERATION_OPTIONS, Probe, Request, SystemFile, load
from .templates import fields, render_text, render_tree

_CACHE: dict[tuple, type["DescribedDB"]] = {}


def db_class_for(path: str) -> type["DescribedDB"]:
    """The DB class for the system file at ``path`` (read once; a bad file raises InputError with its line)."""
    try:
        stat = os.stat(path)
        key: tuple = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)  # an edited file is read again
    except OSError:
        key = (os.path.abspath(path),)
    if key not in _CACHE:
        spec = load(path)
        _CACHE[key] = type(f"Described_{spec.name}", (DescribedDB,),
                           {"system": spec, "name": spec.name, "ports": dict(spec.ports), "__module__": __name__})
    return _CACHE[key]


class DescribedDB(DB):
    """Nodes started, probed and spoken to as ``system`` (a SystemFile) says."""

    system: SystemFile
    per_pair_links = True  # asks the proxies for a port per ordered pair of nodes (see Network.route_per_pair)

    def __init__(self, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str, *,
                 read_mode: str = "linearizable") -> None:
        super().__init__(node_names, network, work_dir, log_dir)
        if network.programs_here:  # remote hosts are checked for them at setup
            self.require_programs()
        self.read_mode = read_mode
        self.network.route_per_pair()
        self.creating = True  # the first start of every node: the first one bootstraps, the others join
        self.joining: set[str] = set()  # nodes added back by add_member: they start with the join command
        self.failpoints: dict[str, dict[str, str]] = {}  # node -> failpoint -> action (the env variable form)
        self.down: set[str] = set()  # nodes stopped or killed on purpose: readiness does not wait for them
        self._lock = threading.Lock()

    @classmethod
    def build(cls, node_names: Sequence[str], network: Network, work_dir: str, log_dir: str,
              options: Any) -> "DescribedDB":
        """A described system honours the run's read mode (ZooKeeper's ``sync`` before reads, or local reads)."""
        return cls(node_names, network, work_dir, log_dir, read_mode=options.read_mode)

    def programs(self) -> list[str]:
        """The programs the start commands run, found on PATH (the clock nemesis inspects them)."""
        commands = (self.system.command, self.system.bootstrap, self.system.join)
        here = self.network.programs_here
        found = ((shutil.which(c[0]) if here else None) or c[0] for c in commands if c and "{" not in c[0])
        return list(dict.fromkeys(found))

    def require_programs(self) -> None:
        """Stop at once, saying how to install it, when a program or file the system needs is missing."""
        missing = self.system.missing()
        if missing:
            package = self.system.package
            raise InputError(f"{self.system.name}: {', '.join(missing)} not found",
                             path=self.system.path,
                             expected=(f"the Debian package {package}: `apt-get install -y {package}` as root "
                                       f"(or `bash .ci/setup`)") if package else "the programs on PATH")

    # -- capabilities ------------------------------------------------------------------------------------------
    def capabilities(self) -> frozenset[str]:
        return self.system.capabilities()

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.creating = False
        self.prepare_client()

    def prepare_client(self) -> None:
        """A client class may define ``prepare()``: what must exist before the first operation (a bucket, a
        table).  It runs once, on the first node, retried until the readiness deadline."""
        cls = load_client_class(self.system.client_kind, self.system.directory)
        if not callable(getattr(cls, "prepare", None)):
            return
        deadline = time.monotonic() + self.system.ready_deadline
        while True:
            client = self.client(self.node_names[0], timeout=5.0)
            try:
                client.prepare()
                return
            except ClientError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.system.name}: the client's prepare() failed: {exc}") from exc
                time.sleep(0.5)
            finally:
                client.close()

    def await_ready(self, timeout: float | None = None) -> None:
        deadline = self.system.ready_deadline if timeout is None else timeout
        if not procs.wait_until(lambda: self._serving() or self._any_exited(), deadline, interval=0.25) \
                or self._any_exited():
            dead = [n for n in self._meant_up() if not self.nodes[n].running()]
            unready = [n for n in self._meant_up() if n not in dead and not self.ready(n)]
            raise RuntimeError(f"{self.system.name} did not become ready within {deadline:.0f}s"
                               + (f"; exited: {', '.join(dead)}" if dead else "")
                               + (f"; not ready: {', '.join(unready)}" if unready else "")
                               + ("; no leader" if not dead and not unready else "")
                               + f" (see the node logs in {self.log_dir})")

    def _meant_up(self) -> list[str]:
        return [n for n in self.node_names if n not in self.down]

    def _any_exited(self) -> bool:
        """A node that exited by itself while starting will not serve: stop waiting (its log says why)."""
        return any(not self.nodes[n].running() for n in self._meant_up())

    def _serving(self) -> bool:
        if not all(self.ready(n) for n in self._meant_up()):
            return False
        return self.system.leader is None or self.leader() is not None

    def ready(self, name: str) -> bool:
        """Does node ``name`` pass the readiness probe (a running process, when the file has no probe)?"""
        if not self.nodes[name].running():
            return False
        if self.system.ready is None:
            return True
        ok, _ = self.ask(name, self.system.ready)
        return ok

    # -- starting a node ---------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        argv = self.command_for(name)
        self.write_files(name)
        env = self.environment(name)
        prefix = ["env", "-C", self.nodes[name].data_dir, "--", *(f"{k}={v}" for k, v in env.items())]
        self._spawn(name, self.system.name, [*prefix, *argv])
        self.joining.discard(name)
        self.down.discard(name)

    def stop(self, name: str) -> None:
        self.down.add(name)
        super().stop(name)

    def kill(self, name: str) -> None:
        self.down.add(name)
        super().kill(name)

    def command_for(self, name: str) -> list[str]:
        """The start command for ``name`` now: bootstrap (the first node, at creation), join (the other nodes at
        creation, and a node added back), or the plain command (a restart)."""
        spec = self.system
        first = self.node_names.index(name) == 0
        template = spec.command
        if self.creating and first and spec.bootstrap:
            template = spec.bootstrap
        elif (self.creating and not first or name in self.joining) and spec.join:
            template = spec.join
        if self.creating and not first and spec.bootstrap:
            self._await_first()
        return self.render_argv(name, template)

    def _await_first(self) -> None:
        first = self.node_names[0]
        if not procs.wait_until(lambda: self.ready(first), self.system.ready_deadline, interval=0.25):
            raise RuntimeError(f"{self.system.name}: the bootstrap node {first} did not become ready "
                               f"within {self.system.ready_deadline:.0f}s (see {self.nodes[first].log_path})")

    def render_argv(self, name: str, template: list[str]) -> list[str]:
        """Render each argument; one that uses ``peer.*`` fields is repeated once per other node, together with
        the option just before it when that is a bare flag (``"--peer", "{peer.address}:{peer.port[raft]}"``
        gives one ``--peer`` per peer)."""
        context = self.node_context(name)
        argv: list[str] = []
        for i, arg in enumerate(template):
            if not _uses_peer(arg):
                if not _is_flag_of_peer(template, i):
                    argv.append(render_text(arg, context))
                continue
            flag = template[i - 1] if i > 0 and _is_flag_of_peer(template, i - 1) else None
            for peer in self.peer_views(name, include_self=False):
                if flag is not None:
                    argv.append(render_text(flag, context))
                argv.append(render_text(arg, {**context, "peer": peer}))
        return argv

    def write_files(self, name: str) -> None:
        context = self.node_context(name)
        for path_template, content in self.system.files.items():
            path = render_text(path_template, context)
            if not os.path.isabs(path):
                path = os.path.join(self.nodes[name].data_dir, path)
            self.host(name).write_file(path, render_text(content, context))

    def environment(self, name: str) -> dict[str, str]:
        context = self.node_context(name)
        env = {k: render_text(v, context) for k, v in self.system.env.items()}
        spec = self.system
        if spec.failpoint_env and self.failpoints.get(name):
            env[spec.failpoint_env] = spec.failpoint_env_sep.join(
                render_text(spec.failpoint_env_format, {"failpoint": fp, "action": action})
                for fp, action in sorted(self.failpoints[name].items()))
        return env

    # -- template contexts -------------------------------------------------------------------------------------
    def peer_views(self, name: str, *, include_self: bool) -> list[SimpleNamespace]:
        """Every node as ``name`` reaches it (itself: where it listens), in cluster order."""
        net = self.nodes[name].net
        views = []
        for index, other in enumerate(self.node_names):
            if other == name:
                if include_self:
                    views.append(_view(other, index, net.host, {p: e.listen_port for p, e in net.ports.items()}))
                continue
            ports = net.peers[other]
            host = next(iter(ports.values())).dial_host
            views.append(_view(other, index, host, {p: e.dial_port for p, e in ports.items()}))
        return views

    def _base(self, name: str) -> dict[str, Any]:
        index = self.node_names.index(name)
        return {"name": name, "index": index, "id": index + 1, "nodes": len(self.node_names),
                "data_dir": self.nodes[name].data_dir, "read_mode": self.read_mode,
                "system_dir": self.system.directory}

    def node_context(self, name: str) -> dict[str, Any]:
        """The fields of a start command, a file or the environment of node ``name``."""
        net = self.nodes[name].net
        everyone = self.peer_views(name, include_self=True)
        others = [v for v in everyone if v.name != name]
        context = self._base(name)
        context.update({
            "address": net.host,
            "port": {p: e.listen_port for p, e in net.ports.items()},
            "listen": {p: f"{e.listen_host}:{e.listen_port}" for p, e in net.ports.items()},
            "peers": {p: ",".join(f"{v.address}:{v.port[p]}" for v in others) for p in net.ports},
            "cluster": {p: ",".join(f"{v.name}=http://{v.address}:{v.port[p]}" for v in everyone)
                        for p in net.ports},
        })
        for list_name, spec in self.system.lists.items():
            views = everyone if spec.include_self else others
            context[list_name] = spec.sep.join(render_text(spec.each, {**context, "peer": v}) for v in views)
        return context

    def view_context(self, name: str) -> dict[str, Any]:
        """The fields of probes, requests and client options: node ``name`` as the runner reaches it."""
        ports = self.nodes[name].net.ports
        context = self._base(name)
        context["address"] = next(iter(ports.values())).dial_host
        context["port"] = {p: e.dial_port for p, e in ports.items()}
        return context

    # -- probes ------------------------------------------------------------------------------------------------
    def ask(self, name: str, probe: Probe) -> tuple[bool, Any]:
        """Ask node ``name`` a probe: (passed, answer), never raising for an unreachable node."""
        context = self.view_context(name)
        try:
            if probe.kind == "tcp":
                endpoint = self.nodes[name].net.ports[probe.target]
                reply = _tcp(endpoint, probe.send, probe.timeout)
                return (probe.expect is None or probe.expect in reply), reply
            if probe.kind == "http":
                status, body = _http("GET", render_text(probe.target, context), None, probe.timeout)
                ok = 200 <= status < 300
            else:
                argv = [render_text(a, context) for a in probe.target]
                done = self.host(name).run(argv, timeout=probe.timeout)
                ok, body = done.returncode == 0, done.stdout
            if not ok:
                return False, body
            answer: Any = body.strip() if isinstance(body, str) else body
            if probe.json_path:
                answer = json_path(json.loads(body), probe.json_path)
            if probe.expect is not None:
                return probe.expect in str(answer), answer
            return True, answer
        except (OSError, ValueError, KeyError, IndexError, TypeError, subprocess.SubprocessError,
                http.client.HTTPException):
            return False, None

    def leader(self) -> str | None:
        """The node that leads: the one whose probe passes (``expect`` of a tcp probe, or ``equals``), or, when
        answers name the leader, the name most nodes give (an isolated node may still name a deposed one)."""
        probe = self.system.leader
        if probe is None:
            return None
        named: list[str] = []
        for name in self.node_names:
            node = self.nodes.get(name)
            if node is None or not node.running() or node.paused:
                continue
            ok, answer = self.ask(name, probe)
            if not ok:
                continue
            if probe.equals is not None:
                if answer == probe.equals or str(answer) == str(probe.equals):
                    return name
            elif probe.expect is not None and probe.kind == "tcp":
                return name
            elif self._node_named(answer) is not None:
                named.append(self._node_named(answer))
        return max(named, key=named.count) if named else None

    def progress(self, name: str) -> dict:
        """How far node ``name`` has got (the ``[progress]`` probe's answer as a number: a log index, a zxid, a
        revision), so a restarted node's catch-up can be awaited and measured; ``position`` is None when the
        node does not answer."""
        probe = self.system.progress
        node = self.nodes.get(name)
        if probe is None or node is None or not node.running() or node.paused:
            return {"node": name, "position": None}
        ok, answer = self.ask(name, probe)
        position = None
        if ok and answer is not None:
            text = str(answer)
            pattern = self.system.progress_pattern
            found = pattern.search(text) if pattern else None
            try:
                position = int(found.group(1) if found else text.strip(), 0)
            except (ValueError, AttributeError):
                position = None
        return {"node": name, "position": position}

    def _node_named(self, answer: Any) -> str | None:
        text = str(answer).strip()
        for index, name in enumerate(self.node_names):
            if text in (name, str(index + 1)):
                return name
        return None

    # -- membership and failpoints -----------------------------------------------------------------------------
    def remove_member(self, name: str) -> dict:
        """Remove ``name`` from the cluster (asked of another running member), stop it and wipe its data."""
        via = self._other_member(name)
        result = self.perform(self.system.remove_member, name, {"via": via})
        self.stop(name)
        self.wipe(name)
        return result

    def add_member(self, name: str) -> dict:
        """Add ``name`` back as a new member and start it with the join command."""
        via = self._other_member(name)
        result = self.perform(self.system.add_member, name, {"via": via})
        self.joining.add(name)
        self.start(name)
        return result

    def _other_member(self, name: str) -> SimpleNamespace:
        for index, other in enumerate(self.node_names):
            node = self.nodes[other]
            if other != name and node.running() and not node.paused:
                ports = node.net.ports
                return _view(other, index, next(iter(ports.values())).dial_host,
                             {p: e.dial_port for p, e in ports.items()})
        raise RuntimeError(f"no running member to change the membership of {name} through")

    def set_failpoint(self, name: str, failpoint: str, action: str) -> dict:
        """Turn a failpoint on: by the file's request, or (env form) by restarting the node with it set."""
        return self._failpoint(name, failpoint, action, self.system.failpoint_set)

    def clear_failpoint(self, name: str, failpoint: str) -> dict:
        return self._failpoint(name, failpoint, None, self.system.failpoint_clear)

    def _failpoint(self, name: str, failpoint: str, action: str | None, request: Request | None) -> dict:
        if request is not None:
            return self.perform(request, name, {"failpoint": failpoint, "action": action or ""})
        with self._lock:
            active = self.failpoints.setdefault(name, {})
            if action is None:
                active.pop(failpoint, None)
            else:
                active[failpoint] = action
        self.kill(name)
        self.start(name)
        return {"restarted": name, "env": self.environment(name).get(self.system.failpoint_env, "")}

    def perform(self, request: Request, name: str, extra: dict[str, Any]) -> dict:
        """Run one membership or failpoint request against node ``name``; a failure raises with its output."""
        context = {**self.view_context(name), **extra}
        if request.kind == "http":
            url = render_text(request.target, context)
            body = None if request.body is None else render_text(request.body, context)
            status, text = _http(request.method, url, body, 10)
            if not 200 <= status < 300:
                raise RuntimeError(f"{request.method} {url} answered {status}: {text[:200]}")
            return {"status": status}
        argv = [render_text(a, context) for a in request.target]
        done = self.host(name).run(argv, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {(done.stderr or done.stdout)[:200]}")
        return {"exit": 0}

    # -- clients and description -------------------------------------------------------------------------------
    def client(self, node: str, timeout: float) -> Any:
        own = OPERATION_OPTIONS.get(self.system.client_kind, ())
        options = {k: v if k in own else render_tree(v, self.view_context(node))
                   for k, v in self.system.client_options.items()}
        return open_client(self.system.client_kind, options, timeout, self.system.directory)

    def describe(self) -> dict:
        out = super().describe()
        out.update({"system_file": os.path.abspath(self.system.path), "capabilities": sorted(self.capabilities()),
                    "client": self.system.client_kind})
        limits = self.network.link_limits()
        if limits:
            out["link_limits"] = limits
        return out


def _uses_peer(arg: str) -> bool:
    return any(f == "peer" or f.startswith("peer.") for f in fields(arg))


def _is_flag_of_peer(template: list[str], i: int) -> bool:
    """Is ``template[i]`` a bare option (``--peer``) whose value, the next argument, repeats per peer?"""
    arg = template[i]
    return (arg.startswith("-") and not fields(arg) and i + 1 < len(template) and _uses_peer(template[i + 1]))


def _view(name: str, index: int, host: str, ports: dict[str, int]) -> SimpleNamespace:
    return SimpleNamespace(name=name, index=index, id=index + 1, address=host, port=ports)


def json_path(value: Any, path: str) -> Any:
    """``a.b.0.c``: dict keys and list indexes, one dot apart."""
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _tcp(endpoint: Endpoint, send: str | None, timeout: float) -> str:
    with socket.create_connection((endpoint.dial_host, endpoint.dial_port), timeout=timeout) as sock:
        if send is None:
            return ""
        sock.sendall(send.encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode(errors="replace")


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # nodes are local: never an HTTP proxy


def _http(method: str, url: str, body: str | None, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, data=None if body is None else body.encode(), method=method)
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
