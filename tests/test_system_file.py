"""System files: what is refused (with its line and key), how templates render per node and per pair, the
http-json and module:Class client adapters, and one real run of a system described by a file (tests/systems)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from histcheck.errors import InputError
from histcheck.run import described, net, system_file
from histcheck.run.clients import Definite, Indeterminate
from histcheck.run.db import Node
from histcheck.run.http_client import HttpJsonClient
from histcheck.run.net import Endpoint, NodeNet
from histcheck.run.python_client import open_client

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "systems"
KV_TOML = Path(__file__).resolve().parent / "systems" / "kv.toml"

GOOD = """\
name = "toy"

[ports]
client = 7000
peer = 7100

[lists]
members = { each = "{peer.name}@{peer.address}:{peer.port[peer]}", sep = " " }

[node]
command = ["true", "--id", "{id}", "--listen", "{listen[peer]}", "--peer", "{peer.address}:{peer.port[peer]}",
           "--initial", "{cluster[peer]}", "--others", "{peers[peer]}"]
bootstrap = ["true", "--bootstrap", "--id", "{id}"]

[node.files]
"conf/toy.conf" = "me={name}\\nall={members}\\n"

[ready]
tcp = "client"
deadline = 5

[leader]
http = "http://{address}:{port[client]}/status"
json_path = "leader"

[membership]
remove = ["toyctl", "--via", "{via.address}:{via.port[client]}", "remove", "{name}"]
add = ["toyctl", "--via", "{via.address}:{via.port[client]}", "add", "{name}"]

[failpoints]
set = { http = "http://{address}:{port[client]}/fail/{failpoint}", body = "{action}" }
clear = { http = "http://{address}:{port[client]}/fail/{failpoint}", method = "DELETE" }

[client]
kind = "http-json"

[client.options]
base = "http://{address}:{port[client]}"
read = { path = "/kv/{key}", value = "value", absent = [404] }
write = { method = "PUT", path = "/kv/{key}", body = { value = "{value}" } }
"""


def write(tmp_path: Path, text: str, name: str = "system.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def refused(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        system_file.load(write(tmp_path, text))
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# -- reading and refusing --------------------------------------------------------------------------------------
def test_the_examples_load_with_the_capabilities_their_files_give() -> None:
    zk = system_file.load(str(EXAMPLES / "zookeeper.toml"))
    nats = system_file.load(str(EXAMPLES / "nats.toml"))
    assert zk.capabilities() == {"processes", "pause", "logs", "wipe", "links", "leader", "catch-up"}
    assert nats.capabilities() == {"processes", "pause", "logs", "wipe", "links", "leader"}
    assert zk.client_kind == "zookeeper_client:ZooKeeperClient" and zk.ports["election"] == 3888
    assert nats.leader.json_path == "meta_cluster.leader"
    assert zk.summary() == {"name": "zookeeper", "about": zk.about, "path": str(EXAMPLES / "zookeeper.toml"),
                            "client": "zookeeper_client:ZooKeeperClient",
                            "capabilities": ["catch-up", "leader", "links", "logs", "pause", "processes", "wipe"]}


def test_capabilities_follow_from_membership_and_failpoints(tmp_path: Path) -> None:
    spec = system_file.load(write(tmp_path, GOOD))
    assert {"leader", "membership", "failpoints"} <= spec.capabilities()
    env_only = GOOD.split("[failpoints]")[0] + '[failpoints]\nenv = "TOY_FAILPOINTS"\n' + \
        "\n[client]\n" + GOOD.split("\n[client]\n")[1]
    assert "failpoints" in system_file.load(write(tmp_path, env_only, "env.toml")).capabilities()


def test_a_missing_key_is_refused_with_the_line_of_its_table(tmp_path: Path) -> None:
    text = GOOD.replace('command = ["true", "--id"', 'commands = ["true", "--id"')
    error = refused(tmp_path, text)
    assert error.path.endswith("system.toml")
    # the misspelt key is found first, at its own line
    assert "node.commands" in error.message and error.line == line_of(text, "commands = [")
    text = GOOD.replace('name = "toy"\n', "")
    error = refused(tmp_path, text)
    assert error.message.startswith("name: missing key")
    text = GOOD.split("\n[client]\n")[0]
    error = refused(tmp_path, text)
    assert "client: missing table" in error.message


def test_an_unknown_template_field_is_refused_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('"--id", "{id}", "--listen"', '"--id", "{nodename}", "--listen"')
    error = refused(tmp_path, text)
    assert "{nodename}" in error.message and "node.command" in error.message
    assert error.line == line_of(text, "{nodename}")
    assert "known:" in error.message and "data_dir" in error.message
    text = GOOD.replace('"{cluster[peer]}"', '"{cluster[per]}"')  # the second line of a command over two lines
    error = refused(tmp_path, text)
    assert "[per]" in error.message and error.line == line_of(text, "{cluster[per]}") != line_of(text, "command =")
    text = GOOD.replace("{port[client]}/status", "{port[clinet]}/status")
    error = refused(tmp_path, text)
    assert "[clinet]" in error.message and error.line == line_of(text, "clinet")
    text = GOOD.replace('"me={name}', '"me={peer.name}')  # peer.* repeats per peer only in commands and lists
    error = refused(tmp_path, text)
    assert "{peer.name}" in error.message and error.line == line_of(text, "me={peer.name}")


def test_inline_table_keys_and_client_templates_are_located(tmp_path: Path) -> None:
    text = GOOD.replace('write = { method = "PUT", path = "/kv/{key}"', 'write = { method = "PUT", path = "/kv/{kee}"')
    error = refused(tmp_path, text)
    assert "{kee}" in error.message and error.line == line_of(text, "{kee}")
    assert "client.options.write" in error.message
    text = GOOD.replace("[ports]\nclient = 7000", "[ports]\nclient = 70000")
    error = refused(tmp_path, text)
    assert error.line == line_of(text, "70000") and "not a TCP port" in error.message
    error = refused(tmp_path, GOOD.replace('tcp = "client"', 'tcp = "admin"'))
    assert "not a port of [ports]" in error.message


def test_a_progress_pattern_needs_one_group(tmp_path: Path) -> None:
    text = GOOD.replace("[membership]", '[progress]\ntcp = "client"\nsend = "stat"\npattern = "Zxid: 0x[0-9a-f]+"\n\n[membership]')
    error = refused(tmp_path, text)
    assert "needs exactly one group" in error.message and error.line == line_of(text, "pattern =")


def test_links_the_proxies_cannot_cut_are_named_before_the_run() -> None:
    legacy = net.ProxyNetwork()
    assert legacy.link_limits(["client", "peer"]) == []  # etcd: clients by port, peers by X-Server-From
    limits = legacy.link_limits(["redis", "sentinel", "client"])
    assert [x.split(":")[0] for x in limits] == ["port 'redis'", "port 'sentinel'"]
    per_pair = net.ProxyNetwork()
    per_pair.route_per_pair()
    assert per_pair.link_limits(["redis", "sentinel"]) == []
    cls = described.db_class_for(str(KV_TOML))  # what a preflight asks before anything starts
    assert legacy.link_limits(cls.ports, per_pair=cls.per_pair_links) == []
    assert net.NamespaceNetwork().link_limits(["redis"]) == []


def test_bad_toml_and_a_missing_file_are_input_errors(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("[ready]", "[ready"))
    assert "not valid TOML" in error.message and error.line == line_of(GOOD, "[ready]")
    with pytest.raises(InputError, match="cannot read"):
        system_file.load(str(tmp_path / "absent.toml"))


def test_the_run_command_refuses_a_bad_file_with_254_naming_file_line_and_key(tmp_path: Path) -> None:
    text = GOOD.replace('"--id", "{id}", "--listen"', '"--id", "{nodename}", "--listen"')
    path = write(tmp_path, text)
    histcheck = str(Path(sys.executable).with_name("histcheck"))
    done = subprocess.run([histcheck, "run", "--db", path, "--time-limit", "1",
                           "--store", str(tmp_path / "store"), "--quiet", "--network", "proxy"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 254, done.stderr
    assert f"{path}, line {line_of(text, '{nodename}')}" in done.stderr and "node.command" in done.stderr
    assert "Traceback" not in done.stderr


# -- rendering per node and per pair ---------------------------------------------------------------------------
def toy_db(tmp_path: Path, per_pair: bool) -> described.DescribedDB:
    """The toy system's DB with node places laid out as the proxies would (no process is started)."""
    cls = described.db_class_for(write(tmp_path, GOOD, f"toy-{per_pair}.toml"))
    db = cls(["n1", "n2", "n3"], net.ProxyNetwork(), str(tmp_path / "data"), str(tmp_path / "logs"))
    for i, name in enumerate(db.node_names):
        ports = {"client": Endpoint("127.0.0.1", 1000 + i, "127.0.0.1", 2000 + i),
                 "peer": Endpoint("127.0.0.1", 1100 + i, "127.0.0.1", 2100 + i)}
        db.nodes[name] = Node(name, NodeNet(name, "127.0.0.1", ports), str(tmp_path / "data" / name),
                              str(tmp_path / "logs" / f"{name}.log"))
    for i, name in enumerate(db.node_names):  # the port of b that a dials: 3000 + 10 * a + b
        db.nodes[name].net.peers = {
            other: {"peer": Endpoint("127.0.0.1", 1100 + j, "127.0.0.1", 3000 + 10 * i + j),
                    "client": Endpoint("127.0.0.1", 1000 + j, "127.0.0.1", 4000 + 10 * i + j)}
            for j, other in enumerate(db.node_names) if other != name}
    return db


def test_commands_name_each_peer_as_seen_from_the_node(tmp_path: Path) -> None:
    db = toy_db(tmp_path, True)
    db.creating = False
    argv = db.command_for("n2")
    assert argv[:5] == ["true", "--id", "2", "--listen", "127.0.0.1:1101"]
    # one --peer per other node, each the port n2 dials (n2 is index 1: 3010 + j)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--peer"] == ["127.0.0.1:3010", "127.0.0.1:3012"]
    assert argv[argv.index("--initial") + 1] == \
        "n1=http://127.0.0.1:3010,n2=http://127.0.0.1:1101,n3=http://127.0.0.1:3012"
    assert argv[argv.index("--others") + 1] == "127.0.0.1:3010,127.0.0.1:3012"
    db.write_files("n3")
    conf = (tmp_path / "data" / "n3" / "conf" / "toy.conf").read_text()
    assert conf == "me=n3\nall=n1@127.0.0.1:3020 n2@127.0.0.1:3021 n3@127.0.0.1:1102\n"


def test_the_first_node_bootstraps_only_when_the_cluster_is_created(tmp_path: Path) -> None:
    db = toy_db(tmp_path, True)
    assert db.command_for("n1") == ["true", "--bootstrap", "--id", "1"]
    db.creating = False
    assert db.command_for("n1")[:3] == ["true", "--id", "1"]


def test_client_options_and_probes_see_the_node_as_the_runner_reaches_it(tmp_path: Path) -> None:
    db = toy_db(tmp_path, True)
    context = db.view_context("n3")
    assert context["address"] == "127.0.0.1" and context["port"] == {"client": 2002, "peer": 2102}


# -- the http-json adapter ----------------------------------------------------------------------------------
class _Server:
    """The tests' KV server (tests/systems/kv_server.py) in this process, plus a slow path and a 500."""

    def __init__(self) -> None:
        sys.path.insert(0, str(KV_TOML.parent))
        import kv_server
        handler = kv_server.Handler

        class Handler(handler):
            def do_GET(self) -> None:
                if self.path.startswith("/kv/slow"):
                    time.sleep(1.5)
                if self.path.startswith("/kv/broken"):
                    return self._answer(500, {"error": "disk on fire"})
                if self.path.startswith("/kv/follower"):
                    return self._answer(500, {"error": "node is not the leader"})
                super().do_GET()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def client(self, timeout: float = 5.0, port: int | None = None) -> HttpJsonClient:
        spec = system_file.load(str(KV_TOML))
        options = dict(spec.client_options)
        options["base"] = f"http://127.0.0.1:{port or self.port}"
        return HttpJsonClient(**options, timeout=timeout, not_leader=["not the leader"])


@pytest.fixture
def kv_server():
    server = _Server()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_http_json_reads_writes_and_cas_against_a_real_server(kv_server: _Server) -> None:
    client = kv_server.client()
    assert client.read("a/b") is None
    client.write("a/b", "1")
    assert client.read("a/b") == "1"
    assert client.cas("a/b", "1", "2") is True
    assert client.cas("a/b", "1", "3") is False  # 412: another value, nothing written
    assert client.read("a/b") == "2"
    client.close()


def test_http_json_errors_are_definite_or_indeterminate_as_documented(kv_server: _Server) -> None:
    client = kv_server.client(timeout=0.5)
    with pytest.raises(Indeterminate, match="timed out|timeout"):
        client.read("slow")  # the request was sent: it may have been applied
    with pytest.raises(Indeterminate, match="HTTP 500"):
        client.read("broken")
    with pytest.raises(Definite, match="not the leader"):
        client.read("follower")
    with socket.socket() as s:  # a port nothing listens on: refused, certainly not applied
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with pytest.raises(Definite, match="refused"):
        kv_server.client(port=dead).write("k", "1")


def test_a_python_client_is_checked_and_its_socket_errors_classified(tmp_path: Path) -> None:
    (tmp_path / "toyclient.py").write_text(textwrap.dedent("""
        import socket
        class Toy:
            def __init__(self, port, timeout):
                self.port, self.timeout = port, timeout
            def read(self, key):
                socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout).close()
            def write(self, key, value):
                raise TimeoutError("no answer")
            def cas(self, key, old, new):
                raise ValueError("a bug in the client")
        class NoCas:
            def read(self, key): ...
            def write(self, key, value): ...
    """))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    client = open_client("toyclient:Toy", {"port": dead}, 1.0, str(tmp_path))
    with pytest.raises(Definite, match="refused"):
        client.read("k")
    with pytest.raises(Indeterminate, match="no answer"):
        client.write("k", "v")
    with pytest.raises(ValueError):  # a bug is not a database error: it stops the run with its message
        client.cas("k", "a", "b")
    with pytest.raises(InputError, match="has no cas"):
        open_client("toyclient:NoCas", {}, 1.0, str(tmp_path))
    with pytest.raises(InputError, match="does not take these options"):
        open_client("toyclient:Toy", {"port": 1, "colour": "red"}, 1.0, str(tmp_path))
    with pytest.raises(InputError, match="cannot be imported"):
        open_client("no_such_module_here:Toy", {}, 1.0, str(tmp_path))


# -- a whole run of a described system ------------------------------------------------------------------------
def test_a_described_system_runs_valid_and_leaves_nothing_behind(tmp_path: Path) -> None:
    from histcheck.run.runner import RunOptions, Runner
    options = RunOptions(db=str(KV_TOML), nodes=1, time_limit=2, rate=100, concurrency=3, network="proxy",
                         store=str(tmp_path / "store"), report=False, seed=7)
    outcome = Runner(options).run()
    assert outcome.exit_code == 0, (outcome.errors, outcome.result.summary() if outcome.result else None)
    assert outcome.stats["ok"] > 50 and outcome.stats["info"] == 0
    assert net.wait_until_gone(os.getpid(), timeout=10), net.own_processes(os.getpid())


# -- leader, failpoints and membership on a real (one-process-per-node) system ---------------------------------
@pytest.fixture
def kv_cluster(tmp_path: Path):
    """Three unreplicated kv_server nodes on proxies: enough to drive the DB's verbs, not to check consistency."""
    cls = described.db_class_for(str(KV_TOML))
    db = cls(["n1", "n2", "n3"], net.ProxyNetwork(), str(tmp_path / "data"), str(tmp_path / "logs"))
    try:
        db.setup()
        yield db
    finally:
        db.teardown()
    assert net.wait_until_gone(os.getpid(), timeout=10), net.own_processes(os.getpid())


def test_leader_failpoints_and_membership_go_through_the_file(kv_cluster: described.DescribedDB) -> None:
    db = kv_cluster
    assert db.capabilities() == {"processes", "pause", "logs", "wipe", "links", "leader", "failpoints",
                                 "membership"}
    assert db.leader() == "n1"  # each node answers its own name; the first running one is asked first
    db.kill("n1")
    assert db.leader() == "n2"
    db.start("n1")
    db.await_ready()
    client = db.client("n2", 2)
    client.write("k", "1")
    db.set_failpoint("n2", "reject-writes", "return")
    with pytest.raises(Definite, match="503"):
        client.write("k", "2")
    db.clear_failpoint("n2", "reject-writes")
    client.write("k", "3")
    assert client.read("k") == "3"
    client.close()
    (Path(db.nodes["n3"].data_dir) / "state").write_text("old")
    db.remove_member("n3")
    assert not db.nodes["n3"].running() and not (Path(db.nodes["n3"].data_dir) / "state").exists()
    db.add_member("n3")
    db.await_ready()
    log = (Path(db.work_dir) / "membership.log").read_text().split("\n")
    assert log[:2] == ["remove n3 via n1", "add n3 via n1"]


def test_a_failpoint_given_as_an_environment_variable_restarts_the_node_with_it(tmp_path: Path) -> None:
    here = tmp_path / "sys"
    here.mkdir()
    (here / "kv_server.py").write_text((KV_TOML.parent / "kv_server.py").read_text())
    text = KV_TOML.read_text().split("[failpoints]")[0] + '[failpoints]\nenv = "KV_FAILPOINTS"\n\n[client]' + \
        KV_TOML.read_text().split("\n[client]")[1]
    cls = described.db_class_for(write(here, text, "kv-env.toml"))
    db = cls(["n1"], net.ProxyNetwork(), str(tmp_path / "data"), str(tmp_path / "logs"))
    try:
        db.setup()
        pid = db.nodes["n1"].procs["kvtest"].pid
        done = db.set_failpoint("n1", "reject-writes", "return")
        assert done["env"] == "reject-writes=return" and db.nodes["n1"].procs["kvtest"].pid != pid
        db.await_ready()
        with pytest.raises(Definite, match="503"):
            db.client("n1", 2).write("k", "1")
        db.clear_failpoint("n1", "reject-writes")
        db.await_ready()
        db.client("n1", 2).write("k", "1")
    finally:
        db.teardown()


def test_a_connection_past_the_proxies_is_found(kv_cluster: described.DescribedDB) -> None:
    """What the ZooKeeper and NATS tests rely on when they assert that nothing bypasses the proxies."""
    db = kv_cluster
    assert db.network.bypasses() == []
    private = db.nodes["n2"].net.ports["client"].listen_port
    with socket.create_connection(("127.0.0.1", private)):
        assert procs_wait(lambda: any("n2's client port" in b for b in db.network.bypasses()))
    through_proxy = db.nodes["n2"].net.ports["client"].dial_port
    with socket.create_connection(("127.0.0.1", through_proxy)):
        time.sleep(0.2)
        assert db.network.bypasses() == []


def procs_wait(predicate) -> bool:
    from histcheck.run import procs
    return procs.wait_until(predicate, timeout=3, interval=0.1)


def test_a_missing_program_stops_the_run_before_anything_starts(tmp_path: Path) -> None:
    text = GOOD.replace('name = "toy"', 'name = "toy"\npackage = "toy-server"\nrequires = ["/no/such/toy.jar"]')
    cls = described.db_class_for(write(tmp_path, text))
    with pytest.raises(InputError) as info:
        cls(["n1"], net.ProxyNetwork(), str(tmp_path / "data"), str(tmp_path / "logs"))
    assert "/no/such/toy.jar not found" in info.value.message
    assert "apt-get install -y toy-server" in info.value.expected


def test_a_python_client_has_only_the_methods_of_its_class(tmp_path: Path) -> None:
    (tmp_path / "plainclient.py").write_text("class Plain:\n    def __init__(self, timeout): pass\n"
                                            "    def read(self, k): return 'x'\n    def write(self, k, v): pass\n"
                                            "    def cas(self, k, o, n): return True\n")
    client = open_client("plainclient:Plain", {}, 1.0, str(tmp_path))
    assert client.read("k") == "x" and not hasattr(client, "read_many")


def test_readiness_waits_only_for_nodes_meant_to_be_up(kv_cluster: described.DescribedDB) -> None:
    db = kv_cluster
    db.stop("n3")
    db.await_ready(timeout=5)  # n3 was stopped on purpose
    assert not db.ready("n3")
    db.start("n3")
    db.await_ready(timeout=10)
    assert db.ready("n3")
