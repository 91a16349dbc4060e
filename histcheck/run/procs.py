"""Starting and stopping the programs a run owns (database nodes, proxies), and never leaving one behind.

Every child is started through ``setpriv --pdeathsig KILL`` (when util-linux has it) from one long-lived launcher
thread, so that the kernel kills it if the runner dies, even by SIGKILL: a parent-death signal fires when the
*thread* that forked the child ends, which is why all forks happen on the same thread.  ``Cleanup`` is the one
registry of undo actions for a run; it runs them in reverse order from ``finally`` blocks, signal handlers and
``atexit`` alike, and is idempotent.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, IO, Protocol, Sequence

from ..errors import InputError

_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="histcheck-launcher")


def require_binary(name: str, package: str) -> str:
    """The path of ``name``, or an error telling how to install it (a run stops at once without it)."""
    path = shutil.which(name)
    if path is None:
        raise InputError(f"`{name}` is not on PATH", expected=f"the Debian package {package}: run "
                         f"`apt-get install -y {package}` as root (or `bash .ci/setup`)")
    return path


def _pdeathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def spawn(argv: Sequence[str], *, log: IO[bytes] | None = None, stdin: int | None = subprocess.DEVNULL,
          stdout: int | None = None, cwd: str | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start ``argv`` on the launcher thread, tied to the runner's life; output goes to ``log`` (stderr only,
    when ``stdout`` is given, e.g. a pipe for replies)."""
    cmd = _pdeathsig_prefix() + list(argv)
    sink = log or subprocess.DEVNULL

    def start() -> subprocess.Popen:
        return subprocess.Popen(cmd, stdin=stdin, stdout=sink if stdout is None else stdout,
                                stderr=subprocess.STDOUT if stdout is None else sink, cwd=cwd, env=env,
                                start_new_session=True)
    return _LAUNCHER.submit(start).result()


def stop(proc: subprocess.Popen | None, *, grace: float = 3.0) -> None:
    """SIGTERM (and SIGCONT, in case it was paused), then SIGKILL after ``grace`` seconds; always reaps."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGCONT):
        _signal(proc, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill(proc)


def kill(proc: subprocess.Popen | None) -> None:
    """SIGKILL the process group of ``proc`` and reap it."""
    if proc is None or proc.poll() is not None:
        return
    _signal(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _signal(proc: "subprocess.Popen | ProcessHandle", sig: int) -> None:
    if not isinstance(proc, subprocess.Popen):
        proc.signal_group(sig)
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def pause(proc: subprocess.Popen) -> None:
    _signal(proc, signal.SIGSTOP)


def resume(proc: subprocess.Popen) -> None:
    _signal(proc, signal.SIGCONT)


class ProcessHandle(Protocol):
    """A node program that is not a child of the runner (one started on a remote host): ``Popen``'s ``pid``,
    ``poll`` and ``wait``, and a way to signal its process group, which ``stop``, ``kill``, ``pause`` and
    ``resume`` use in place of ``os.killpg``."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def signal_group(self, sig: int) -> None: ...


class NodeHost(Protocol):
    """Where a node's programs run and its data lives: this machine (``LocalHost``) or a remote host
    (``histcheck.run.ssh.SSHHost``).  A DB starts, writes and wipes through it, so one DB class serves both."""

    kind: str
    label: str

    def node_dir(self, work_dir: str, node: str) -> str: ...

    def make_dir(self, path: str) -> None: ...

    def reset_dir(self, path: str) -> None: ...

    def write_file(self, path: str, text: str) -> None: ...

    def missing_programs(self, programs: Sequence[str]) -> list[str]: ...

    def spawn(self, argv: Sequence[str], log_path: str) -> "subprocess.Popen | ProcessHandle": ...

    def run(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess: ...

    def collect_logs(self) -> None: ...


class LocalHost:
    """A node on this machine: programs spawned through ``wrap`` (its namespace, when it has one)."""

    kind = "local"
    label = "localhost"

    def __init__(self, wrap: Callable[[Sequence[str]], list[str]]) -> None:
        self.wrap = wrap

    def node_dir(self, work_dir: str, node: str) -> str:
        return os.path.join(work_dir, node)

    def make_dir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def reset_dir(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)

    def write_file(self, path: str, text: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)

    def missing_programs(self, programs: Sequence[str]) -> list[str]:
        return []  # checked when the DB was built (require_binary)

    def spawn(self, argv: Sequence[str], log_path: str) -> subprocess.Popen:
        log = open(log_path, "ab")
        try:
            return spawn(self.wrap(argv), log=log)
        finally:
            log.close()

    def run(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess:
        """A short command (a probe) on this machine, from the clients' side of the network."""
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)

    def collect_logs(self) -> None:
        """The logs are written where the store keeps them already."""


def run_cmd(argv: Sequence[str], *, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run a short command (``ip``, ``nft``), returning its output; raises with stderr on failure if ``check``."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (a bounded loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def start_reaper(script: str) -> subprocess.Popen:
    """A detached shell that waits for this process to die and then runs ``script`` (undoing what a SIGKILLed
    runner could not); whoever starts it kills it after a normal teardown."""
    loop = f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 0.5; done; {script}; exit 0"
    return subprocess.Popen(["sh", "-c", loop], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


WORK_DIR_RE = re.compile(r"^histcheck-(\d+)-[A-Za-z0-9_]{8}$")


def planned_work_dir() -> str:
    """A fresh name for a run's node-data directory (nothing is created yet: a refused run leaves nothing)."""
    import secrets
    import string
    letters = string.ascii_letters + string.digits
    return os.path.join(tempfile.gettempdir(),
                        f"histcheck-{os.getpid()}-" + "".join(secrets.choice(letters) for _ in range(8)))


def make_work_dir(cleanup: "Cleanup", path: str | None = None) -> str:
    """Create the private directory for node data (``path``, or a fresh one), removed at cleanup, or by a reaper
    if the runner is SIGKILLed; stale ones of dead runners are swept first."""
    sweep_work_dirs()
    if path is None:
        path = tempfile.mkdtemp(prefix=f"histcheck-{os.getpid()}-")
    else:
        os.makedirs(path, mode=0o700)
    reaper = start_reaper(f"rm -rf '{path}'")
    cleanup.add("work dir", lambda: (shutil.rmtree(path, ignore_errors=True), kill(reaper)))
    return path


def sweep_work_dirs() -> list[str]:
    """Remove node data directories left by runners that no longer exist."""
    root = tempfile.gettempdir()
    removed = []
    for name in os.listdir(root):
        m = WORK_DIR_RE.match(name)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(name)
    return removed


def pid_alive(pid: int) -> bool:
    """Is a process with this pid still there (even if it is not ours to signal)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cleanup:
    """Undo actions of one run, run once in reverse order whatever ends the run."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._done = False
        atexit.register(self.run)

    def add(self, name: str, action: Callable[[], None]) -> None:
        with self._lock:
            self._actions.append((name, action))

    def run(self) -> list[str]:
        """Run every action (errors are collected, not raised) and return the errors as text."""
        with self._lock:
            actions, self._actions = self._actions[::-1], []
            self._done = True
        errors = []
        for name, action in actions:
            try:
                action()
            except Exception as exc:  # one failed undo must not stop the others
                errors.append(f"{name}: {exc}")
        return errors


class SignalGuard:
    """Turn SIGTERM (and a first Ctrl-C) into a stop request; a second signal raises KeyboardInterrupt.

    Installed only on the main thread; restores the previous handlers on exit.
    """

    def __init__(self, on_stop: Callable[[str], None]) -> None:
        self._on_stop = on_stop
        self._count = 0
        self._old: dict[int, object] = {}

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self._count += 1
        if self._count == 1:
            self._on_stop(signal.Signals(signum).name)
            return
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
