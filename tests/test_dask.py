"""Checking on Dask: real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, torn down pass or fail.

Every test compares with what a local check says of the same file, or with what a local check promises (time and
memory budgets, Ctrl-C).  The slow histories are built by hand so that their cost is predictable: ``n``
concurrent writes of distinct values and a read, concurrent with all of them, of a value nobody wrote.  The search
must visit about ``n * 2**(n-1)`` configurations to refute it (about 2 s for n=15 on the reference engine)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra (pip install 'histcheck[dask]')")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HISTCHECK = str(BIN / "histcheck")
DASK = str(BIN / "dask")
SYNTHETIC = REPO / "benchmarks" / "synthetic.py"


# -- the cluster -------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and named workers as subprocesses (each in its own session, so teardown reaches them all)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                 "--no-dashboard"])
        self.client = None

    def start(self, name: str, argv: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def add_worker(self, name: str) -> None:
        self.start(name, [DASK, "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny",
                          "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60"])

    def connect(self, workers: int):
        if self.client is None:
            self.client = distributed.Client(self.address, timeout=60, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=90)
        return self.client

    def worker_named(self, address: str) -> str:
        return self.client.scheduler_info(n_workers=-1)["workers"][address]["name"]

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_worker("w1")
        c.add_worker("w2")
        c.connect(2)
        yield c
    finally:
        c.stop()
    assert all(p.poll() is not None for p in c.procs.values())


# -- histories ---------------------------------------------------------------------------------------------------

def slow_history(path: Path, n: int, keys: int) -> Path:
    """On each key, ``n`` concurrent writes and a read of 999, which nobody wrote: invalid, expensively."""
    lines: list[str] = []

    def op(kind: str, process: int, f: str, value: str) -> None:
        lines.append(f"{{:type :{kind}, :f :{f}, :value {value}, :process {process}, :index {len(lines)}}}")

    for k in range(keys):
        base = k * (n + 1)
        op("invoke", base + n, "read", f"[{k} nil]")
        for w in range(n):
            op("invoke", base + w, "write", f"[{k} {w + 1}]")
        for w in range(n):
            op("ok", base + w, "write", f"[{k} {w + 1}]")
        op("ok", base + n, "read", f"[{k} 999]")
    path.write_text("\n".join(lines) + "\n")
    return path


def synthetic(path: Path, *args: str) -> Path:
    subprocess.run([sys.executable, str(SYNTHETIC), "--out", str(path), *args], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Small stores from 0: an invalid cas register over four keys, a valid register; and an invalid kv apart."""
    d = tmp_path_factory.mktemp("stores")
    synthetic(d / "cas.edn", "--ops", "4000", "--keys", "4", "--clients", "8", "--anomaly", "--seed", "3")
    synthetic(d / "register.edn", "--ops", "3000", "--keys", "3", "--clients", "6", "--workload", "register")
    synthetic(d.parent / "kv.edn", "--ops", "3000", "--keys", "5", "--clients", "10", "--workload", "kv",
              "--anomaly")
    return d


def analyze(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([HISTCHECK, "analyze", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def verdicts(stdout: str, exact: bool) -> dict[str, dict]:
    """Per file, what must not depend on where the search ran: verdict, cause, failing key and op; with ``exact``
    (one engine everywhere: a remote search is the local one) also every key's search statistics and the
    failure report's candidate states and final paths."""
    out = {}
    for line in stdout.splitlines():
        d = json.loads(line)
        keys = [(k["key"], k["valid"], k["cause"], k["ops"]) + ((k["states"], k["explored"]) if exact else ())
                for k in d.get("keys", [])]
        out[Path(d["file"]).name] = {"valid": d["valid"], "cause": d.get("cause"), "key": d.get("key"),
                                     "op": d.get("op"), "keys": keys,
                                     "configs": d.get("configs") if exact else None,
                                     "final_paths": d.get("final_paths") if exact else None}
    return out


# -- the tests ---------------------------------------------------------------------------------------------------

def test_a_batch_on_the_cluster_gives_the_local_verdicts(cluster: Cluster, folder: Path) -> None:
    local = analyze(str(folder), "--json", "--init", "0", "--engine", "reference")
    remote = analyze(str(folder), "--json", "--init", "0", "--engine", "reference", "--dask", cluster.address)
    assert remote.returncode == local.returncode == 1, remote.stderr
    mine, theirs = verdicts(remote.stdout, exact=True), verdicts(local.stdout, exact=True)
    assert mine == theirs
    assert mine["cas.edn"]["valid"] is False and mine["cas.edn"]["op"]["value"] == 1_000_000
    assert mine["register.edn"]["valid"] is True
    assert remote.stderr == ""                      # no progress bar and no Dask logging off a terminal


def test_the_default_engine_on_the_cluster_fails_on_the_same_op(cluster: Cluster, folder: Path) -> None:
    local = analyze(str(folder / "cas.edn"), "--json", "--init", "0")
    remote = analyze(str(folder / "cas.edn"), "--json", "--init", "0", "--dask", cluster.address)
    assert remote.returncode == local.returncode == 1, remote.stderr
    assert verdicts(remote.stdout, exact=False) == verdicts(local.stdout, exact=False)
    assert "searched 4 keys as Dask tasks" in " ".join(json.loads(remote.stdout)["notes"])


def test_a_batch_checks_several_files_at_once(cluster: Cluster, tmp_path: Path) -> None:
    """Files of one key each: both workers search at the same time, and the lines come in the files' order."""
    for i in range(4):
        slow_history(tmp_path / f"one-key-{i}.edn", 14, 1)
    client = cluster.connect(2)
    seen = []
    proc = subprocess.Popen([HISTCHECK, "analyze", str(tmp_path), "--model", "register", "--init", "0",
                             "--engine", "reference", "--dask", cluster.address], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None:
            seen.append(sum(len(v) for v in client.processing().values()))
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert max(seen) >= 2                            # one key per file: only files in flight together do this
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [str(tmp_path / f"one-key-{i}.edn") for i in range(4)]
    assert all("INVALID" in line for line in lines[:4]) and lines[4].startswith("total: 4 files")


def test_budgets_apply_per_task_as_in_a_local_check(cluster: Cluster, tmp_path: Path) -> None:
    slow = slow_history(tmp_path / "slow.edn", 15, 1)
    common = ("--json", "--model", "register", "--init", "0", "--engine", "reference")
    local = analyze(str(slow), *common, "--memory-limit", "16")
    remote = analyze(str(slow), *common, "--memory-limit", "16", "--dask", cluster.address)
    assert remote.returncode == local.returncode == 2, remote.stderr
    (mine,), (theirs,) = verdicts(remote.stdout, False).values(), verdicts(local.stdout, False).values()
    assert mine == theirs and mine["cause"] == "memory"
    started = time.monotonic()                                   # the whole search takes seconds
    remote = analyze(str(slow), *common, "--time-limit", "0.3", "--dask", cluster.address)
    assert remote.returncode == 2 and json.loads(remote.stdout)["cause"] == "time"
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("batch", [False, True], ids=["one-file", "batch"])
def test_ctrl_c_stops_the_searches_on_the_workers_and_exits_2(cluster: Cluster, tmp_path: Path,
                                                               batch: bool) -> None:
    if batch:                                                   # two files of one key each, searched at once
        slow = tmp_path / "stores"
        slow.mkdir()
        for i in range(2):
            slow_history(slow / f"slow-{i}.edn", 17, 1)
    else:
        slow = slow_history(tmp_path / "slow.edn", 17, 2)        # tens of seconds per key if not stopped
    client = cluster.connect(2)
    proc = subprocess.Popen([HISTCHECK, "analyze", str(slow), "--model", "register", "--init", "0", "--engine",
                             "reference", "--dask", cluster.address], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        busy = wait_for(lambda: sum(len(v) for v in client.processing().values()) == 2, 60)
        assert busy, "the two keys never ran"
        time.sleep(0.5)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out + err
    assert "interrupted" in out and "Traceback" not in err
    if batch:
        assert "interrupted" in out.splitlines()[-1] and out.splitlines()[-1].startswith("total:")
    assert time.monotonic() - interrupted < 15
    # the searches stopped on the workers, they were not just abandoned: both workers are free again
    assert wait_for(lambda: not any(client.processing().values()), 15)
    assert sum(len(v) for v in client.has_what().values()) == 0


def test_a_worker_killed_mid_task_is_retried_on_another(cluster: Cluster, tmp_path: Path) -> None:
    slow = slow_history(tmp_path / "slow.edn", 14, 2)
    local = analyze(str(slow), "--json", "--model", "register", "--init", "0", "--engine", "reference")
    client = cluster.connect(2)
    proc = subprocess.Popen([HISTCHECK, "analyze", str(slow), "--json", "--model", "register", "--init", "0",
                             "--engine", "reference", "--dask", cluster.address], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: sum(len(v) for v in client.processing().values()) == 2, 60)
        victim = next(addr for addr, tasks in client.processing().items() if tasks)
        name = cluster.worker_named(victim)
        cluster.procs[name].kill()                               # SIGKILL: the worker is gone mid-search
        cluster.procs[name].wait(timeout=10)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_for(lambda: victim not in client.scheduler_info(n_workers=-1)["workers"], 10)
    assert proc.returncode == 1, out + err
    assert verdicts(out, exact=True) == verdicts(local.stdout, exact=True)
    cluster.add_worker(name + "-again")              # two workers again for any later test (which waits for them)


def test_a_local_cluster_of_worker_processes(folder: Path) -> None:
    kv = folder.parent / "kv.edn"
    local = analyze(str(kv), "--json", "--engine", "reference")
    remote = analyze(str(kv), "--json", "--engine", "reference", "--workers", "2")
    assert remote.returncode == local.returncode == 1, remote.stderr
    assert verdicts(remote.stdout, exact=True) == verdicts(local.stdout, exact=True)


def test_ctrl_c_at_a_terminal_also_reaches_the_local_workers_quietly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to the whole process group, the local cluster's workers included: the command
    still ends as interrupted (exit 2), with no worker's traceback, and leaves no process behind."""
    psutil = pytest.importorskip("psutil")
    slow = slow_history(tmp_path / "slow.edn", 17, 2)
    proc = subprocess.Popen([HISTCHECK, "analyze", str(slow), "--model", "register", "--init", "0", "--engine",
                             "reference", "--workers", "2"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        me = psutil.Process(proc.pid)
        searching = lambda: any(c.cpu_times().user > 2.0 for c in me.children(recursive=True))  # noqa: E731
        assert wait_for(lambda: _quietly(searching), 90), "the workers never searched"
        workers = me.children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, out + err
    assert "gave up (interrupted)" in out and "Traceback" not in err, err
    assert wait_for(lambda: not any(_quietly(w.is_running) for w in workers), 15)


def _quietly(probe) -> bool:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - a process that ended while being looked at
        return False


def test_the_progress_bar_is_drawn_on_a_terminal_only(cluster: Cluster, folder: Path) -> None:
    import pty
    import threading
    main, secondary = pty.openpty()
    proc = subprocess.Popen([HISTCHECK, "analyze", str(folder / "cas.edn"), "--init", "0", "--dask",
                             cluster.address], cwd=REPO, stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    drawn = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                return
            if not chunk:
                return
            drawn.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(main)
    assert proc.returncode == 1
    assert b"checking keys on Dask" in drawn and b"/4" in drawn
    assert "checking keys" not in out and "INVALID" in out


def test_an_unreachable_scheduler_is_bad_input_naming_it() -> None:
    proc = analyze(str(REPO / "examples" / "stale-read.edn"), "--dask", "nonsense://127.0.0.1:1")
    assert proc.returncode == 254 and "nonsense://127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
    both = analyze(str(REPO / "examples" / "stale-read.edn"), "--dask", "tcp://127.0.0.1:1", "--workers", "2")
    assert both.returncode == 254 and "--workers" in both.stderr


def test_a_small_local_analyze_does_not_import_dask() -> None:
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print('DASK=' + ','.join(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('dask', 'distributed')))))\n"
             f"sys.argv = ['histcheck', 'analyze', {str(REPO / 'examples' / 'stale-read.edn')!r}]\n"
             "from histcheck.cli import main\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert [x for x in proc.stdout.splitlines() if x.startswith("DASK=")] == ["DASK="]


def wait_for(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False
