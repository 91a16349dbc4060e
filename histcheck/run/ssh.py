"""Remote hosts over OpenSSH: who they are (``--ssh`` or a hosts file), one connection each, commands, files.

A run against remote hosts keeps one OpenSSH *control master* per host (``ssh -M -N -f`` with ``ControlPersist``)
and sends every command through it, so a command costs a round trip, not a handshake.  Everything is verified:
``BatchMode=yes`` (no prompt ever), ``StrictHostKeyChecking=yes`` against the user's ``known_hosts``, or against a
``known_hosts`` file the runner writes from the keys pinned in the hosts file; credentials are the user's ssh
agent or the ``identity_file`` the hosts file names, and neither is ever copied into the test store.

A lost connection (the master killed, the network blip that outlived ``ServerAliveCountMax``) is noticed on the
next command: ``ssh`` exits 255 and ``-O check`` finds no master, so the session starts a new master and sends
the command again.  That is safe because every command the runner sends is idempotent, including starting a
node: a launch has its own id, and the launch script does nothing when that id's pid file exists.

``SSHHost`` is the node host (``histcheck.run.procs.NodeHost``) a remote node lives on: its programs start
detached (``setsid``) under a per-run directory on the host, with a pid file and an exit-status file each, and
are signalled by process group over ssh; logs are fetched back to the control machine's store.
"""
from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import InputError
from . import procs

SSH_PACKAGE = "openssh-client"
_HOST_RE = re.compile(r"^(?:(?P<user>[^@\s,]+)@)?(?P<address>\[[^\]]+\]|[^:@\s,\[\]]+)(?::(?P<port>\d+))?$")
# How long a node's process status stays fresh: the runner polls its nodes four times a second, and each poll
# would otherwise be one round trip per process (a waiter after a signal asks afresh).
POLL_INTERVAL = 1.0
RETRY_AFTER = 10.0


@dataclass(frozen=True)
class HostSpec:
    """One remote host as the user described it (``user@address:port``, or a ``[[host]]`` of a hosts file)."""

    address: str
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    host_key: str | None = None
    sudo: bool = False
    run_root: str = "/tmp"

    @property
    def label(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.address}" + (f":{self.port}" if self.port != 22 else "")

    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in a known_hosts file."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class Hosts:
    """The hosts of a run, in node order (n1 is the first), and where their keys are checked."""

    hosts: tuple[HostSpec, ...]
    known_hosts: str | None = None


def parse_ssh_list(text: str, *, known_hosts: str | None = None) -> Hosts:
    """``--ssh user@host1,host2:2222,...``: the user's agent and known_hosts, nothing pinned."""
    hosts = []
    for part in (p.strip() for p in text.split(",")):
        m = _HOST_RE.match(part)
        if not m:
            raise InputError(f"--ssh: {part!r} is not a host", expected="USER@HOST[:PORT], several joined by commas")
        hosts.append(HostSpec(address=m["address"].strip("[]"), user=m["user"], port=int(m["port"] or 22)))
    return Hosts(tuple(hosts), known_hosts=known_hosts)


_HOST_KEYS = {"address", "user", "port", "identity_file", "host_key", "sudo", "run_root"}


def load_hosts_file(path: str) -> Hosts:
    """A hosts file (TOML): optional ``[defaults]`` and ``known_hosts``, then one ``[[host]]`` per node."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read the hosts file: {exc.strerror}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not TOML: {exc}", path=path) from None
    unknown = set(data) - {"defaults", "host", "known_hosts"}
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))}", path=path,
                         expected="known_hosts, [defaults] and [[host]] tables")
    defaults = data.get("defaults", {})
    entries = data.get("host", [])
    if not isinstance(entries, list) or not entries:
        raise InputError("no [[host]] table", path=path, expected="one [[host]] with an address per node")
    base = os.path.dirname(os.path.abspath(path))
    hosts = [_host_entry({**defaults, **entry}, i, path, base) for i, entry in enumerate(entries)]
    known = data.get("known_hosts")
    if known is not None:
        known = os.path.join(base, os.path.expanduser(str(known)))
    return Hosts(tuple(hosts), known_hosts=known)


def _host_entry(entry: dict, index: int, path: str, base: str) -> HostSpec:
    where = f"[[host]] number {index + 1}"
    unknown = set(entry) - _HOST_KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", path=path,
                         expected=", ".join(sorted(_HOST_KEYS)))
    if not isinstance(entry.get("address"), str) or not entry["address"]:
        raise InputError(f"{where} has no address", path=path, expected='address = "10.0.0.1" (or a name)')
    port = entry.get("port", 22)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InputError(f"{where}: port {port!r}", path=path, expected="a TCP port number")
    key = entry.get("host_key")
    if key is not None and (not isinstance(key, str) or len(key.split()) < 2):
        raise InputError(f"{where}: host_key {key!r}", path=path,
                         expected='the key as ssh-keyscan or a .pub file prints it: "ssh-ed25519 AAAA..."')
    identity = entry.get("identity_file")
    if identity is not None:
        identity = os.path.join(base, os.path.expanduser(str(identity)))
    return HostSpec(address=entry["address"], user=entry.get("user"), port=port, identity_file=identity,
                    host_key=key, sudo=bool(entry.get("sudo", False)), run_root=str(entry.get("run_root", "/tmp")))


class HostUnreachable(RuntimeError):
    """A host that no new connection could reach (a run names it in its verdict when it could not be healed)."""


class SSHSession:
    """One host's control master and the commands sent through it."""

    def __init__(self, spec: HostSpec, control_dir: str, known_hosts: str | None) -> None:
        self.spec = spec
        self.control_path = os.path.join(control_dir, f"{spec.address}-{spec.port}")
        self.known_hosts = known_hosts
        self.log_path = self.control_path + ".log"
        self.reconnects = 0
        self.unreachable: tuple[float, str] | None = None  # when a reconnection last failed, and why
        self._lock = threading.Lock()
        self.ssh = procs.require_binary("ssh", SSH_PACKAGE)

    # -- the master --------------------------------------------------------------------------------------------
    def options(self) -> list[str]:
        opts = ["-S", self.control_path, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3",
                "-o", "LogLevel=ERROR", "-p", str(self.spec.port)]
        if self.known_hosts is not None:
            opts += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
        if self.spec.identity_file is not None:
            opts += ["-i", self.spec.identity_file, "-o", "IdentitiesOnly=yes"]
        if self.spec.user:
            opts += ["-l", self.spec.user]
        return opts

    def connect(self) -> None:
        """Start the control master; a key that does not match, or no way in, is the user's to fix (254)."""
        with open(self.log_path, "ab") as log:
            start = log.tell()
            done = subprocess.run([self.ssh, *self.options(), "-o", "ControlMaster=yes", "-o", "ControlPersist=yes",
                                   "-N", "-f", self.spec.address], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=log, timeout=30)
        if done.returncode == 0:
            return
        with open(self.log_path, "rb") as log:
            log.seek(start)
            message = log.read().decode(errors="replace").strip()
        if "host key" in message.lower() or "REMOTE HOST IDENTIFICATION" in message:
            raise InputError(f"host {self.spec.label}: its host key is not the one known for it (or none is known); nothing was run",
                             expected="the key pinned in the hosts file (host_key) or the user's known_hosts")
        why = message.splitlines()[-1] if message else f"ssh exited {done.returncode}"
        raise HostUnreachable(f"cannot reach {self.spec.label}: {why}")

    def master_listening(self) -> bool:
        """Does the control socket take a connection?  (Without a master, ``ssh`` would quietly fall back to a
        full handshake per command, so the runner looks first: a local connect costs microseconds.)"""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(self.control_path)
                return True
            except OSError:
                return False

    def ensure_master(self) -> None:
        if not self.master_listening():
            with self._lock:
                if not self.master_listening():
                    self.reconnect()

    def master_pid(self) -> int | None:
        done = subprocess.run([self.ssh, *self.options(), "-O", "check", self.spec.address], capture_output=True,
                              text=True, timeout=10)
        m = re.search(r"pid=(\d+)", done.stderr + done.stdout)
        return int(m.group(1)) if done.returncode == 0 and m else None

    def reconnect(self, attempts: int = 2) -> None:
        """A new master in place of a lost one (the old socket is removed first).  A host that just failed to
        answer fails again at once for ``RETRY_AFTER`` seconds, so that a dead host costs a teardown seconds,
        not a connect timeout per command."""
        if self.unreachable is not None and time.monotonic() - self.unreachable[0] < RETRY_AFTER:
            raise HostUnreachable(self.unreachable[1])
        self.reconnects += 1
        last: Exception | None = None
        for attempt in range(attempts):
            self._drop_master()
            try:
                self.connect()
                self.unreachable = None
                return
            except HostUnreachable as exc:
                last = exc
                time.sleep(0.5 * (attempt + 1))
        self.unreachable = (time.monotonic(), str(last))
        raise HostUnreachable(str(last))

    def _drop_master(self) -> None:
        subprocess.run([self.ssh, *self.options(), "-O", "exit", self.spec.address], capture_output=True, timeout=10)
        try:
            os.unlink(self.control_path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        self._drop_master()

    # -- commands ----------------------------------------------------------------------------------------------
    def run(self, script: str, *, input: str | None = None, timeout: float = 30,
            check: bool = False) -> subprocess.CompletedProcess:
        """Run a shell script on the host (as root through ``sudo -n`` when the host says so).

        Only idempotent scripts may be sent: after a lost connection the same script is sent again."""
        remote = f"sudo -n sh -c {shlex.quote(script)}" if self.spec.sudo else script
        argv = [self.ssh, *self.options(), "-o", "ControlMaster=no", self.spec.address, remote]
        for attempt in range(3):
            self.ensure_master()
            try:
                done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                done = None
            if done is not None and (done.returncode != 255 or self.master_pid() is not None):
                if check and done.returncode != 0:
                    raise RuntimeError(f"on {self.spec.label}: {script.splitlines()[0]}... exited "
                                       f"{done.returncode}: {done.stderr.strip()[:300]}")
                return done
            with self._lock:
                if self.master_pid() is None:
                    self.reconnect()
        raise HostUnreachable(f"{self.spec.label}: the command failed on three connections: {script[:80]}")

    def fetch(self, remote_path: str, local_path: str) -> bool:
        """Copy a remote file to the control machine (False when it is not there)."""
        done = self.run(f"cat {shlex.quote(remote_path)} 2>/dev/null", timeout=60)
        if done.returncode != 0:
            return False
        with open(local_path, "w") as fh:
            fh.write(done.stdout)
        return True


def write_known_hosts(hosts: Hosts, directory: str) -> str | None:
    """The known_hosts file the runner checks keys against: the pinned keys, else the file named, else None
    (OpenSSH's own: the user's ~/.ssh/known_hosts)."""
    pinned = [h for h in hosts.hosts if h.host_key]
    if pinned and len(pinned) != len(hosts.hosts):
        missing = ", ".join(h.label for h in hosts.hosts if not h.host_key)
        raise InputError(f"some hosts pin a host_key and {missing} do not",
                         expected="a host_key on every [[host]], or on none (then known_hosts is used)")
    if not pinned:
        return hosts.known_hosts
    path = os.path.join(directory, "known_hosts")
    with open(path, "w") as fh:
        for h in pinned:
            fh.write(f"{h.known_hosts_name()} {' '.join(h.host_key.split()[:2])}\n")
    return path


@dataclass
class Connections:
    """Every host's session for one run, in a private directory that holds the control sockets."""

    hosts: Hosts
    directory: str = ""
    sessions: list[SSHSession] = field(default_factory=list)
    reaper: subprocess.Popen | None = None

    def open(self) -> None:
        """Connect to every host (all of them, in parallel); the first refusal stops the run before it starts."""
        self.directory = tempfile.mkdtemp(prefix=f"histcheck-{os.getpid()}-ssh-")
        atexit.register(self.close)
        try:
            known = write_known_hosts(self.hosts, self.directory)
            self.sessions = [SSHSession(h, self.directory, known) for h in self.hosts.hosts]
            self.reaper = procs.start_reaper(self._close_script())
            errors: list[BaseException | None] = [None] * len(self.sessions)

            def connect(i: int) -> None:
                try:
                    self.sessions[i].connect()
                except BaseException as exc:  # collected, raised below on the caller's thread
                    errors[i] = exc
            threads = [threading.Thread(target=connect, args=(i,)) for i in range(len(self.sessions))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for exc in errors:
                if isinstance(exc, InputError):
                    raise exc
            for exc in errors:
                if exc is not None:
                    raise InputError(str(exc), expected="a host that answers ssh with the key and user given")
        except BaseException:
            self.close()
            raise

    def _close_script(self) -> str:
        """What the reaper runs if the runner dies without closing: every master told to exit, sockets removed."""
        d = shlex.quote(self.directory)
        return (f"for s in {d}/*; do [ -S \"$s\" ] && ssh -S \"$s\" -O exit x >/dev/null 2>&1; done; "
                f"rm -rf {d}")

    def close(self) -> None:
        for session in self.sessions:
            try:
                session.close()
            except (OSError, subprocess.SubprocessError):
                pass
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        if self.reaper is not None:
            procs.kill(self.reaper)
            self.reaper = None


class RemoteProcess:
    """A node program started detached on a host, known by its pid there (a ``procs.ProcessHandle``)."""

    def __init__(self, session: SSHSession, pid: int, base: str) -> None:
        self.session = session
        self.pid = pid
        self.base = base  # <dir>/<launch id>: .pid and .rc beside it
        self.returncode: int | None = None
        self._checked = 0.0
        self._last_signal: int | None = None

    def poll(self) -> int | None:
        if self.returncode is not None or time.monotonic() - self._checked < POLL_INTERVAL:
            return self.returncode
        return self.poll_now()

    def poll_now(self) -> int | None:
        """Ask the host whether the program still runs (its exit status when it has ended)."""
        if self.returncode is not None:
            return self.returncode
        script = (f"s=$(ps -o stat= -p {self.pid} 2>/dev/null); case \"$s\" in ''|Z*) "
                  f"cat {shlex.quote(self.base)}.rc 2>/dev/null || echo gone;; *) echo running;; esac")
        try:
            out = self.session.run(script, timeout=15).stdout.strip()
        except HostUnreachable:
            return None  # unknown is not an exit: the runner must not report a crash it did not see
        self._checked = time.monotonic()
        if out == "running":
            return None
        if out.isdigit():
            code = int(out)
            self.returncode = -(code - 128) if code > 128 else code
        else:  # killed together with its wrapper: by the signal we sent, or a SIGKILL from outside
            self.returncode = -(self._last_signal or signal.SIGKILL)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll_now() is None:
            if self.session.unreachable is not None or (deadline is not None and time.monotonic() > deadline):
                raise subprocess.TimeoutExpired(f"pid {self.pid} on {self.session.spec.label}", timeout)
            time.sleep(0.1)
        return self.returncode

    def signal_group(self, sig: int) -> None:
        """Signal the program's process group on its host (the wrapper shell and the program)."""
        if sig in (signal.SIGTERM, signal.SIGKILL):
            self._last_signal = sig
        try:
            self.session.run(f"kill -{int(sig)} -- -{self.pid} 2>/dev/null; true", timeout=15)
        except HostUnreachable:
            pass  # its host is out of reach: the teardown names the host; the wait that follows times out
        self._checked = 0.0


class SSHHost:
    """A remote node's host: a directory of the run there, its programs, its files (a ``procs.NodeHost``)."""

    kind = "ssh"

    def __init__(self, session: SSHSession, run_dir: str, node: str) -> None:
        self.session = session
        self.root = f"{run_dir}/{node}"
        self._launches = 0
        self._logs: dict[str, str] = {}  # local log path -> remote log path

    @property
    def label(self) -> str:
        return self.session.spec.label

    def node_dir(self, work_dir: str, node: str) -> str:
        return f"{self.root}/data"

    def make_dir(self, path: str) -> None:
        self.session.run(f"mkdir -p {shlex.quote(path)}", check=True)

    def reset_dir(self, path: str) -> None:
        q = shlex.quote(path)
        self.session.run(f"rm -rf {q} && mkdir -p {q}", check=True)

    def write_file(self, path: str, text: str) -> None:
        q = shlex.quote(path)
        self.session.run(f"mkdir -p \"$(dirname {q})\" && cat > {q}", input=text, check=True)

    def missing_programs(self, programs: Sequence[str]) -> list[str]:
        if not programs:
            return []
        checks = "; ".join(f"command -v {shlex.quote(p)} >/dev/null || echo {shlex.quote(p)}" for p in programs)
        return self.session.run(checks, check=False).stdout.split()

    def spawn(self, argv: Sequence[str], log_path: str) -> RemoteProcess:
        """Start ``argv`` detached in its own session; its output goes to a log beside the node's data."""
        self._launches += 1
        base = f"{self.root}/launch-{self._launches}"
        remote_log = f"{self.root}/{os.path.basename(log_path)}"
        self._logs[log_path] = remote_log
        b, lg = shlex.quote(base), shlex.quote(remote_log)
        wrapper = 'echo $$ > "$0.pid.tmp" && mv "$0.pid.tmp" "$0.pid"; "$@"; echo $? > "$0.rc"'
        command = " ".join(shlex.quote(a) for a in argv)
        script = (f"mkdir -p {shlex.quote(self.root)}; "
                  f"if [ ! -s {b}.pid ]; then setsid sh -c {shlex.quote(wrapper)} {b} {command} "
                  f"</dev/null >>{lg} 2>&1 & fi; "
                  f"i=0; while [ ! -s {b}.pid ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; cat {b}.pid")
        out = self.session.run(script, check=True).stdout.strip()
        if not out.isdigit():
            raise RuntimeError(f"on {self.label}: {argv[0]} did not start (see {log_path})")
        return RemoteProcess(self.session, int(out), base)

    def run(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return self.session.run(" ".join(shlex.quote(a) for a in argv), timeout=timeout)

    def collect_logs(self) -> None:
        """Bring the node's logs to the control machine (the store keeps them; the host's copy goes at teardown)."""
        for local, remote in self._logs.items():
            os.makedirs(os.path.dirname(local), exist_ok=True)
            self.session.fetch(remote, local)

    def describe(self) -> dict[str, Any]:
        return {"host": self.label, "dir": self.root, "reconnects": self.session.reconnects}
