"""PostgreSQL as a DB under test: Debian's ``postgresql`` server, one node, spoken to in SQL through psycopg 3.

Isolation tests need no replication: one server, many concurrent transactions.  The node is created by ``initdb``
in the run's work directory and runs ``postgres`` in the foreground as the runner's child (not daemonised by
``pg_ctl``: a daemon would escape the parent-death signal that ends every node when the runner dies, and the
process verbs need the server as the runner's own child).  As root it runs as the ``postgres`` system user that
Debian's package creates (PostgreSQL refuses to run as root), in a private IPC namespace so that even a killed
server leaves no System V shared memory behind; its data directory belongs to that user and goes with the work
directory.  The node listens on the runner's network like every node (its namespace address, or a loopback port
behind a proxy), so the clients' link to it can be cut, delayed or made lossy: capability ``links``.  Its other
capabilities: ``processes`` (``stop`` is PostgreSQL's fast shutdown, SIGINT, since its SIGTERM waits for every
client to leave; ``kill`` is SIGKILL of the server and every backend), ``pause`` (SIGSTOP of the server and every
backend: PostgreSQL puts each backend in a process group of its own), ``logs`` and ``wipe`` (the next start runs
``initdb`` again and recreates the tables).  ``--nodes`` is not honoured: the cluster is always the one node
``n1``, which every worker talks to.

``--isolation read-committed|repeatable-read|serializable`` (default serializable) is the level of every
transaction (PostgreSQL's repeatable read is snapshot isolation).  ``fsync`` is off: a killed server loses nothing
that way (the kernel keeps what it wrote), only a crash of the machine would, which no nemesis does.

``PostgresClient`` offers the key-value interface of ``histcheck.run.clients`` on a table ``kv`` and, for the
transactional workloads, ``transaction(kind, mops)``: one SQL transaction per histcheck transaction, over the table
``append`` (``k int primary key, v bigint[]``; an append is ``INSERT ... ON CONFLICT DO UPDATE SET v = v ||
...``) for ``list-append`` and ``registers`` (``k int primary key, v bigint``) for ``rw-register``.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
from typing import Any, Callable, Sequence

from ..errors import InputError
from . import procs
from .clients import ClientError, Definite, Indeterminate
from .db import DB, Node
from .net import is_root

POSTGRES_PACKAGE = "postgresql"
SYSTEM_USER = "postgres"
SUPERUSER = "histcheck"
DATABASE = "postgres"
ISOLATION_LEVELS = ("read-committed", "repeatable-read", "serializable")
DEFAULT_ISOLATION = "serializable"
SCHEMA = ("CREATE TABLE kv (k text PRIMARY KEY, v text NOT NULL)",
          "CREATE TABLE append (k int PRIMARY KEY, v bigint[] NOT NULL)",
          "CREATE TABLE registers (k int PRIMARY KEY, v bigint)")


def find_bin_dir(root: str = "/usr/lib/postgresql") -> str:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``postgres`` and ``initdb`` (Debian puts the
    server's programs there, off PATH)."""
    found = [d for d in glob.glob(os.path.join(root, "*", "bin"))
             if os.path.isfile(os.path.join(d, "postgres")) and os.path.isfile(os.path.join(d, "initdb"))]
    if not found:
        raise InputError(f"no PostgreSQL server under {root}/*/bin",
                         expected=f"the Debian package {POSTGRES_PACKAGE}: run `apt-get install -y "
                                  f"{POSTGRES_PACKAGE}` as root (or `bash .ci/setup`)")
    return max(found, key=lambda d: [int(x) for x in re.findall(r"\d+", d.split(os.sep)[-2])] or [0])


def sql_level(isolation: str) -> str:
    """``repeatable-read`` as SQL spells it (``REPEATABLE READ``)."""
    return isolation.replace("-", " ").upper()


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a server's backends and background workers), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def shm_ids(data_dir: str) -> list[str]:
    """The System V shared memory segment a server noted in ``postmaster.pid`` (line 7: key and id)."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    parts = lines[6].split() if len(lines) > 6 else []
    return [parts[1]] if len(parts) == 2 and parts[1].isdigit() else []


def signal_pids(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class PostgresDB(DB):
    """PostgreSQL (Debian's server), one node, at the isolation level the run asks for."""

    name = "postgres"
    ports = {"client": 5432}
    default_workload = "list-append"
    isolation_levels = ISOLATION_LEVELS

    def __init__(self, node_names: Sequence[str], network: Any, work_dir: str, log_dir: str, *,
                 isolation: str = DEFAULT_ISOLATION, max_connections: int = 100) -> None:
        super().__init__(list(node_names)[:1], network, work_dir, log_dir)
        if isolation not in ISOLATION_LEVELS:
            raise InputError(f"isolation {isolation!r} is not one PostgreSQL has",
                             expected="one of " + ", ".join(ISOLATION_LEVELS))
        self.bin_dir = find_bin_dir()
        self.isolation = isolation
        self.max_connections = max_connections
        self.owner = self._system_user() if is_root() else None
        self._fresh: set[str] = set()   # nodes initialised since their tables were last created
        self._serving = False           # setup has finished: a start after a wipe recreates the tables itself

    @classmethod
    def build(cls, node_names: Sequence[str], network: Any, work_dir: str, log_dir: str,
              options: Any) -> "PostgresDB":
        concurrency = int(getattr(options, "concurrency", 5))
        return cls(node_names, network, work_dir, log_dir,
                   isolation=getattr(options, "isolation", None) or DEFAULT_ISOLATION,
                   max_connections=max(100, 4 * concurrency + 20))

    @staticmethod
    def _system_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise InputError(f"PostgreSQL does not run as root and there is no {SYSTEM_USER!r} user",
                             expected=f"the Debian package {POSTGRES_PACKAGE}, which creates it: `apt-get "
                                      f"install -y {POSTGRES_PACKAGE}`") from None

    def program(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def programs(self) -> list[str]:
        return [self.program("postgres")]

    def as_owner(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as the server's user (as root: ``postgres``, in a private IPC namespace), with the
        parent-death signal set again after the switch of user (a change of credentials clears it)."""
        if self.owner is None:
            return list(argv)
        setpriv = shutil.which("setpriv") or "setpriv"
        return ["unshare", "--ipc", setpriv, f"--reuid={self.owner.pw_uid}", f"--regid={self.owner.pw_gid}",
                "--clear-groups", "--", setpriv, "--pdeathsig", "KILL", "--", *argv]

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def setup(self) -> None:
        if self.owner is not None:  # the server's user must reach its data directory inside the work dir
            os.chmod(self.work_dir, 0o711)
        super().setup()
        self._serving = True

    def teardown(self) -> None:
        segments = [] if self.owner is not None else [s for n in self.nodes.values() for s in shm_ids(n.data_dir)]
        super().teardown()
        for shmid in segments:  # unprivileged: no IPC namespace of its own, so a killed server leaves its segment
            procs.run_cmd(["ipcrm", "-m", shmid], check=False)

    def await_ready(self, timeout: float = 30) -> None:
        for name in self.node_names:
            self._await_node(name, timeout)

    def _await_node(self, name: str, timeout: float) -> None:
        if not procs.wait_until(lambda: self._answers(name), timeout, interval=0.1):
            dead = "" if self.is_running(name) else " (it exited; see its log)"
            raise RuntimeError(f"PostgreSQL on {name} did not accept connections within {timeout:.0f}s{dead}")
        if name in self._fresh:
            self._create_schema(name)
            self._fresh.discard(name)

    def _answers(self, name: str) -> bool:
        if not self.is_running(name):
            return False
        client = self.client(name, timeout=2.0)
        try:
            client.ping()
            return True
        except ClientError:
            return False
        finally:
            client.close()

    def _create_schema(self, name: str) -> None:
        client = self.client(name, timeout=10.0)
        try:
            for statement in SCHEMA:
                client.admin(statement)
        finally:
            client.close()

    # -- per node ----------------------------------------------------------------------------------------------
    def _initdb(self, node: Node) -> None:
        """A new database cluster in the node's (empty) data directory, owned by the server's user."""
        os.makedirs(node.data_dir, exist_ok=True)
        if self.owner is not None:
            os.chown(node.data_dir, self.owner.pw_uid, self.owner.pw_gid)
        os.chmod(node.data_dir, 0o700)
        argv = self.as_owner([self.program("initdb"), "-D", node.data_dir, "-U", SUPERUSER, "--auth=trust",
                              "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        with open(node.log_path, "a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"initdb for {node.name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        with open(os.path.join(node.data_dir, "pg_hba.conf"), "a") as hba:
            hba.write("# histcheck: the runner's clients, on the node's own subnet\nhost all all samenet trust\n")
        self._fresh.add(node.name)

    def argv(self, name: str) -> list[str]:
        node = self.nodes[name]
        endpoint = node.net.ports["client"]
        settings = {"listen_addresses": endpoint.listen_host, "port": endpoint.listen_port,
                    "unix_socket_directories": "", "max_connections": self.max_connections,
                    "fsync": "off", "dynamic_shared_memory_type": "mmap", "shared_buffers": "64MB",
                    "default_transaction_isolation": sql_level(self.isolation).lower(),
                    "client_connection_check_interval": "1s", "deadlock_timeout": "100ms",
                    "log_line_prefix": "%m [%p] ",
                    "log_min_messages": "warning", "log_min_error_statement": "panic"}
        flags = [part for key, value in settings.items() for part in ("-c", f"{key}={value}")]
        return self.as_owner([self.program("postgres"), "-D", node.data_dir, *flags])

    def start(self, name: str) -> None:
        node = self.nodes[name]
        if not os.path.exists(os.path.join(node.data_dir, "PG_VERSION")):
            self._initdb(node)
        self._spawn(name, "postgres", self.argv(name))
        if name in self._fresh and self._serving:  # a wiped node gets its tables back once it serves
            self._await_node(name, 30)

    def _server(self, name: str) -> subprocess.Popen | None:
        return self.nodes[name].procs.get("postgres")

    def _backends(self, name: str) -> list[int]:
        server = self._server(name)
        return children(server.pid) if server is not None and server.poll() is None else []

    def stop(self, name: str) -> None:
        """Fast shutdown (SIGINT): open transactions roll back, clients are disconnected, a clean checkpoint."""
        self.expect_exit(name)
        server = self._server(name)
        if server is not None and server.poll() is None:
            procs.resume(server)
            signal_pids(self._backends(name), signal.SIGCONT)
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.nodes[name].paused = False
        self.network.node_stopped(name)

    def kill(self, name: str) -> None:
        """SIGKILL of the server and of every backend (they would otherwise finish their statements)."""
        self.expect_exit(name)
        backends = self._backends(name)
        server = self._server(name)
        if server is not None:
            procs.kill(server)
        signal_pids(backends, signal.SIGKILL)
        self.nodes[name].paused = False
        self.network.node_stopped(name)

    def pause(self, name: str) -> None:
        server = self._server(name)
        if server is not None:
            procs.pause(server)  # first, so that it forks no backend the next line would miss
            signal_pids(self._backends(name), signal.SIGSTOP)
        self.nodes[name].paused = True

    def resume(self, name: str) -> None:
        server = self._server(name)
        if server is not None:
            signal_pids(self._backends(name), signal.SIGCONT)
            procs.resume(server)
        self.nodes[name].paused = False

    def wipe(self, name: str) -> None:
        """Remove a stopped node's data; its next start runs initdb and recreates the tables."""
        shutil.rmtree(self.nodes[name].data_dir, ignore_errors=True)

    # -- clients -----------------------------------------------------------------------------------------------
    def client(self, node: str, timeout: float) -> "PostgresClient":
        endpoint = self.nodes[node].net.ports["client"]
        return PostgresClient(endpoint.dial_host, endpoint.dial_port, isolation=self.isolation, timeout=timeout)

    def describe(self) -> dict:
        info = super().describe()
        info["isolation"] = self.isolation
        info["server"] = self.program("postgres")
        return info


# -- the client ----------------------------------------------------------------------------------------------------
# SQLSTATE classes of errors after which a statement certainly changed nothing, even a COMMIT or a write in
# autocommit: data exceptions, integrity violations, invalid transaction state, transaction rollback (40001
# serialization failure, 40P01 deadlock), syntax or undefined objects, insufficient resources, program limits,
# object not in prerequisite state, unsupported features; and 57014, a statement cancelled by its timeout.
DEFINITE_CLASSES = frozenset({"22", "23", "25", "40", "42", "53", "54", "55", "0A"})
DEFINITE_STATES = frozenset({"57014"})

# What each transactional workload's micro-operations are in SQL: table, read and write statements.
TXN_SQL: dict[str, dict[str, str]] = {
    "list-append": {
        "r": "SELECT v FROM append WHERE k = %s",
        "append": "INSERT INTO append AS t (k, v) VALUES (%s, ARRAY[%s::bigint]) "
                  "ON CONFLICT (k) DO UPDATE SET v = t.v || EXCLUDED.v",
    },
    "rw-register": {
        "r": "SELECT v FROM registers WHERE k = %s",
        "w": "INSERT INTO registers AS t (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
    },
}


def definite_state(sqlstate: str | None) -> bool:
    return sqlstate is not None and (sqlstate[:2] in DEFINITE_CLASSES or sqlstate in DEFINITE_STATES)


class PostgresClient:
    """One worker's connection to the server, in autocommit mode: a call is one statement, or one explicit
    transaction at the run's isolation level.

    Its errors, by the rule of docs/semantics.md: a connection that cannot be made is ``Definite`` (no statement
    was sent); so is any error inside a transaction before its COMMIT was sent (the server rolls it back), and an
    error the server names with a SQLSTATE of ``DEFINITE_CLASSES`` (a serialization failure, 40001, or a deadlock,
    40P01: rolled back) at any point.  A lost connection or a timeout once a COMMIT, or a write in autocommit, was
    sent is ``Indeterminate``, and so is any other server error there (an administrator's shutdown).  psycopg has
    no client-side timeout for a statement, so a watchdog shuts the socket down after ``timeout`` seconds (a paused
    server never answers), and the server's own ``statement_timeout`` and ``idle_in_transaction_session_timeout``
    end what such a client leaves behind.
    """

    def __init__(self, host: str, port: int, *, isolation: str = DEFAULT_ISOLATION, timeout: float = 5.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.level = sql_level(isolation)
        self.conn: Any = None
        self._lock = threading.Lock()
        self._call = 0          # which call the watchdog may end
        self._busy = False

    # -- connection and watchdog -------------------------------------------------------------------------------
    def _connection(self) -> Any:
        import psycopg
        if self.conn is not None and not self.conn.closed and not self.conn.broken:
            return self.conn
        self.close()
        timeout_ms = max(100, int(self.timeout * 1000))
        try:
            self.conn = psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname=DATABASE,
                                        autocommit=True, connect_timeout=max(2, round(self.timeout)),
                                        application_name="histcheck",
                                        options=f"-c statement_timeout={timeout_ms} "
                                                f"-c idle_in_transaction_session_timeout={2 * timeout_ms}")
        except psycopg.Error as exc:
            raise Definite(f"cannot connect to {self.host}:{self.port}: {first_line(exc)}") from None
        return self.conn

    def _watched(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` with the watchdog armed: after ``timeout`` seconds the socket is shut down, which ends
        the statement waiting on it with a lost connection."""
        with self._lock:
            self._call += 1
            self._busy = True
            call = self._call
        timer = threading.Timer(self.timeout, self._abandon, args=(call,))
        timer.daemon = True
        timer.start()
        try:
            return work()
        finally:
            timer.cancel()
            with self._lock:
                self._busy = False

    def _abandon(self, call: int) -> None:
        with self._lock:
            if not self._busy or call != self._call or self.conn is None or self.conn.closed:
                return
            try:
                raw = socket.socket(fileno=os.dup(self.conn.pgconn.socket))
            except Exception:  # the connection went away meanwhile
                return
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                raw.close()

    def _failure(self, exc: Exception, *, committing: bool) -> ClientError:
        """The client error for ``exc``; ``committing``: the statement that failed could have committed."""
        state = getattr(exc, "sqlstate", None)
        message = f"{state + ': ' if state else ''}{first_line(exc)}"
        self._roll_back()
        if not committing or definite_state(state):
            return Definite(message)
        return Indeterminate(message)

    def _roll_back(self) -> None:
        """End a failed transaction (the connection stays usable), or drop a broken connection."""
        conn = self.conn
        if conn is None or conn.closed:
            return
        if conn.broken:
            self.close()
            return
        from psycopg.pq import TransactionStatus
        if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            try:
                self._watched(lambda: conn.execute("ROLLBACK"))
            except Exception:  # the server is gone or does not answer: the transaction ends with the connection
                self.close()

    def _statement(self, sql: str, params: Sequence[Any] = (), *, writes: bool) -> list[tuple]:
        """One statement in autocommit; its rows."""
        import psycopg

        def work() -> list[tuple]:
            cur = self._connection().execute(sql, params)
            return cur.fetchall() if cur.description is not None else [(cur.rowcount,)]
        try:
            return self._watched(work)
        except psycopg.Error as exc:
            raise self._failure(exc, committing=writes) from None

    # -- the key-value interface -------------------------------------------------------------------------------
    def read(self, key: str) -> str | None:
        rows = self._statement("SELECT v FROM kv WHERE k = %s", (key,), writes=False)
        return rows[0][0] if rows else None

    def write(self, key: str, value: str) -> None:
        self._statement("INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                        (key, value), writes=True)

    def cas(self, key: str, old: str | None, new: str) -> bool:
        if old is None:
            rows = self._statement("INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO NOTHING",
                                   (key, new), writes=True)
        else:
            rows = self._statement("UPDATE kv SET v = %s WHERE k = %s AND v = %s", (new, key, old), writes=True)
        return rows[0][0] == 1

    def read_prefix(self, prefix: str) -> dict[str, str]:
        return dict(self._statement("SELECT k, v FROM kv WHERE starts_with(k, %s)", (prefix,), writes=False))

    def read_many(self, keys: list[str]) -> dict[str, str | None]:
        found = dict(self._statement("SELECT k, v FROM kv WHERE k = ANY(%s)", (list(keys),), writes=False))
        return {k: found.get(k) for k in keys}

    def multi_cas(self, expect: dict[str, str | None], puts: dict[str, str]) -> bool:
        """One transaction at the run's level: the expected rows locked (``FOR UPDATE``) and compared, then the
        puts; at weaker levels it behaves as PostgreSQL does there (a row that does not exist yet is not locked)."""
        keys = sorted(set(expect) | set(puts))
        holds: list[bool] = []

        def body(conn: Any) -> None:
            rows = dict(conn.execute("SELECT k, v FROM kv WHERE k = ANY(%s) ORDER BY k FOR UPDATE",
                                     (keys,)).fetchall())
            holds.append(all(rows.get(k) == v for k, v in expect.items()))
            if holds[0]:
                for k, v in sorted(puts.items()):
                    conn.execute("INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE "
                                 "SET v = EXCLUDED.v", (k, v))
        self._transaction(body)
        return holds[0]

    # -- transactions ------------------------------------------------------------------------------------------
    def transaction(self, kind: str, mops: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """Run a list-append or rw-register transaction as one SQL transaction; the micro-operations with each
        read's value filled in (a list for list-append, a number or None for rw-register)."""
        statements = TXN_SQL[kind]
        done: list[list[Any]] = []

        def body(conn: Any) -> None:
            for f, k, v in mops:
                if f == "r":
                    row = conn.execute(statements["r"], (k,)).fetchone()
                    value = row[0] if row is not None else None
                    done.append([f, k, (list(value) if value is not None else []) if kind == "list-append"
                                 else value])
                else:
                    conn.execute(statements[str(f)], (k, v))
                    done.append([f, k, v])
        self._transaction(body)
        return done

    def _transaction(self, body: Callable[[Any], None]) -> None:
        """BEGIN at the run's level, ``body``, COMMIT; errors by the rule in the class docstring."""
        import psycopg
        committing = False

        def work() -> None:
            nonlocal committing
            conn = self._connection()
            conn.execute(f"BEGIN ISOLATION LEVEL {self.level}")
            body(conn)
            committing = True
            status = conn.execute("COMMIT").statusmessage
            if status != "COMMIT":
                raise Definite(f"the server rolled the transaction back ({status})")
        try:
            self._watched(work)
        except psycopg.Error as exc:
            raise self._failure(exc, committing=committing) from None

    # -- for the DB --------------------------------------------------------------------------------------------
    def ping(self) -> None:
        self._statement("SELECT 1", writes=False)

    def admin(self, statement: str) -> None:
        self._statement(statement, writes=True)

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection may complain; it is gone either way
                pass


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
