"""The runner: one test from cluster setup to verdict, and nothing left behind.

``Runner(options).run()`` creates the store, brings up the DB on its network, starts one worker thread per unit
of concurrency and the nemesis thread, lets the generator drive them for the time limit, heals, waits for
recovery, runs the workload's final operations, tears everything down and checks the history.  Every operation
is journaled as it happens.

Workers behave as Jepsen's: worker ``w`` talks to node ``w mod n`` as process ``w``; when an operation crashes
(``:info``) the process is retired and the worker goes on as process ``p + concurrency`` with a fresh connection.
SIGINT/SIGTERM ask the run to stop early (the partial history is still checked); a second signal aborts.  The
``Cleanup`` registry undoes everything on every exit path, including ``atexit``.

Everything that can be refused is refused in ``Runner(...)``, before any directory, process or namespace exists:
the DB (a registry name or a system file) and its programs, the workload, the nemesis spec, the capabilities the
nemesis needs, its targets against the cluster's nodes, and its schedule against the time limit.  While the run
lasts the runner watches its nodes: a node process that exits without the nemesis asking is recorded as a
nemesis-style ``:info`` event (``n1 exited, signal 9``), listed in ``test.json`` and named in the verdict's notes.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .. import nemesis as nemeses
from .. import workloads
from ..checker.result import Result
from ..errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID, InputError
from ..history import History
from . import procs
from .clients import ClientError, completion_type
from .db import DB, NodeExit, lookup
from .generator import Generator
from .nemesis import NODE_EXITED, NemesisRunner
from .net import ProxyNetwork
from .store import Journal, Store, timestamp


@dataclass
class RunOptions:
    """Every option of a run; written to ``test.json``."""

    db: str = "etcd"
    nodes: int = 3
    workload: str = "register"
    nemesis: str = "none"
    time_limit: float = 30.0
    concurrency: int = 5
    rate: float = 50.0
    read_mode: str = "linearizable"
    isolation: str | None = None
    seed: int | None = None
    store: str = "store"
    network: str = "auto"
    op_timeout: float = 5.0
    recover: float = 1.0
    test_name: str | None = None
    report: bool = True
    workload_options: dict = field(default_factory=dict)
    nemesis_options: dict = field(default_factory=dict)
    ssh: str | None = None
    nodes_file: str | None = None
    known_hosts: str | None = None

    def name(self) -> str:
        db = os.path.splitext(os.path.basename(self.db))[0]  # a system file's path names the test by its stem
        isolation = f"-{self.isolation}" if self.isolation else ""
        return self.test_name or f"{db}-{self.workload}-{self.nemesis}{isolation}"


@dataclass
class Outcome:
    """What a run produced: the verdict, where everything is, and a few numbers."""

    result: Result | None
    path: str
    stats: dict
    errors: list[str]
    history: History | None = None  # what was recorded (the summary's availability lines are computed from it)

    @property
    def exit_code(self) -> int:
        if self.result is None:
            return EXIT_UNKNOWN
        return {True: EXIT_VALID, False: EXIT_INVALID}.get(self.result.valid, EXIT_UNKNOWN)


def node_names(count: int) -> list[str]:
    return [f"n{i + 1}" for i in range(count)]


def check_isolation(cls: type[DB], isolation: str | None) -> None:
    """``--isolation`` is a DB option: refused for a DB that names no ``isolation_levels`` or not this one."""
    levels = getattr(cls, "isolation_levels", ())
    if isolation is not None and isolation not in levels:
        takers = f"it takes {', '.join(levels)}" if levels else "it has no isolation levels to choose"
        raise InputError(f"--isolation {isolation}: not an option of the {cls.name} DB ({takers})",
                         expected="--isolation only with a DB that has isolation levels (postgres)")


class Runner:
    def __init__(self, options: RunOptions, *, on_progress: Callable[[dict], None] | None = None,
                 nemesis: Any = None) -> None:
        if options.seed is None:
            options.seed = random.SystemRandom().randrange(1 << 31)
        self.options = options
        self.workload = workloads.get(options.workload, options.workload_options)
        self.nemesis = nemesis if nemesis is not None else nemeses.build(options.nemesis, options.nemesis_options)
        self.options.nemesis = self.nemesis.name
        self.stamp = timestamp()
        self.work_dir = procs.planned_work_dir()
        self.db: DB = self._preflight()
        self.on_progress = on_progress
        self.generator = Generator(self.workload, concurrency=options.concurrency, rate=options.rate,
                                   time_limit=options.time_limit, seed=options.seed)
        self.cleanup = procs.Cleanup()
        self.stop_reason: str | None = None
        self.errors: list[str] = []
        self.journal: Journal | None = None
        self.nemesis_runner: NemesisRunner | None = None
        self.node_exits: list[tuple[float, NodeExit]] = []
        self.timings: dict[str, float] = {}

    def _preflight(self) -> DB:
        """The DB object (nothing started) once the nemesis is known to fit it: capabilities, targets, schedule."""
        cls = lookup(self.options.db)
        check_isolation(cls, self.options.isolation)
        remote = self._remote_network(cls)
        network = remote if remote is not None else cls.make_network(self.options.network)
        log_dir = os.path.join(os.path.abspath(self.options.store), self.options.name(), self.stamp, "logs")
        db = cls.build(node_names(self.options.nodes), network, self.work_dir, log_dir, self.options)
        self.nemesis.check(db)
        self.nemesis.check_schedule(self.options.time_limit)
        if remote is not None:
            remote.connect()  # last: every host's key is checked before anything runs
        return db

    def _remote_network(self, cls: type[DB]) -> Any:
        """The hosts of ``--ssh`` or ``--nodes-file`` (one node each), or None for nodes on this machine."""
        if not (self.options.ssh or self.options.nodes_file):
            return None
        from .remote_net import remote_network
        from .ssh import load_hosts_file, parse_ssh_list
        if self.options.ssh and self.options.nodes_file:
            raise InputError("--ssh and --nodes-file both name the hosts", expected="one of them")
        hosts = (load_hosts_file(self.options.nodes_file) if self.options.nodes_file
                 else parse_ssh_list(self.options.ssh, known_hosts=self.options.known_hosts))
        self.options.nodes = len(hosts.hosts)
        return remote_network(cls, hosts)

    # -- the run -----------------------------------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        self.stop_reason = why
        self.generator.stop()

    def run(self) -> Outcome:
        store = Store(self.options.store, self.options.name(), self.stamp)
        self.store = store
        self.errors.extend(store.notes)  # the run latest pointed at was killed: say so
        self._write_test("running")
        with procs.SignalGuard(self.request_stop):
            try:
                self._phase("setup", self._setup)
                self._phase("run", self._main_phase)
            except BaseException as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._finish()
                self._write_test("failed")
                raise
            self._finish()
        result = self._phase("check", self._check)
        self._write_test("done")
        return Outcome(result, store.path, self.stats(), self.errors,
                       self.history() if self.journal is not None else None)

    def _phase(self, name: str, fn: Callable[[], Any]) -> Any:
        self.generator.phase = name
        self._progress()
        start = time.monotonic()
        try:
            return fn()
        finally:
            self.timings[name] = round(time.monotonic() - start, 3)

    def _setup(self) -> None:
        if isinstance(self.db.network, ProxyNetwork):
            self.db.network.log_dir = self.store.log_dir
        procs.make_work_dir(self.cleanup, self.work_dir)
        self.cleanup.add("db", self.db.teardown)
        self.db.setup()
        self._workload_setup()
        self.journal = Journal(self.store)
        self.nemesis.setup(self.db)
        self.nemesis_runner = NemesisRunner(self.nemesis, self.journal, self.generator.nemesis_rng,
                                            self.options.time_limit)

    def _workload_setup(self) -> None:
        client = self.db.client(self.db.node_names[0], self.options.op_timeout)
        try:
            for attempt in range(5):
                try:
                    self.workload.setup(client)
                    return
                except ClientError:
                    if attempt == 4:
                        raise
                    time.sleep(1)
        finally:
            client.close()

    def _main_phase(self) -> None:
        if self.stop_reason:
            return
        self.generator.start()
        workers = [threading.Thread(target=self._worker, args=(w,), name=f"histcheck-worker-{w}", daemon=True)
                   for w in range(self.options.concurrency)]
        for t in workers:
            t.start()
        self.nemesis_runner.start()
        self._watch(workers, deadline=self.generator.deadline + self.options.op_timeout + 5)
        for t in workers:
            t.join(timeout=self.options.op_timeout + 2)

    def _watch(self, threads: list[threading.Thread], deadline: float) -> None:
        """Report progress until the threads end (bounded by ``deadline``)."""
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            time.sleep(0.25)
            self._watch_nodes()
            self._progress()
        self._watch_nodes()
        self._progress()

    def _watch_nodes(self) -> None:
        """Record node processes that exited with nobody asking, as nemesis-style events."""
        if self.nemesis_runner is None:
            return
        for exit_ in self.db.unexpected_exits():
            at = self.journal.now() / 1e9
            self.node_exits.append((at, exit_))
            self.nemesis_runner.record_event(NODE_EXITED, exit_.message())
            self.errors.append(f"{exit_.message()} at {at:.1f} s, without the nemesis asking")

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.stats())

    def _worker(self, w: int) -> None:
        process = w
        client = None
        node = self.db.node_names[w % len(self.db.node_names)]
        try:
            while True:
                op = self.generator.next(w)
                if op is None:
                    return
                if client is None:
                    client = self.db.client(node, self.options.op_timeout)
                if self._perform(client, process, *op) == "info":
                    client.close()
                    client = None
                    process += self.options.concurrency
        except Exception as exc:  # a bug in a workload must not hang the run
            self.errors.append(f"worker {w}: {type(exc).__name__}: {exc}")
            self.request_stop("error")
        finally:
            if client is not None:
                client.close()

    def _perform(self, client: Any, process: int, f: str, value: Any) -> str:
        """Invoke one operation and record its invocation and completion; returns the completion type."""
        self.journal.record("invoke", process, f, value)
        error = None
        try:
            kind, out = self.workload.invoke(client, f, value)
        except (ClientError, OSError) as exc:  # the error rule: docs/semantics.md
            kind = completion_type(exc, f in self.workload.reads) or "info"
            out, error = value, f"{type(exc).__name__}: {exc}" if not isinstance(exc, ClientError) else str(exc)
        self.journal.record(kind, process, f, out, error=error)
        return kind

    def _finish(self) -> None:
        """Heal, recover, final operations (unless stopping), then tear everything down."""
        try:
            if self.nemesis_runner is not None:
                self._phase("heal", self.nemesis_runner.finish)
                self.errors.extend(self.nemesis_runner.errors)
                self._watch_nodes()
            if self.journal is not None and not self.stop_reason:
                self._phase("recover", lambda: time.sleep(self.options.recover))
                self._phase("final", self._final_ops)
                self._watch_nodes()
        finally:
            if self.journal is not None:
                self.journal.close()
            self.generator.phase = "teardown"
            start = time.monotonic()
            self.errors.extend(self.cleanup.run())
            self.errors.extend(self.db.log_errors)
            self.errors.extend(f"host {h} could not be healed: {why}" for h, why in self.unhealed().items())
            self.timings["teardown"] = round(time.monotonic() - start, 3)

    def _final_ops(self) -> None:
        final = self.workload.final_ops()
        if not final:
            return
        base = self.options.concurrency * 1000 + 0
        for i, (f, value) in enumerate(final):
            node = self.db.node_names[i % len(self.db.node_names)]
            for attempt in range(5):
                client = self.db.client(node, self.options.op_timeout)
                kind = self._perform(client, base + i * 10 + attempt, f, value)
                client.close()
                if kind == "ok" or self.stop_reason:
                    break
                time.sleep(0.5)

    # -- results -----------------------------------------------------------------------------------------------
    def history(self) -> History:
        ops = self.journal.ops if self.journal is not None else []
        return History(list(ops), source=self.store.file("history.edn"), format="edn")

    def _check(self) -> Result | None:
        if self.journal is None:
            return None
        result = self.workload.check(self.history())
        result.notes[:0] = [f"{exit_.message()} at {at:.1f} s without the nemesis asking (recorded as "
                            f":{NODE_EXITED})" for at, exit_ in self.node_exits]
        result.notes[:0] = [f"host {host} could not be healed: {why}" for host, why in self.unhealed().items()]
        if self.stop_reason:
            result.notes.append(f"the run was stopped early ({self.stop_reason}); the partial history was checked")
        self.store.write_json("results.json", result.to_dict())
        self.store.write_text("results.edn", result.to_edn())
        if self.options.report:
            self._report(result)
        return result

    def _report(self, result: Result) -> None:
        """The analyze outputs (explanation, timeline, figures) beside the history, as ``analyze --out`` writes
        them for the workload's checker."""
        try:
            from ..checkers.report import write
            write(self.store.path, self.history(), result, model=self.workload.model, init=None)
        except ImportError:
            return
        except Exception as exc:  # a drawing problem must not hide the verdict
            self.errors.append(f"report: {type(exc).__name__}: {exc}")

    def unhealed(self) -> dict[str, str]:
        """Hosts the final heal or the teardown could not reach (remote nodes only)."""
        return self.db.network.heal_failures()

    def stats(self) -> dict:
        counts = dict(self.journal.counts) if self.journal else {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        elapsed = self.journal.now() / 1e9 if self.journal else 0.0
        done = counts["ok"] + counts["fail"] + counts["info"]
        return {"phase": self.generator.phase, "elapsed": round(elapsed, 2), "ops": counts["invoke"],
                "completed": done, **counts, "faults": self.nemesis.active(), "node_exits": len(self.node_exits),
                "ops_per_s": round(done / elapsed, 1) if elapsed > 0 and self.generator.phase == "run" else None,
                "timings": dict(self.timings)}

    def _write_test(self, status: str) -> None:
        info = {"name": self.options.name(), "status": status, "options": asdict(self.options),
                "workload": self.workload.describe(), "nemesis": self.nemesis.describe(),
                "start_time": self.store.path.rsplit("/", 1)[-1], "pid": os.getpid(),
                "store": self.store.path}
        if self.db.nodes:
            info["db"] = self.db.describe()
        if status in ("done", "failed"):
            info["stats"] = self.stats()
            info["errors"] = self.errors
            info["node_exits"] = [{"time_s": round(at, 3), **e.to_dict()} for at, e in self.node_exits]
            info["stop_reason"] = self.stop_reason
            info["unhealed_hosts"] = self.unhealed()
        self.store.write_json("test.json", info)
