"""Process faults: kill -9 and restart, SIGSTOP/SIGCONT, a full-cluster stop and restart, membership changes.

* ``kill[:TARGET]``: SIGKILL the target's processes, restart them when the fault stops (``:kill`` / ``:restart``).
  After killing the leader the completion says who leads next and how soon (a DB with ``leader``); after a restart
  it says how long the node took to catch up with the others (a DB with ``catch-up``).
* ``stop[:TARGET]``: the graceful stop, SIGTERM, then start again (``:stop-node`` / ``:start-node``); distinct from
  the kill, since a program may flush or hand over leadership on SIGTERM.
* ``pause[:TARGET]``: SIGSTOP, then SIGCONT (``:pause`` / ``:resume``).
* ``stop-all``: SIGTERM every node, then start them all again on the same data (``:stop-all`` / ``:recover``): the
  persistence test.
* ``membership``: remove a member (its process stops and its data is wiped), then add it back as a brand-new
  member that must catch up from the others (``:leave`` / ``:join``); a DB with ``membership`` and ``wipe``.

TARGET is ``one`` (a random node), ``leader``, ``minority``, ``majority``, ``all``, or node names joined by ``+``;
it is checked against the cluster before any node starts (``kill:n9`` on three nodes is refused).
"""
from __future__ import annotations

import random
import re
import time
from typing import Any, Sequence

from histcheck.errors import InputError
from histcheck.run import procs

from .base import FaultNemesis


TARGETS = ("one", "leader", "minority", "majority", "all")
TARGET_SPELLING = "one, leader, minority, majority, all, or names like n1+n2"


def check_target(target: str) -> str:
    """Refuse a TARGET that is no target's spelling when the nemesis is built."""
    if target not in TARGETS and not re.fullmatch(r"[\w-]+(\+[\w-]+)*", target):
        raise InputError(f"unknown process target {target!r}", expected=TARGET_SPELLING)
    return target


def check_target_in(target: str, nodes: Sequence[str], nemesis: str) -> None:
    """Refuse, before the cluster starts, a TARGET the cluster cannot give (``n9`` of three nodes)."""
    if target == "minority" and (len(nodes) - 1) // 2 == 0:
        raise InputError(f"nemesis {nemesis!r}: a minority of {len(nodes)} nodes is no node",
                         expected="3 or more nodes, or another target")
    if target in TARGETS:
        return
    unknown = [t for t in target.split("+") if t not in nodes]
    if unknown:
        raise InputError(f"nemesis {nemesis!r}: target {unknown[0]!r} is not a node of this cluster",
                         expected=f"{TARGET_SPELLING}, among {' '.join(nodes)}")


def target_requires(target: str) -> frozenset[str]:
    return frozenset({"leader"}) if target == "leader" else frozenset()


def pick(db: Any, target: str, rng: random.Random) -> list[str]:
    """The nodes a process fault hits (the leader is looked up when the fault starts)."""
    nodes = list(db.node_names)
    n = len(nodes)
    if target == "leader":
        return [db.leader() or rng.choice(nodes)]
    sizes = {"one": 1, "minority": (n - 1) // 2, "majority": n // 2 + 1, "all": n}
    if target in sizes:
        return sorted(rng.sample(nodes, max(1, sizes[target])))
    return [t for t in target.split("+") if t]


def revision(db: Any, name: str) -> int | None:
    """A node's revision (its local view), or None when it cannot say now."""
    found = db.progress(name)
    return int(found.get("revision", 0)) if found else None


def catch_up(db: Any, names: list[str], timeout: float = 8) -> dict:
    """Wait until each of ``names`` has reached the highest revision the others had when it came back."""
    others = [n for n in db.node_names if n not in names]
    goal = max((r for r in (revision(db, n) for n in others) if r is not None), default=0)
    start = time.monotonic()
    done = procs.wait_until(lambda: all((revision(db, n) or -1) >= goal for n in names), timeout, interval=0.2)
    return {"caught_up": done, "revision_goal": goal, "seconds": round(time.monotonic() - start, 2),
            "revisions": {n: revision(db, n) for n in names}}


def await_leader(db: Any, old: str | None, timeout: float = 6) -> dict:
    start = time.monotonic()
    found: list[str | None] = [None]

    def elected() -> bool:
        found[0] = db.leader()
        return found[0] is not None and found[0] != old
    ok = procs.wait_until(elected, timeout, interval=0.1)
    return {"new_leader": found[0] if ok else None, "elected_after_s": round(time.monotonic() - start, 2)}


class Kill(FaultNemesis):
    name = "kill"
    colour = "#cc0000"
    start_f = "kill"
    stop_f = "restart"
    heal_rank = 2
    requires = frozenset({"processes"})
    args = ("target",)
    await_new_leader = True  # after killing the leader, record who leads next and how soon

    def __init__(self, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = check_target(target)
        self.requires = type(self).requires | target_requires(self.target)
        self.down: list[str] = []

    def check_cluster(self, nodes: Sequence[str]) -> None:
        check_target_in(self.target, nodes, self.name)

    def setup(self, db: Any) -> None:
        super().setup(db)
        self.caps = db.capabilities()

    def leader(self) -> str | None:
        return self.db.leader() if "leader" in self.caps else None

    def choose(self, rng: random.Random) -> Any:
        return {"target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        old = self.leader()
        nodes = pick(self.db, value["target"], random.Random(value["seed"]))
        for n in nodes:
            self.hit(n)
            self.down.append(n)
        done: dict = {"nodes": nodes, "leader_before": old}
        quorum = len(self.db.node_names) - len(nodes) > len(self.db.node_names) // 2
        if old is not None and old in nodes and quorum and self.await_new_leader:
            done.update(await_leader(self.db, old))
        return done

    def hit(self, name: str) -> None:
        self.db.kill(name)

    def stop(self, value: Any) -> Any:
        nodes = [n for n in self.db.node_names if n in self.down or not self.db.is_running(n)]
        for n in nodes:
            if not self.db.is_running(n):
                self.db.start(n)
        self.down = []
        done: dict = {"nodes": nodes}
        if nodes and "catch-up" in self.caps:
            done.update(catch_up(self.db, nodes))
        return done

    def active(self) -> str:
        return f"{self.name} {' '.join(self.down)}" if self.down else ""


class Stop(Kill):
    """The graceful stop: SIGTERM (the program may shut down cleanly), started again when the fault stops."""

    name = "stop"
    colour = "#e69138"
    start_f = "stop-node"  # not Jepsen's generic :start/:stop, which histories of any nemesis use
    stop_f = "start-node"

    def hit(self, name: str) -> None:
        self.db.stop(name)


class Pause(Kill):
    name = "pause"
    colour = "#6fa8dc"
    start_f = "pause"
    stop_f = "resume"
    heal_rank = 1  # resumed before killed nodes restart (a restart may need the paused one)
    requires = frozenset({"pause"})
    await_new_leader = False

    def hit(self, name: str) -> None:
        self.db.pause(name)

    def stop(self, value: Any) -> Any:
        nodes = [n for n in self.db.node_names if self.db.is_paused(n) or n in self.down]
        for n in nodes:
            self.db.resume(n)
        self.down = []
        return {"nodes": nodes}


class StopAll(Kill):
    """Every node stopped (SIGTERM), then all started again on their data: nothing acknowledged may be lost."""

    name = "stop-all"
    colour = "#999999"
    start_f = "stop-all"
    stop_f = "recover"
    args = ()

    def __init__(self, target: str = "all", **kwargs: Any) -> None:
        super().__init__(target="all", **kwargs)

    def hit(self, name: str) -> None:
        self.db.stop(name)

    def stop(self, value: Any) -> Any:
        done = super().stop(value)
        if done["nodes"] and "leader" in self.caps:
            ok = procs.wait_until(lambda: self.db.leader() is not None, 15, interval=0.2)
            done["leader"] = self.db.leader() if ok else None
        return done


class Membership(FaultNemesis):
    """Remove a member (stop it, wipe its data), then add it back as a new member that must catch up."""

    name = "membership"
    colour = "#93c47d"
    start_f = "leave"
    stop_f = "join"
    heal_rank = 2
    requires = frozenset({"membership", "processes", "wipe"})
    args = ("target",)

    def __init__(self, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = check_target(target)
        self.requires = type(self).requires | target_requires(self.target)
        self.removed: list[str] = []

    def check_cluster(self, nodes: Sequence[str]) -> None:
        check_target_in(self.target, nodes, self.name)

    def setup(self, db: Any) -> None:
        super().setup(db)
        self.caps = db.capabilities()

    def choose(self, rng: random.Random) -> Any:
        return {"target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        rng = random.Random(value["seed"])
        leader = self.db.leader() if "leader" in self.caps else None
        candidates = [n for n in self.db.node_names if n != leader] or list(self.db.node_names)
        name = rng.choice(candidates) if value["target"] == "one" else pick(self.db, value["target"], rng)[0]
        removed = self.db.remove_member(name)
        self.removed.append(name)
        self.db.kill(name)
        self.db.wipe(name)
        return {"removed": name, **removed, "data": "wiped"}

    def stop(self, value: Any) -> Any:
        joined = []
        for name in list(self.removed):
            info = {"added": name, **self.db.add_member(name)}
            self.removed.remove(name)
            if "catch-up" in self.caps:
                info.update(catch_up(self.db, [name]))
            joined.append(info)
        return joined or "nothing to add back"

    def active(self) -> str:
        return f"removed {' '.join(self.removed)}" if self.removed else ""
