"""Clock skew through libfaketime: ``--nemesis clock[:SECONDS[:TARGET]]``.

The first bump restarts the target nodes under ``LD_PRELOAD=libfaketime`` reading their offset from a file
(``FAKETIME_TIMESTAMP_FILE``, re-read every second); later bumps and the reset only rewrite that file.  Recorded as
``:bump-clock`` (value: the offset in seconds per node) and ``:reset-clock``.

libfaketime intercepts the C library's time calls, so it reaches C programs that tolerate it.  **Go programs such
as etcd ignore it**: the Go runtime reads the clock through the kernel's vDSO, never libc.  The nemesis looks at
each program the DB runs (``DB.programs()``): against a Go program it still runs (the restarts are real faults)
and says so in every ``:bump-clock``; the skew itself does nothing there.  Debian's ``redis-server`` is linked
with jemalloc, which hangs at start under libfaketime (wolfcw/libfaketime#130): ``setup`` tries each program
under libfaketime first and refuses to run rather than kill nodes for nothing.  Nodes are restarted under
libfaketime through the DB's launch wrappers (``DB.add_launch_wrapper``).  Needs Debian's ``faketime`` /
``libfaketime``.
"""
from __future__ import annotations

import glob
import os
import random
import subprocess
from typing import Any, Sequence

from histcheck.errors import InputError

from .base import FaultNemesis
from .process import check_target, check_target_in, pick, target_requires

GO_NOTE = ("clock: Go programs such as etcd ignore libfaketime (Go reads the clock through the kernel's vDSO, "
           "not libc), so against them the skew has no effect; only the restarts under libfaketime are real faults")
GO_BUILDINFO = b"\xff Go buildinf:"  # the magic of a Go binary's .go.buildinfo section


def is_go_program(path: str) -> bool:
    """Whether ``path`` is a Go binary (it carries Go's build-info section, which libc-based time faults miss)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    return GO_BUILDINFO in data


def libfaketime() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def runs_under_faketime(lib: str, binary: str) -> bool:
    """Whether ``binary --version`` completes under libfaketime (Debian's redis-server, linked with jemalloc,
    hangs in a clock_gettime recursion before main)."""
    env = {**os.environ, "LD_PRELOAD": lib, "FAKETIME": "+0"}
    try:
        done = subprocess.run([binary, "--version"], env=env, capture_output=True, timeout=3)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and b"Cannot recover" not in done.stderr


class Clock(FaultNemesis):
    name = "clock"
    colour = "#76a5af"
    start_f = "bump-clock"
    stop_f = "reset-clock"
    heal_rank = 1
    requires = frozenset({"processes"})
    args = ("seconds", "target")

    def __init__(self, seconds: float = 60, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds, self.target = float(seconds), check_target(target)
        self.requires = type(self).requires | target_requires(self.target)
        self.skewed: dict[str, str] = {}
        self.wrapped: set[str] = set()
        self.go_programs: list[str] = []
        self.lib = libfaketime()

    def check_cluster(self, nodes: Sequence[str]) -> None:
        check_target_in(self.target, nodes, self.name)

    def check(self, db: Any) -> None:
        super().check(db)
        if not getattr(db.network, "programs_here", True):
            raise InputError("the clock nemesis tries libfaketime and the programs on this machine, and its nodes "
                             "run on remote hosts", expected="a run on this machine (no --ssh / --nodes-file)")
        if not db.programs():
            raise InputError(f"the {db.name} DB names no program it runs (DB.programs()), so there is nothing to "
                             "start under libfaketime", expected="a DB whose nodes are programs")
        if self.lib is None:
            raise InputError("the clock nemesis needs libfaketime",
                             expected="`apt-get install -y faketime` (Debian's libfaketime)")
        for binary in db.programs():
            if is_go_program(binary):
                self.go_programs.append(os.path.basename(binary))
            elif not runs_under_faketime(self.lib, binary):
                raise InputError(f"{binary} does not run under libfaketime (it hangs at start: jemalloc and "
                                 "libfaketime clash, wolfcw/libfaketime#130), so the clock nemesis would only "
                                 "kill its nodes", expected="a DB whose programs run under libfaketime")

    def notes(self) -> list[str]:
        return [GO_NOTE] if self.go_programs else []

    def choose(self, rng: random.Random) -> Any:
        return {"target": self.target, "seconds": round(rng.uniform(-self.seconds, self.seconds), 1),
                "seed": rng.randrange(1 << 30)}

    def _file(self, name: str) -> str:
        return os.path.join(self.db.work_dir, f"faketime-{name}")

    def _write(self, name: str, seconds: float) -> None:
        with open(self._file(name), "w") as fh:
            fh.write(f"{seconds:+.0f}\n")

    def _preload(self, name: str) -> bool:
        """Restart ``name`` under libfaketime unless it already runs under it; True when it was restarted."""
        if name in self.wrapped:
            return False
        self.db.add_launch_wrapper(name, ["env", f"LD_PRELOAD={self.lib}",
                                          f"FAKETIME_TIMESTAMP_FILE={self._file(name)}", "FAKETIME_CACHE_DURATION=1"])
        self.wrapped.add(name)
        self.db.kill(name)
        self.db.start(name)
        return True

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        nodes = pick(self.db, value["target"], random.Random(value["seed"]))
        restarted = []
        for n in nodes:
            self._write(n, value["seconds"])
            if self._preload(n):
                restarted.append(n)
            self.skewed[n] = f"{value['seconds']:+.0f}s"
        done: dict = {"offsets": dict(self.skewed), "restarted_under_libfaketime": restarted}
        if self.go_programs:
            done["note"] = f"{', '.join(self.go_programs)} (Go) ignores libfaketime"
        return done

    def stop(self, value: Any) -> Any:
        for n in sorted(self.wrapped):
            self._write(n, 0)
        reset, self.skewed = sorted(self.skewed), {}
        return {"reset": reset}

    def active(self) -> str:
        return "clock " + " ".join(f"{n}{o}" for n, o in self.skewed.items()) if self.skewed else ""
