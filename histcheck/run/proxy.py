"""A small TCP proxy for one node, so that an unprivileged run can still cut links.

``python -m histcheck.run.proxy NODE ROUTES OWNER`` (OWNER tags the process with its run) listens on each route's
public port and forwards to the node's private port.  It writes ``ready`` on stdout once every public port is bound
(a port already taken stops it instead), then reads commands as JSON lines on stdin:

* ``{"cmd": "ids", "ids": {"<member id hex>": "n2"}}``: who is who on the peer port (etcd sends
  ``X-Server-From: <id>`` on every peer request);
* ``{"cmd": "block", "pairs": [["n1", "n2"], ["clients", "n3"]]}``: drop existing connections across these links
  and refuse new ones (an empty list heals).
* ``{"cmd": "shape", "rules": [{"src": "n1", "dst": "n2", "loss": 30, "delay_ms": 50, "jitter_ms": 20,
  "count": 100}]}``: the nemesis's loss, latency and count-filter rules for the streams ``src`` dials into ``dst``
  (an empty list removes them).
* ``{"cmd": "check"}``: probe the node's private ports now (the runner sends it once it has stopped or killed the
  node), so that the public ports of those that refuse are closed before the answer.

Each command is answered with ``ok`` on stdout once it is in force, so a partition is complete when the call
that asked for it returns.

A dead node looks dead through its proxy.  The kernel completes a client's handshake before the proxy dials the
node, so a client of a dead node would see a connection open and then close (``:info``: the request may have
done anything) where the node itself would have refused it (``:fail``: it certainly did nothing).  So once the
node has been seen listening on a private port, the public ports of every route to it listen only while it does:
when a dial to it is refused, or a ``check`` finds it refusing, the proxy closes them, and the kernel refuses new
connections there.  It probes that private port every 10 ms and binds the same public ports again
(``SO_REUSEADDR``) once a probe connects, whenever the node comes back; a probe that times out reopens them too,
since only a refusal proves that nothing listens.

Before the node is first seen listening (by a probe, or a dial that went through), its public ports listen and a
refused dial only closes its connection, as before: nodes that start together dial each other within a
millisecond, and ports that opened only at the next probe would turn those dials into refusals and slow the
cluster's forming (a NATS server retries a route a second later, and its JetStream election may then take
seconds more).  The runner records no client request before the cluster is ready.  A ``check`` closes them at
once (the runner stopped the node).

What slips through is closed or reset, and so stays ``:info`` (the conservative side): after a node dies on its
own, the connections that reach a public port before a dial to the node is refused (typically one, since one
refusal makes the proxy probe all the node's private ports), and those accepted or queued in the milliseconds it
takes to close them.  A ``check`` after a kill or stop leaves none.  The other way round, the public ports still
refuse for up to a probe interval after the node listens again: a request then is ``:fail`` (true: it did
nothing), a peer retries its dial.  A probe that connects is a connection the node sees open and close at once
(some log it).  A public port that cannot be bound again (another program took it meanwhile) is retried at each
probe and logged on stderr.  Cuts, shaping and established connections work as before: a link to a dead node
ends when the node's side does.

A route that names its ``source`` (a node, or ``clients``) is that dialer's own port: the runner gives every
ordered pair of nodes its own public port when a DB asks for it, so the proxy knows who dials without reading
the protocol.  Without a source, connections on a ``client`` route come from ``clients``; connections on a
``peer`` route are attributed by their latest ``X-Server-From`` header (etcd's peer protocol, scanned on every
request); on other routes (Redis's replication and sentinel ports) the dialer is unknown, and unknown dialers are
let through.  The proxy exits when stdin closes, which happens when the runner dies.
"""
from __future__ import annotations

import json
import random
import re
import selectors
import socket
import sys
import threading
import time
import traceback
from typing import Any, Callable

_FROM = re.compile(rb"(?im)^x-server-from:\s*([0-9a-f]+)\s*$")
PROBE_INTERVAL = 0.01   # seconds between probes of a private port that is down (or not seen up yet)
PROBE_TIMEOUT = 0.05    # no answer is no refusal (a full backlog drops the SYN): kept short, the loop waits on it


class Link:
    """One proxied connection and who is on the other end (a name, ``id:<member>``, or ``unknown``)."""

    def __init__(self, source: str, down: socket.socket, up: socket.socket) -> None:
        self.source = source
        self.down = down
        self.up = up
        self.closed = False

    def close(self) -> None:
        self.closed = True
        _close(self.down, self.up)


class Gate:
    """The public ports of every route to one private port (``target``), in one of three states:

    * ``unseen``: the node has not listened there since the proxy started; the ports listen, as before a node
      has started (a dial that is refused only closes its connection);
    * ``up``: the node listened at the last look; the ports listen;
    * ``down``: the node refused (after being seen, or at a ``check``); the ports are closed.
    """

    def __init__(self, target: int, routes: list[dict[str, Any]]) -> None:
        self.target = target
        self.routes = routes
        self.label = f"{routes[0]['port']} port {target}"   # for the log: "peer port 23456"
        self.state = "unseen"
        self.listeners: dict[int, socket.socket] = {}   # index in ``routes`` -> its listening socket
        self.bind_failures: set[int] = set()    # routes whose failure to bind again has been logged

    def unbound(self) -> list[int]:
        return [i for i in range(len(self.routes)) if i not in self.listeners]

    def waiting(self) -> bool:
        """Does this gate need the probe loop (a node not seen yet or down, or a port not bound again yet)?"""
        return self.state != "up" or bool(self.unbound())


class PublicPorts:
    """The proxy's listening sockets, closed while the node behind them is down (see ``Gate``).

    One thread owns every listening socket: it accepts, closes a gate's ports when told of a refusal, and
    probes and re-binds.  So no accept can race a close or a re-bind, and commands (which never touch a
    listener) go on being read and answered while a node is down."""

    def __init__(self, node: str, routes: list[dict[str, Any]],
                 on_connection: Callable[[socket.socket, dict[str, Any]], None]) -> None:
        self.node = node
        targets = dict.fromkeys(int(r["target"]) for r in routes)
        self.gates = [Gate(t, [r for r in routes if int(r["target"]) == t]) for t in targets]
        self.on_connection = on_connection
        self.selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._pending = threading.Lock()
        self._refused_targets: set[int] = set()
        self._connected_targets: set[int] = set()
        self._checks_waiting: list[threading.Event] = []
        self._next_probe = 0.0

    def open(self) -> None:
        """Bind every public port (raises when one is taken), then start the loop."""
        for gate in self.gates:
            for index in range(len(gate.routes)):
                self._listen(gate, index)
        for sock in (self._wake_reader, self._wake_writer):
            sock.setblocking(False)
        self.selector.register(self._wake_reader, selectors.EVENT_READ, None)
        threading.Thread(target=self._run, daemon=True).start()

    def connected(self, target: int) -> None:
        """A dial to private port ``target`` went through (called by connection threads): the node is up there."""
        if any(gate.state == "unseen" and gate.target == target for gate in self.gates):
            with self._pending:
                self._connected_targets.add(target)
            self._wake()

    def refused(self, target: int) -> None:
        """A dial to private port ``target`` was refused (called by connection threads): check the gates soon."""
        with self._pending:
            self._refused_targets.add(target)
        self._wake()

    def check(self) -> None:
        """Probe every private port now; return once the public ports of those that refuse are closed."""
        done = threading.Event()
        with self._pending:
            self._checks_waiting.append(done)
        self._wake()
        done.wait()

    # -- the loop (the only thread that touches a listener after ``open``) -------------------------------------
    def _run(self) -> None:
        while True:
            try:
                self._turn()
            except Exception:   # noqa: BLE001 - a bug in one turn must not leave the ports unserved for good
                traceback.print_exc()
                time.sleep(PROBE_INTERVAL)

    def _turn(self) -> None:
        """Accept what is ready, then handle reported refusals and checks, or probe (when a probe is due)."""
        waiting = any(gate.waiting() for gate in self.gates)
        timeout = max(0.0, self._next_probe - time.monotonic()) if waiting else None
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                self._drain_wake()
            else:
                self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
        self._handle_reports()
        if waiting and time.monotonic() >= self._next_probe:
            self._probe_waiting()
            self._next_probe = time.monotonic() + PROBE_INTERVAL

    def _handle_reports(self) -> None:
        """A connection that went through shows an unseen gate up; a refusal at a gate that was up closes the up
        gates that refuse now (a refusal at an unseen one is a node not started yet); a check closes the unseen
        ones that refuse too (the runner stopped the node)."""
        with self._pending:
            refused, self._refused_targets = self._refused_targets, set()
            connected, self._connected_targets = self._connected_targets, set()
            checks, self._checks_waiting = self._checks_waiting, []
        for gate in self.gates:
            if gate.state == "unseen" and gate.target in connected:
                gate.state = "up"
        try:
            if checks:
                self._close_refusing({"up", "unseen"})
            elif any(gate.state == "up" and gate.target in refused for gate in self.gates):
                self._close_refusing({"up"})
        finally:
            for done in checks:     # answered even if probing failed: the runner waits for this
                done.set()

    def _close_refusing(self, states: set[str]) -> None:
        """Close the public ports of the gates in ``states`` whose private port refuses a probe now (a dead
        node has all its ports dead: probing them all spares each port its own connection slipping through)."""
        for gate in self.gates:
            if gate.state in states and _refuses(gate.target):
                gate.state = "down"
                for listener in gate.listeners.values():
                    self.selector.unregister(listener)
                    listener.close()    # connections still queued on it are reset
                gate.listeners.clear()
                _log(f"{self.node}: {gate.label} refuses: its public ports are closed")

    def _probe_waiting(self) -> None:
        """Probe each unseen or down gate: one whose private port accepts is up (a down one binds its public
        ports again); retry binding the ports an up gate could not bind yet."""
        for gate in self.gates:
            if gate.state != "up" and not _refuses(gate.target):
                if gate.state == "down":
                    _log(f"{self.node}: {gate.label} accepts again: its public ports listen")
                gate.state = "up"
            if gate.state == "up":
                for index in gate.unbound():
                    self._listen_again(gate, index)

    def _listen_again(self, gate: Gate, index: int) -> None:
        try:
            self._listen(gate, index)
        except OSError as exc:
            if index not in gate.bind_failures:
                gate.bind_failures.add(index)
                _log(f"{self.node}: cannot bind public port {gate.routes[index]['listen']} again ({exc}); retrying")
            return
        gate.bind_failures.discard(index)

    def _listen(self, gate: Gate, index: int) -> None:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(gate.routes[index]["listen"])))
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self.selector.register(listener, selectors.EVENT_READ, gate.routes[index])
        gate.listeners[index] = listener

    def _accept(self, listener: socket.socket, route: dict[str, Any]) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # e.g. out of file descriptors: the connection stays queued, try again later
            _log(f"{self.node}: accept on port {route['listen']} failed ({exc})")
            time.sleep(PROBE_INTERVAL)
            return
        conn.setblocking(True)
        threading.Thread(target=self.on_connection, args=(conn, route), daemon=True).start()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass    # its buffer is full: the loop has wake-ups to read already

    def _drain_wake(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except OSError:     # drained (BlockingIOError)
            pass


def _refuses(port: int) -> bool:
    """Does the node's private ``port`` refuse a connection right now (nothing listens there)?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


class Proxy:
    def __init__(self, node: str, routes: list[dict[str, Any]]) -> None:
        self.node = node
        self.routes = routes
        self.ids: dict[str, str] = {}
        self.blocked: set[frozenset[str]] = set()
        self.links: list[Link] = []
        self.lock = threading.Lock()
        self.shape_rules: list[dict] = []  # the nemesis's loss / latency / count rules for this node
        self.ports = PublicPorts(node, routes, self._handle)

    def serve(self) -> None:
        self.ports.open()
        _answer("ready")
        self._commands()

    def _handle(self, conn: socket.socket, route: dict) -> None:
        source = route.get("source") or ("clients" if route["port"] == "client" else "unknown")
        if self._is_blocked(source):
            conn.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(route["target"])), timeout=5)
        except ConnectionRefusedError:  # the node is down: its public ports must refuse too, from now on
            conn.close()
            self.ports.refused(int(route["target"]))
            return
        except OSError:
            conn.close()
            return
        self.ports.connected(int(route["target"]))
        upstream.settimeout(None)
        for s in (conn, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = Link(source, conn, upstream)
        with self.lock:     # checked again under the lock a block command takes: a cut that came while this
            admitted = not self._is_blocked(source)  # connection was being made must not leave it through
            if admitted:
                self.links.append(link)
        if not admitted:
            link.close()
            return
        threading.Thread(target=_pump, args=(upstream, conn), daemon=True).start()
        self._pump_in(link, sniff=route["port"] == "peer" and not route.get("source"))

    def _pump_in(self, link: Link, sniff: bool) -> None:
        """Forward dialer -> node; on a peer route, (re)attribute the link by every ``X-Server-From`` seen
        (keep-alive connections may start with a probe that carries no sender) and cut it once blocked."""
        tail = b""
        try:
            while not link.closed:
                data = link.down.recv(65536)
                if not data:
                    break
                if sniff:
                    match = None
                    for match in _FROM.finditer(tail + data):
                        pass
                    if match is not None:
                        link.source = "id:" + match.group(1).decode().lower()
                    tail = data[-256:]
                    if self._is_blocked(link.source):
                        break
                if self.shape_rules and not self._shape(link):
                    break
                link.up.sendall(data)
        except OSError:
            pass
        link.close()

    def _shape(self, link: Link) -> bool:
        """Apply the nemesis's rules to one chunk from this link's source (a TCP proxy cannot lose a packet, so a
        lost one costs what TCP pays: a 200 ms retransmission); False once a count filter is spent (drop)."""
        source = self.ids.get(link.source[3:], "unknown") if link.source.startswith("id:") else link.source
        for rule in self.shape_rules:
            if rule.get("src") not in (source, "*"):
                continue
            if rule.get("count") is not None:
                rule["seen"] = rule.get("seen", 0) + 1
                if rule["seen"] > rule["count"]:
                    return False
            pause = 0.2 if random.random() * 100 < rule.get("loss", 0) else 0.0
            jitter = rule.get("jitter_ms", 0)
            pause += max(0.0, rule.get("delay_ms", 0) + random.uniform(-jitter, jitter)) / 1000
            if pause > 0:
                time.sleep(pause)
        return True

    def _is_blocked(self, source: str) -> bool:
        """Sources are names, or ``id:<member id>`` resolved now (ids may be learned after connecting)."""
        if source.startswith("id:"):
            source = self.ids.get(source[3:], "unknown")
        return frozenset((source, self.node)) in self.blocked

    def _commands(self) -> None:
        for line in sys.stdin:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("cmd") == "ids":
                self.ids.update({k.lower(): v for k, v in message["ids"].items()})
            elif message.get("cmd") == "shape":
                self.shape_rules = [r for r in message["rules"] if r.get("dst") in (self.node, "*")]
            elif message.get("cmd") == "block":
                with self.lock:
                    self.blocked = {frozenset(p) for p in message["pairs"]}
            elif message.get("cmd") == "check":
                self.ports.check()
            self._drop_blocked()
            _answer("ok")

    def _drop_blocked(self) -> None:
        with self.lock:
            keep = []
            for link in self.links:
                if link.closed or self._is_blocked(link.source):
                    link.close()
                else:
                    keep.append(link)
            self.links = keep


def _answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    _close(src, dst)


def _close(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass


def main(argv: list[str]) -> None:
    Proxy(argv[1], json.loads(argv[2])).serve()


if __name__ == "__main__":
    main(sys.argv)
