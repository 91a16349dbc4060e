"""PostgreSQL as a DB under test: isolation levels seen by Elle's checkers, the client's error rule on a real
server, and nothing left behind.

Every server here is a real one (Debian's ``postgresql``), started by the runner in the run's work directory as
the ``postgres`` user when root, on the run's network.  PostgreSQL's repeatable read is snapshot isolation, so a
list-append run there shows write skew (G2-item); its serializable level shows none.  ``histcheck analyze`` of
each stored history must give the verdict the run printed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from histcheck.errors import InputError
from histcheck.run import net, postgres, procs
from histcheck.run.clients import Definite, Indeterminate, completion_type

try:
    postgres.find_bin_dir()
    HAVE_POSTGRES = True
except InputError:
    HAVE_POSTGRES = False

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not HAVE_POSTGRES, reason="postgresql is not installed (bash .ci/setup)")]

HISTCHECK = [sys.executable, "-c", "from histcheck.cli import main; main()"]


def run_cli(args: list[str], store: Path, timeout: float = 120) -> subprocess.Popen:
    proc = subprocess.Popen([*HISTCHECK, "run", "--store", str(store), "--quiet", "--no-report", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.out, proc.err = proc.communicate(timeout=timeout)  # type: ignore[attr-defined]
    return proc


def analyze(history: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HISTCHECK, "analyze", str(history)], capture_output=True, text=True, timeout=120)


def server_processes(pid: int) -> list[str]:
    """Processes working in a data directory of the run of ``pid`` (PostgreSQL renames its backends'
    command lines, but every one of them works in its data directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd.startswith(os.path.join("/tmp", f"histcheck-{pid}-")):
                found.append(f"{entry}: {cwd}")
    return found


def postgres_segments() -> list[str]:
    """System V shared memory segments of the postgres user in this IPC namespace."""
    done = subprocess.run(["ipcs", "-m"], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if " postgres " in f" {line} "]


def assert_nothing_left(pid: int) -> None:
    """No server, backend, proxy or reaper, no namespace or link, no data directory and no shared memory of the
    run of ``pid`` survives it."""
    assert net.wait_until_gone(pid, timeout=10), (net.own_processes(pid), net.leftovers(pid))
    assert procs.wait_until(lambda: not server_processes(pid), 5), server_processes(pid)
    assert not postgres_segments()


def stored(store: Path) -> tuple[dict, dict, Path]:
    latest = (store / "latest").resolve()
    return (json.loads((latest / "results.json").read_text()), json.loads((latest / "test.json").read_text()),
            latest / "history.edn")


# -- the isolation levels through the command line ---------------------------------------------------------------
def test_repeatable_read_list_append_shows_write_skew(tmp_path: Path) -> None:
    run = run_cli(["--db", "postgres", "--workload", "list-append", "--isolation", "repeatable-read",
                   "--time-limit", "3", "--concurrency", "10", "--rate", "0", "--recover", "0"], tmp_path)
    assert run.returncode == 1, run.out + run.err
    assert "INVALID" in run.out
    results, test, history = stored(tmp_path)
    assert "G2-item" in results["anomaly-types"]
    # Snapshot isolation forbids everything weaker than write skew: no G0, G1c, G-single, no lost update.
    assert not {"G0", "G1a", "G1b", "G1c", "G-single", "lost-update"} & set(results["anomaly-types"])
    assert "repeatable-read" in results["not"] or "serializable" in results["also-not"]
    assert test["db"]["isolation"] == "repeatable-read" and test["db"]["nodes"] == ["n1"]
    assert test["options"]["isolation"] == "repeatable-read"
    # First-committer-wins really happened: concurrent appends to one key were refused (40001), as :fail.
    assert test["stats"]["fail"] > 0
    assert "40001" in history.read_text()
    again = analyze(history)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "G2-item" in again.stdout
    assert_nothing_left(run.pid)


def test_serializable_list_append_is_valid(tmp_path: Path) -> None:
    run = run_cli(["--db", "postgres", "--workload", "list-append", "--isolation", "serializable",
                   "--time-limit", "3", "--concurrency", "10", "--rate", "0", "--recover", "0"], tmp_path)
    assert run.returncode == 0, run.out + run.err
    results, test, history = stored(tmp_path)
    assert results["valid"] is True and results["checker"] == "list-append"
    assert test["stats"]["ok"] > 200
    # The transactions really overlapped and read each other's appends: serializable had work to do.
    assert results["edge-count"] > results["ops"]
    assert "could not serialize access" in history.read_text()
    again = analyze(history)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_nothing_left(run.pid)


def test_rw_register_under_kills_is_valid_at_serializable(tmp_path: Path) -> None:
    """The rw-register workload at serializable while the server is killed and restarted: valid (crashed
    transactions never cause a finding), re-checked the same by analyze, and the killed server leaves nothing."""
    run = run_cli(["--db", "postgres", "--workload", "rw-register", "--isolation", "serializable",
                   "--nemesis", "kill", "--nemesis-schedule", "seq:1-1.5,3-3.5", "--time-limit", "5",
                   "--concurrency", "6", "--rate", "0", "--recover", "1"], tmp_path)
    assert run.returncode == 0, run.out + run.err
    results, test, history = stored(tmp_path)
    assert results["valid"] is True and results["checker"] == "rw-register"
    text = history.read_text()
    assert text.count(":kill") >= 1 and test["stats"]["ok"] > 100
    assert ":w" in text and ":r" in text
    again = analyze(history)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "rw-register" in again.stdout
    assert_nothing_left(run.pid)


def test_a_sigkilled_runner_leaves_no_server_behind(tmp_path: Path) -> None:
    """The server runs as another user, which clears the parent-death signal the runner gives its children: it is
    set again after the switch, so a SIGKILLed runner still takes its server (and so every backend) with it."""
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "histcheck.run", "--db", "postgres", "--store", str(tmp_path),
                             "--quiet", "--no-report", "--time-limit", "30", "--rate", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert procs.wait_until(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob("*/2*/history.edn")), 30)
        assert server_processes(proc.pid), "no server was running"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert_nothing_left(proc.pid)


def test_isolation_is_refused_for_a_db_without_levels(tmp_path: Path) -> None:
    started = time.monotonic()
    run = run_cli(["--db", "memory", "--isolation", "serializable", "--time-limit", "1"], tmp_path)
    assert run.returncode == 254, run.out + run.err
    assert "--isolation" in run.err and "memory" in run.err
    assert not any(tmp_path.iterdir()), "a refused run stored something"
    assert time.monotonic() - started < 20


@pytest.mark.skipif(procs.shutil.which("etcd") is None, reason="etcd-server is not installed")
def test_list_append_on_etcd_under_partitions_is_valid(tmp_path: Path) -> None:
    run = run_cli(["--workload", "list-append", "--nemesis", "partition", "--time-limit", "8",
                   "--concurrency", "5", "--rate", "0", "--recover", "1"], tmp_path)
    assert run.returncode == 0, run.out + run.err
    results, _, history = stored(tmp_path)
    assert results["valid"] is True and results["checker"] == "list-append"
    assert history.read_text().count(":start-partition") >= 1
    again = analyze(history)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_nothing_left(run.pid)


# -- the client's error rule on a real server --------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    """One PostgreSQL node at repeatable read, on the network a run would give it."""
    cleanup = procs.Cleanup()
    work = procs.planned_work_dir()
    procs.make_work_dir(cleanup, work)
    db = postgres.PostgresDB(["n1"], net.choose_network("auto"), work, work + "-logs",
                             isolation="repeatable-read")
    cleanup.add("db", db.teardown)
    cleanup.add("logs", lambda: procs.shutil.rmtree(work + "-logs", ignore_errors=True))
    try:
        db.setup()
        yield db
    finally:
        assert cleanup.run() == []
    assert procs.wait_until(lambda: not server_processes(os.getpid()), 5), server_processes(os.getpid())


def admin(db) -> object:
    import psycopg
    endpoint = db.nodes["n1"].net.ports["client"]
    return psycopg.connect(host=endpoint.dial_host, port=endpoint.dial_port, user=postgres.SUPERUSER,
                           dbname=postgres.DATABASE, autocommit=True)


def test_a_transaction_reads_what_it_appended(server) -> None:
    client = server.client("n1", timeout=5)
    try:
        done = client.transaction("list-append", [["append", 901, 1], ["r", 901, None], ["append", 901, 2],
                                                  ["r", 902, None]])
        assert done == [["append", 901, 1], ["r", 901, [1]], ["append", 901, 2], ["r", 902, []]]
        assert client.transaction("rw-register", [["w", 7, 10], ["r", 7, None], ["r", 8, None]]) == \
            [["w", 7, 10], ["r", 7, 10], ["r", 8, None]]
        client.write("a", "1")
        assert client.cas("a", "1", "2") and not client.cas("a", "1", "3") and client.cas("b", None, "x")
        assert client.read_many(["a", "b", "c"]) == {"a": "2", "b": "x", "c": None}
        assert client.multi_cas({"a": "2", "c": None}, {"a": "3", "c": "4"})
        assert not client.multi_cas({"a": "2"}, {"a": "5"})
        assert client.read_prefix("") == {"a": "3", "b": "x", "c": "4"}
    finally:
        client.close()


def test_serialization_failure_is_definite(server) -> None:
    """A concurrent update of the row an append targets: first-committer-wins refuses it with 40001, a :fail."""
    client = server.client("n1", timeout=5)
    other = admin(server)
    try:
        client.transaction("list-append", [["append", 910, 1]])
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("UPDATE append SET v = v || ARRAY[2::bigint] WHERE k = 910")
        outcome: list[BaseException | object] = []

        def append() -> None:
            try:
                outcome.append(client.transaction("list-append", [["r", 911, None], ["append", 910, 3]]))
            except BaseException as exc:
                outcome.append(exc)
        worker = threading.Thread(target=append)
        worker.start()
        time.sleep(0.5)  # the append now waits for the row lock
        other.execute("COMMIT")
        worker.join(10)
        assert isinstance(outcome[0], Definite), outcome
        assert "40001" in str(outcome[0])
        assert completion_type(outcome[0], is_read=False) == "fail"
        # It changed nothing, and the connection is usable again.
        assert client.transaction("list-append", [["r", 910, None]]) == [["r", 910, [1, 2]]]
    finally:
        client.close()
        other.close()


def test_a_paused_server_times_out(server) -> None:
    """A paused server never answers: a write sent in autocommit may have happened (:info); a transaction whose
    COMMIT was never sent certainly did not (:fail)."""
    client = server.client("n1", timeout=1.0)
    try:
        client.ping()
        server.pause("n1")
        try:
            with pytest.raises(Indeterminate):
                client.write("paused", "1")
            with pytest.raises(Definite):
                client.transaction("list-append", [["append", 920, 1]])
        finally:
            server.resume("n1")
        assert client.transaction("list-append", [["r", 920, None]]) == [["r", 920, []]]
    finally:
        client.close()


def test_lost_answer_to_commit_is_indeterminate_and_did_commit(server) -> None:
    """A COMMIT whose answer never comes (here: it waits for a synchronous standby that does not exist, after
    committing locally) is :info, and indeed the transaction took effect."""
    other = admin(server)
    client = server.client("n1", timeout=1.0)
    try:
        other.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        other.execute("SELECT pg_reload_conf()")
        time.sleep(0.3)
        with pytest.raises(Indeterminate):
            client.transaction("list-append", [["append", 930, 1]])
    finally:
        other.execute("ALTER SYSTEM RESET synchronous_standby_names")
        other.execute("SELECT pg_reload_conf()")
        client.close()
    assert procs.wait_until(lambda: other.execute("SELECT v FROM append WHERE k = 930").fetchone() == ([1],), 5)
    other.close()


def test_no_server_is_definite() -> None:
    client = postgres.PostgresClient("127.0.0.1", net.free_port(), timeout=2)
    with pytest.raises(Definite):
        client.write("k", "v")
    with pytest.raises(Definite):
        client.transaction("rw-register", [["w", 1, 1]])


def test_sqlstates() -> None:
    assert postgres.definite_state("40001") and postgres.definite_state("40P01") and postgres.definite_state("57014")
    assert not postgres.definite_state("57P01") and not postgres.definite_state("08006")
    assert not postgres.definite_state(None)


def test_a_wiped_node_starts_empty_with_its_tables(server) -> None:
    client = server.client("n1", timeout=5)
    try:
        client.transaction("rw-register", [["w", 940, 1]])
        server.stop("n1")
        assert not server.is_running("n1")
        server.wipe("n1")
        server.start("n1")
        server.await_ready(30)
        # The fast shutdown ended the old connection (57P01) before this transaction began: certainly nothing.
        with pytest.raises(Definite, match="57P01"):
            client.transaction("rw-register", [["r", 940, None]])
        assert client.transaction("rw-register", [["r", 940, None]]) == [["r", 940, None]]
    finally:
        client.close()
