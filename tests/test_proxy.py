"""The unprivileged proxy (``python -m histcheck.run.proxy``, started as the runner starts it) in front of a tiny
TCP echo server, with real sockets on 127.0.0.1: a dead node looks dead through its proxy (a refused connection,
which the client's error rule records as ``:fail``), and the proxy accepts again once the node is back; the
``check`` command leaves no connection slipping through after a kill; cuts and commands work while it is down; a
node not started yet is dialled as before; a taken port stops the proxy; a run's ports are all distinct."""
from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

from histcheck.run import net
from histcheck.run.net import free_port

ROUTE_SOURCES = ("clients", "n2")


class EchoServer:
    """A node stand-in: echoes what each connection sends, on a fixed port it can leave and take again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)   # a closed socket wakes no blocked accept(): poll a flag instead
        self.listener = listener
        self.thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """As a killed node: the listener and every connection go at once."""
        listener, self.listener = self.listener, None
        assert self.thread is not None
        self.thread.join()
        assert listener is not None
        listener.close()
        for conn in self.conns:
            conn.close()
        self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                conn, _ = listener.accept()
            except OSError:     # a timeout: look at the flag again
                continue
            conn.settimeout(None)
            self.conns.append(conn)
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()


def _echo(conn: socket.socket) -> None:
    try:
        while data := conn.recv(4096):
            conn.sendall(data)
    except OSError:
        pass


class ProxyProcess:
    """The proxy as the runner runs it: routes as JSON on the command line, commands on stdin, answers on stdout."""

    def __init__(self, routes: list[dict]) -> None:
        argv = [sys.executable, "-m", "histcheck.run.proxy", "n1", json.dumps(routes), f"hc{os.getpid()}"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.answer() == b"ready\n"

    def answer(self, timeout: float = 10) -> bytes:
        """Its next line on stdout (a silent proxy fails the test instead of hanging it)."""
        assert self.proc.stdout is not None
        assert select.select([self.proc.stdout], [], [], timeout)[0], "the proxy said nothing"
        return self.proc.stdout.readline()

    def send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()
        assert self.answer() == b"ok\n"

    def close(self) -> None:
        """Closing stdin ends the proxy (how it follows a dead runner)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=5)


@contextlib.contextmanager
def proxied_node(started: bool) -> Iterator[tuple[EchoServer, ProxyProcess, dict[str, int]]]:
    """An echo server (``started`` before its proxy, or not), and a proxy with one public port per dialer (as
    for a described system)."""
    private = free_port()
    public = {source: free_port() for source in ROUTE_SOURCES}
    while len({private, *public.values()}) < 1 + len(public):
        public = {source: free_port() for source in ROUTE_SOURCES}
    echo = EchoServer(private)
    if started:
        echo.start()
    proxy = ProxyProcess([{"port": "client", "listen": port, "target": private, "source": source}
                          for source, port in public.items()])
    try:
        yield echo, proxy, public
    finally:
        proxy.close()
        if echo.listener is not None:
            echo.stop()


@pytest.fixture
def node_behind_proxy() -> Iterator[tuple[EchoServer, ProxyProcess, dict[str, int]]]:
    with proxied_node(started=True) as parts:
        yield parts


def echoes(port: int) -> bool:
    """A connection to ``port`` carries a message there and back."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"ping")
        return conn.recv(4) == b"ping"


def attempt(port: int) -> str:
    """What a client sees: ``refused`` (nothing listens), ``echo``, or ``dropped`` (opened, then closed/reset)."""
    try:
        return "echo" if echoes(port) else "dropped"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "dropped"


def attempts_until(port: int, wanted: str, within: float = 1.0) -> list[str]:
    """The outcomes of attempts every 20 ms, up to the first ``wanted`` one (fails the test after ``within`` s)."""
    seen: list[str] = []
    deadline = time.monotonic() + within
    while not seen or seen[-1] != wanted:
        assert time.monotonic() < deadline, f"no {wanted} within {within} s: {seen}"
        seen.append(attempt(port))
        if seen[-1] != wanted:
            time.sleep(0.02)
    return seen


def test_a_dead_node_refuses_through_its_proxy_and_accepts_again_once_back(node_behind_proxy) -> None:
    echo, proxy, public = node_behind_proxy
    assert attempt(public["clients"]) == "echo"
    assert attempt(public["n2"]) == "echo"
    echo.stop()
    seen = attempts_until(public["clients"], "refused")
    assert set(seen[:-1]) <= {"dropped"} and len(seen) <= 2, seen  # at most the first one slips through
    assert attempt(public["n2"]) == "refused"  # every route to that private port closed, none tried first
    proxy.send({"cmd": "block", "pairs": []})  # commands are still read and answered while it is down
    echo.start()
    assert set(attempts_until(public["clients"], "echo")) <= {"refused", "echo"}
    assert attempt(public["n2"]) == "echo"


def test_a_check_after_a_kill_lets_no_connection_slip_through(node_behind_proxy) -> None:
    echo, proxy, public = node_behind_proxy
    echo.stop()
    proxy.send({"cmd": "check"})
    assert attempt(public["clients"]) == "refused" and attempt(public["n2"]) == "refused"
    echo.start()
    proxy.send({"cmd": "check"})  # a check of a live node closes nothing
    attempts_until(public["clients"], "echo")
    proxy.send({"cmd": "check"})
    assert attempt(public["clients"]) == "echo"


def test_a_cut_still_drops_and_refuses_across_a_restart_and_heals(node_behind_proxy) -> None:
    echo, proxy, public = node_behind_proxy
    with socket.create_connection(("127.0.0.1", public["n2"]), timeout=2) as established:
        established.sendall(b"up")
        assert established.recv(2) == b"up"
        proxy.send({"cmd": "block", "pairs": [["n1", "n2"]]})
        assert established.recv(2) == b""   # the cut dropped the established link
    assert attempt(public["n2"]) == "dropped"   # a cut link accepts and closes, as before
    assert attempt(public["clients"]) == "echo"
    echo.stop()
    attempts_until(public["clients"], "refused")
    echo.start()
    attempts_until(public["clients"], "echo")
    assert attempt(public["n2"]) == "dropped"   # re-opened ports keep the cut in force
    proxy.send({"cmd": "block", "pairs": []})
    assert attempt(public["n2"]) == "echo"


def test_a_node_not_started_yet_is_dialled_as_before_then_goes_dark_once_seen_and_dead() -> None:
    """Nodes that start together dial each other at once: until a node is first seen, its proxy listens (a dial
    is accepted and closed, as before) rather than refusing until its next probe."""
    with proxied_node(started=False) as (echo, proxy, public):
        time.sleep(0.05)    # probes of the node not started yet: they close nothing
        assert attempt(public["clients"]) == "dropped" and attempt(public["clients"]) == "dropped"
        echo.start()
        attempts_until(public["clients"], "echo")
        echo.stop()
        attempts_until(public["clients"], "refused")
        assert attempt(public["n2"]) == "refused"


def test_a_public_port_already_taken_stops_the_proxy_before_ready() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        taken = squatter.getsockname()[1]
        routes = [{"port": "client", "listen": taken, "target": free_port()}]
        argv = [sys.executable, "-m", "histcheck.run.proxy", "n1", json.dumps(routes), f"hc{os.getpid()}"]
        done = subprocess.run(argv, stdin=subprocess.PIPE, capture_output=True, timeout=10, check=False)
    assert done.returncode != 0 and done.stdout == b"" and b"Address already in use" in done.stderr


def test_a_runs_ports_are_distinct_even_when_the_random_choice_repeats(monkeypatch) -> None:
    """free_port only knows what listens now: setup never hands a port out twice (two nodes would want it, or a
    node and a proxy that closes it while its own node is down), and its proxies start and say ready."""
    candidates: list[int] = []
    while len(candidates) < 6:
        port = free_port()
        if port not in candidates:
            candidates.append(port)
    repeated = iter([port for port in candidates for _ in range(2)])
    monkeypatch.setattr(net.random, "randrange", lambda low, high: next(repeated))
    network = net.ProxyNetwork()
    network.route_per_pair()
    try:
        nodes = network.setup(["n1", "n2"], {"client": 1})
        chosen = [port for routes in network.routes.values() for r in routes for port in (r["listen"], r["target"])]
        assert len(set(chosen)) == 6 and set(chosen) == set(candidates), network.routes
        assert all(proc.poll() is None for proc in network.proxies.values())
        assert nodes["n1"].peers["n2"]["client"].dial_port != nodes["n2"].ports["client"].dial_port
    finally:
        network.teardown()
