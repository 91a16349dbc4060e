"""The store: where a run leaves everything it knows, laid out as Jepsen lays it out.

``store/<test-name>/<timestamp>/`` holds ``history.edn`` (one Jepsen op map per line), ``history.jsonl`` (the same
ops as JSON lines), ``test.json`` (every option of the run), ``results.json``/``results.edn`` and ``logs/`` (one
log per node process).  ``store/latest`` (and ``store/<test-name>/latest``) point at the newest run.

The ``Journal`` appends each operation to both history files the moment it happens, with one unbuffered
``write`` per line, so a SIGKILL of the runner loses nothing already recorded and never leaves half a line; it fsyncs at most once per ``fsync_every`` seconds
(and on close), so a crash of the machine loses at most that much.
"""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any

from ..history import Op
from ..values import Keyword

from ..formats import format_op, format_op_json


def timestamp() -> str:
    """Jepsen's directory name for a run: ``20240131T120000.000Z``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def killed_note(run_dir: str) -> str | None:
    """What to say about the run in ``run_dir`` if it was killed: its ``test.json`` says ``running`` but the pid it
    recorded is gone (SIGKILL leaves no time to say so), or an earlier look already marked it ``killed``.  A
    running run found dead is marked ``killed`` in its ``test.json``, so that it says so from then on."""
    path = os.path.join(run_dir, "test.json")
    try:
        with open(path) as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("status") not in ("running", "killed"):
        return None
    if info["status"] == "running":
        if _alive(info.get("pid")):
            return None
        info.update(status="killed", killed_noticed=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        with open(path, "w") as fh:
            json.dump(info, fh, indent=2, default=str)
            fh.write("\n")
    return (f"the run in {os.path.realpath(run_dir)} was killed (its process {info.get('pid')} ended while it was "
            f"running): its history.edn holds what it recorded until then, and it was never checked")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """One run's directory in the store; ``notes`` says if the run ``latest`` pointed at before was killed."""

    def __init__(self, root: str, test_name: str, stamp: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.test_name = test_name
        self.path = os.path.join(self.root, test_name, stamp or timestamp())
        self.notes = [n for n in [killed_note(os.path.join(self.root, "latest"))] if n]
        os.makedirs(self.path, exist_ok=False)
        self.log_dir = os.path.join(self.path, "logs")
        os.makedirs(self.log_dir)
        self._link_latest()

    def _link_latest(self) -> None:
        for link, target in ((os.path.join(self.root, "latest"), os.path.relpath(self.path, self.root)),
                             (os.path.join(self.root, self.test_name, "latest"), os.path.basename(self.path))):
            tmp = f"{link}.{os.getpid()}.tmp"
            try:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(target, tmp)
                os.replace(tmp, link)
            except OSError:
                pass

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def write_json(self, name: str, data: Any) -> str:
        path = self.file(name)
        with open(path, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.write("\n")
        return path

    def write_text(self, name: str, text: str) -> str:
        path = self.file(name)
        with open(path, "w") as fh:
            fh.write(text)
            if not text.endswith("\n"):
                fh.write("\n")
        return path


class Journal:
    """The live history: numbers each op, writes it to ``history.edn`` and ``history.jsonl``, keeps it in memory."""

    def __init__(self, store: Store, *, fsync_every: float = 1.0) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self.edn = os.open(store.file("history.edn"), flags, 0o644)
        self.jsonl = os.open(store.file("history.jsonl"), flags, 0o644)
        self.ops: list[Op] = []
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.lock = threading.Lock()
        self.start_ns = time.monotonic_ns()
        self.fsync_every = fsync_every
        self._last_sync = time.monotonic()
        self.closed = False

    def now(self) -> int:
        """Nanoseconds since the test started (Jepsen's ``:time``)."""
        return time.monotonic_ns() - self.start_ns

    def record(self, type_: str, process: Any, f: str, value: Any, **extra: Any) -> Op:
        """Append one op (``extra`` keys such as ``error`` follow the core fields)."""
        extra_map = {Keyword(k): v for k, v in extra.items() if v is not None} or None
        with self.lock:
            op = Op(type_, process, Keyword(f), value, index=len(self.ops), time=self.now(), extra=extra_map)
            self.ops.append(op)
            if not self.closed:
                _write_all(self.edn, (format_op(op) + "\n").encode())
                _write_all(self.jsonl, (format_op_json(op) + "\n").encode())
                if time.monotonic() - self._last_sync >= self.fsync_every:
                    self._sync()
            if process != "nemesis" and isinstance(process, int):
                self.counts[type_] += 1
        return op

    def _sync(self) -> None:
        for fd in (self.edn, self.jsonl):
            os.fsync(fd)
        self._last_sync = time.monotonic()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for fd in (self.edn, self.jsonl):
                os.fsync(fd)
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` per op on an O_APPEND descriptor: a line is in the kernel whole, or not at all (a SIGKILL
    cannot leave half an op behind); loops only if the kernel takes less."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
