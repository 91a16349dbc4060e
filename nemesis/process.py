"""Process faults: kill -9 and restart, SIGSTOP/SIGCONT, a full-cluster stop and restart, membership changes.

* ``kill[:TARGET]``: SIGKILL the target's processes, restart them when the fault stops (``:kill`` / ``:restart``).
  After killing the leader the completion says who leads next and how soon; after a restart it says how long the
  node took to catch up with the others' revision (etcd).
* ``pause[:TARGET]``: SIGSTOP, then SIGCONT (``:pause`` / ``:resume``).
* ``stop-all``: SIGTERM every node, then start them all again on the same data (``:stop-all`` / ``:recover``): the
  persistence test.
* ``membership``: remove a member (etcd ``member remove``, its process stopped and its data wiped), then add it back
  as a brand-new member that must catch up from the others (``:leave`` / ``:join``).  etcd only.

TARGET is ``one`` (a random node), ``leader``, ``minority``, ``majority``, ``all``, or node names joined by ``+``.
"""
from __future__ import annotations

import random
import re
import time
from typing import Any

from histcheck.errors import InputError
from histcheck.run import procs

from .base import FaultNemesis


TARGETS = ("one", "leader", "minority", "majority", "all")


def check_target(target: str) -> str:
    """Refuse a bad TARGET when the nemesis is built (not at the first fault)."""
    if target not in TARGETS and not re.fullmatch(r"n\d+(\+n\d+)*", target):
        raise InputError(f"unknown process target {target!r}",
                         expected="one, leader, minority, majority, all, or names like n1+n2")
    return target


def pick(db: Any, target: str, rng: random.Random) -> list[str]:
    """The nodes a process fault hits (the leader is looked up when the fault starts)."""
    nodes = list(db.node_names)
    n = len(nodes)
    if target == "leader":
        return [db.leader() or rng.choice(nodes)]
    sizes = {"one": 1, "minority": (n - 1) // 2, "majority": n // 2 + 1, "all": n}
    if target in sizes:
        return sorted(rng.sample(nodes, max(1, sizes[target])))
    names = [t for t in target.split("+") if t]
    if not names or not set(names) <= set(nodes):
        raise InputError(f"unknown process target {target!r}",
                         expected="one, leader, minority, majority, all, or names like n1+n2")
    return names


def revision(db: Any, name: str) -> int | None:
    """A running etcd member's revision (its local view), or None."""
    status = getattr(db, "status", None)
    if status is None or not db.nodes[name].running() or db.nodes[name].paused:
        return None
    found = status(name)
    return int(found.get("header", {}).get("revision", 0)) if found else None


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
    await_new_leader = True  # after killing the leader, record who leads next and how soon

    def __init__(self, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = check_target(target)
        self.down: list[str] = []

    def choose(self, rng: random.Random) -> Any:
        return {"target": self.target, "seed": rng.randrange(1 << 30)}

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        old = self.db.leader()
        nodes = pick(self.db, value["target"], random.Random(value["seed"]))
        for n in nodes:
            self.hit(n)
            self.down.append(n)
        done: dict = {"nodes": nodes, "leader_before": old}
        quorum = len(self.db.node_names) - len(nodes) > len(self.db.node_names) // 2
        if old in nodes and quorum and self.await_new_leader:
            done.update(await_leader(self.db, old))
        return done

    def hit(self, name: str) -> None:
        self.db.kill(name)

    def stop(self, value: Any) -> Any:
        nodes = [n for n in self.db.node_names if n in self.down or not self.db.nodes[n].running()]
        for n in nodes:
            self.db.nodes[n].paused = False
            if not self.db.nodes[n].running():
                self.db.start(n)
        self.down = []
        done: dict = {"nodes": nodes}
        if nodes and hasattr(self.db, "status"):
            done.update(catch_up(self.db, nodes))
        return done

    def active(self) -> str:
        return f"{self.name} {' '.join(self.down)}" if self.down else ""


class Pause(Kill):
    name = "pause"
    colour = "#6fa8dc"
    start_f = "pause"
    stop_f = "resume"
    heal_rank = 1  # resumed before killed nodes restart (a restart may need the paused one)
    await_new_leader = False

    def hit(self, name: str) -> None:
        self.db.pause(name)

    def stop(self, value: Any) -> Any:
        nodes = [n for n in self.db.node_names if self.db.nodes[n].paused or n in self.down]
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

    def __init__(self, target: str = "all", **kwargs: Any) -> None:
        super().__init__(target="all", **kwargs)

    def hit(self, name: str) -> None:
        self.db.stop(name)

    def stop(self, value: Any) -> Any:
        done = super().stop(value)
        if done["nodes"] and hasattr(self.db, "await_ready"):
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

    def __init__(self, target: str = "one", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = check_target(target)
        self.removed: list[str] = []

    def setup(self, db: Any) -> None:
        if not hasattr(db, "member_ids"):
            raise InputError(f"the membership nemesis needs etcd, not {getattr(db, 'name', db)}")
        super().setup(db)

    def choose(self, rng: random.Random) -> Any:
        return {"target": self.target, "seed": rng.randrange(1 << 30)}

    def _call(self, path: str, body: dict, avoid: str | None = None) -> dict:
        last: Exception | None = None
        for name in [self.db.leader()] + list(self.db.node_names):
            if name and name != avoid and name not in self.removed and self.db.nodes[name].running():
                client = self.db.client(name, timeout=5.0)
                try:
                    return client.post(path, body)
                except Exception as exc:  # try the next member
                    last = exc
                finally:
                    client.close()
        raise RuntimeError(f"no member answered {path} ({last})")

    def start(self, value: Any) -> Any:
        value = value or self.choose(random.Random(0))
        rng = random.Random(value["seed"])
        leader = self.db.leader()
        candidates = [n for n in self.db.node_names if n != leader] or list(self.db.node_names)
        name = rng.choice(candidates) if value["target"] == "one" else pick(self.db, value["target"], rng)[0]
        members = self._call("/v3/cluster/member/list", {}).get("members", [])
        member = next(m for m in members if m.get("name") == name)
        self._remove(member["ID"], avoid=name)
        self.removed.append(name)
        procs.wait_until(lambda: not self.db.nodes[name].running(), 3)
        self.db.kill(name)
        self.db.wipe(name)
        return {"removed": name, "member_id": format(int(member["ID"]), "x"), "data": "wiped"}

    def _remove(self, member_id: str, avoid: str, timeout: float = 8) -> None:
        """etcd refuses to remove a member until its peers have been connected for 5 s ("unhealthy cluster")."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("/v3/cluster/member/remove", {"ID": member_id}, avoid=avoid)
                return
            except RuntimeError as exc:
                if "unhealthy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self, value: Any) -> Any:
        joined = []
        for name in list(self.removed):
            url = self.db.nodes[name].net.ports["peer"].url
            added = self._call("/v3/cluster/member/add", {"peerURLs": [url]}, avoid=name)
            self.db.cluster_state = "existing"
            self.db.start(name)
            self.removed.remove(name)
            procs.wait_until(lambda: revision(self.db, name) is not None, 15, interval=0.2)
            if hasattr(self.db.network, "register_peer_ids"):
                self.db.network.register_peer_ids(self.db.member_ids())
            info = {"added": name, "member_id": format(int(added.get("member", {}).get("ID", 0)), "x")}
            info.update(catch_up(self.db, [name]))
            joined.append(info)
        return joined or "nothing to add back"

    def active(self) -> str:
        return f"removed {' '.join(self.removed)}" if self.removed else ""
