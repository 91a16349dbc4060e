"""Clock skew through libfaketime: ``--nemesis clock[:SECONDS[:TARGET]]``.

The first bump restarts the target nodes under ``LD_PRELOAD=libfaketime`` reading their offset from a file
(``FAKETIME_TIMESTAMP_FILE``, re-read every second); later bumps and the reset only rewrite that file.  Recorded as
``:bump-clock`` (value: the offset in seconds per node) and ``:reset-clock``.

libfaketime intercepts the C library's time calls, so it reaches C programs that tolerate it.  **Go programs such
as etcd ignore it**: the Go runtime reads the clock through the kernel's vDSO, never libc.  Against etcd the
nemesis still runs (the restarts are real faults) and says so at run time; the skew itself does nothing there.
Debian's ``redis-server`` is linked with jemalloc, which hangs at start under libfaketime (wolfcw/libfaketime#130):
``setup`` tries each DB program under libfaketime first and refuses to run rather than kill nodes for nothing.
Needs Debian's ``faketime`` / ``libfaketime``.
"""
from __future__ import annotations

import glob
import os
import random
import subprocess
from typing import Any

from histcheck.errors import InputError

from .base import FaultNemesis
from .process import check_target, pick

GO_NOTE = ("clock: Go programs such as etcd ignore libfaketime (Go reads the clock through the kernel's vDSO, "
           "not libc), so against etcd the skew has no effect; only the restarts under libfaketime are real faults")


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

    def __init__(self, seconds: float = 60, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds, self.target = float(seconds), check_target(target)
        self.skewed: dict[str, str] = {}

    def setup(self, db: Any) -> None:
        self.lib = libfaketime()
        if self.lib is None:
            raise InputError("the clock nemesis needs libfaketime",
                             expected="`apt-get install -y faketime` (Debian's libfaketime)")
        for binary in (getattr(db, "binary", None), getattr(db, "server", None)):
            if binary and not runs_under_faketime(self.lib, binary):
                raise InputError(f"{binary} does not run under libfaketime (it hangs at start: jemalloc and "
                                 "libfaketime clash, wolfcw/libfaketime#130), so the clock nemesis would only "
                                 "kill its nodes", expected="a DB whose programs run under libfaketime")
        super().setup(db)

    def notes(self) -> list[str]:
        return [GO_NOTE]

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
        prefix = getattr(self.db, "launch_prefix", None)
        if prefix is None:
            prefix = self.db.launch_prefix = {}
        if name in prefix:
            return False
        prefix[name] = ["env", f"LD_PRELOAD={self.lib}", f"FAKETIME_TIMESTAMP_FILE={self._file(name)}",
                        "FAKETIME_CACHE_DURATION=1"]
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
        if self.db.name == "etcd":
            done["note"] = "etcd (Go) ignores libfaketime"
        return done

    def stop(self, value: Any) -> Any:
        for n in list(getattr(self.db, "launch_prefix", {})):
            self._write(n, 0)
        reset, self.skewed = sorted(self.skewed), {}
        return {"reset": reset}

    def active(self) -> str:
        return "clock " + " ".join(f"{n}{o}" for n, o in self.skewed.items()) if self.skewed else ""


NEMESIS = Clock
