"""A small TCP proxy for one node, so that an unprivileged run can still cut links.

``python -m histcheck.run.proxy NODE ROUTES OWNER`` (OWNER tags the process with its run) listens on each route's public port and forwards to the node's
private port.  It reads commands as JSON lines on stdin:

* ``{"cmd": "ids", "ids": {"<member id hex>": "n2"}}``: who is who on the peer port (etcd sends
  ``X-Server-From: <id>`` on every peer request);
* ``{"cmd": "block", "pairs": [["n1", "n2"], ["clients", "n3"]]}``: drop existing connections across these links
  and refuse new ones (an empty list heals).
* ``{"cmd": "shape", "rules": [{"src": "n1", "dst": "n2", "loss": 30, "delay_ms": 50, "jitter_ms": 20,
  "count": 100}]}``: the nemesis's loss, latency and count-filter rules for the streams ``src`` dials into ``dst``
  (an empty list removes them).

Each command is answered with ``ok`` on stdout once it is in force, so a partition is complete when the call
that asked for it returns.

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
import socket
import sys
import threading
import time
from typing import Any

_FROM = re.compile(rb"(?im)^x-server-from:\s*([0-9a-f]+)\s*$")


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


class Proxy:
    def __init__(self, node: str, routes: list[dict[str, Any]]) -> None:
        self.node = node
        self.routes = routes
        self.ids: dict[str, str] = {}
        self.blocked: set[frozenset[str]] = set()
        self.links: list[Link] = []
        self.lock = threading.Lock()
        self.shape_rules: list[dict] = []  # the nemesis's loss / latency / count rules for this node

    def serve(self) -> None:
        for route in self.routes:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(route["listen"])))
            listener.listen(128)
            threading.Thread(target=self._accept, args=(listener, route), daemon=True).start()
        self._commands()

    def _accept(self, listener: socket.socket, route: dict) -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=self._handle, args=(conn, route), daemon=True).start()

    def _handle(self, conn: socket.socket, route: dict) -> None:
        source = route.get("source") or ("clients" if route["port"] == "client" else "unknown")
        if self._is_blocked(source):
            conn.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", int(route["target"])), timeout=5)
        except OSError:
            conn.close()
            return
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
            self._drop_blocked()
            sys.stdout.write("ok\n")
            sys.stdout.flush()

    def _drop_blocked(self) -> None:
        with self.lock:
            keep = []
            for link in self.links:
                if link.closed or self._is_blocked(link.source):
                    link.close()
                else:
                    keep.append(link)
            self.links = keep


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
