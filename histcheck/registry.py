"""Every extension point of histcheck, listed in one place (pytest's lesson).

Six kinds of thing can be added without editing histcheck: ``dbs`` (systems ``histcheck run`` starts),
``clients`` (how a worker speaks to a system), ``workloads`` (what the workers do), ``nemeses`` (faults),
``models`` (what linearizability is checked against) and ``checkers`` (what judges a history).

The built-ins are written below as ``"module:attribute"`` strings, so that looking a name up imports only the one
module that defines it: ``histcheck analyze`` of a small file must not pay for importing the run side.  A plugin
adds entries through the Python entry-point groups ``histcheck.dbs``, ``histcheck.clients``, ... in its own
``pyproject.toml``::

    [project.entry-points."histcheck.dbs"]
    mystore = "histcheck_mystore:MyStoreDB"

and ``pip install histcheck-mystore`` is then enough for ``histcheck run --db mystore``.  A plugin may not
replace a built-in of the same name (the built-in wins, and ``histcheck list`` shows the clash).
CLI choices, help texts, ``histcheck list`` and the tables in the docs are all read from here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .errors import InputError

KINDS = ("dbs", "clients", "workloads", "nemeses", "models", "checkers")

# One line per entry, so that rooms adding entries at the same time merge cleanly.
BUILTINS: dict[str, dict[str, str]] = {
    "dbs": {
        "etcd": "histcheck.run.etcd:EtcdDB",
        "redis": "histcheck.run.redis_db:RedisSentinelDB",
        "memory": "histcheck.run.memory_db:MemoryDB",
        "postgres": "histcheck.run.postgres:PostgresDB",
    },
    "clients": {
        "etcd": "histcheck.run.clients:EtcdClient",
        "redis": "histcheck.run.redis_db:RedisClient",
        "http-json": "histcheck.run.http_client:HttpJsonClient",
        "postgres": "histcheck.run.postgres:PostgresClient",
    },
    "workloads": {
        "register": "histcheck.workloads.register:Register",
        "multi-register": "histcheck.workloads.multi_register:MultiRegister",
        "set": "histcheck.workloads.set:SetWorkload",
        "counter": "histcheck.workloads.counter:Counter",
        "bank": "histcheck.workloads.bank:Bank",
        "append": "histcheck.workloads.append:Append",
        "list-append": "histcheck.workloads.list_append:ListAppend",
        "rw-register": "histcheck.workloads.rw_register:RwRegister",
    },
    "nemeses": {
        "none": "histcheck.nemesis.base:Nemesis",
        "partition": "histcheck.nemesis.partition:Partition",
        "packet": "histcheck.nemesis.packet:Packet",
        "latency": "histcheck.nemesis.latency:Latency",
        "count-filter": "histcheck.nemesis.count_filter:CountFilter",
        "kill": "histcheck.nemesis.process:Kill",
        "stop": "histcheck.nemesis.process:Stop",
        "pause": "histcheck.nemesis.process:Pause",
        "stop-all": "histcheck.nemesis.process:StopAll",
        "membership": "histcheck.nemesis.process:Membership",
        "failpoint": "histcheck.nemesis.failpoint:Failpoint",
        "clock": "histcheck.nemesis.clock:Clock",
        "when-leader": "histcheck.nemesis.condition:WhenLeader",
    },
    "models": {
        "register": "histcheck.models.register:Register",
        "cas-register": "histcheck.models.register:CasRegister",
        "multi-register": "histcheck.models.multi_register:MultiRegister",
        "mutex": "histcheck.models.mutex:Mutex",
        "set": "histcheck.models.set:SetModel",
        "fifo-queue": "histcheck.models.queue:FifoQueue",
        "unordered-queue": "histcheck.models.queue:UnorderedQueue",
        "kv": "histcheck.models.kv:KV",
    },
    "checkers": {
        "linearizable": "histcheck.checkers.linearizable:Linearizable",
        "set": "histcheck.checkers.set:SetChecker",
        "set-full": "histcheck.checkers.set_full:SetFull",
        "counter": "histcheck.checkers.counter:Counter",
        "bank": "histcheck.checkers.bank:Bank",
        "long-fork": "histcheck.checkers.long_fork:LongFork",
        "unique-ids": "histcheck.checkers.unique_ids:UniqueIds",
        "queue": "histcheck.checkers.queue:Queue",
        "total-queue": "histcheck.checkers.queue:TotalQueue",
        "append": "histcheck.workloads.append:AppendChecker",
        "list-append": "histcheck.checkers.elle.list_append:ListAppend",
        "rw-register": "histcheck.checkers.elle.rw_register:RwRegister",
    },
}


@dataclass(frozen=True)
class Entry:
    """One registered name: where its object lives and who provides it (``histcheck`` or a distribution)."""

    kind: str
    name: str
    target: str
    origin: str = "histcheck"

    def load(self) -> Any:
        """Import the module and return the attribute; a broken plugin is a clear error naming it."""
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"{self.kind[:-1]} {self.name!r} ({self.target}, from {self.origin}) cannot be "
                             f"loaded: {exc}") from exc
        return obj


_plugins: dict[str, dict[str, Entry]] | None = None
_clashes: list[Entry] = []


def _load_plugins() -> dict[str, dict[str, Entry]]:
    """Entry points of every installed distribution, read once per process (reading them costs milliseconds)."""
    global _plugins
    if _plugins is None:
        from importlib.metadata import entry_points
        found: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            for ep in entry_points(group=f"histcheck.{kind}"):
                origin = ep.dist.name if ep.dist is not None else "unknown distribution"
                entry = Entry(kind, ep.name, ep.value, origin)
                if ep.name in BUILTINS[kind]:
                    _clashes.append(entry)
                else:
                    found[kind][ep.name] = entry
        _plugins = found
    return _plugins


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; one of {', '.join(KINDS)}")


def entries(kind: str) -> dict[str, Entry]:
    """Every entry of ``kind``, built-ins first, then plugins, each group in name order."""
    _check_kind(kind)
    out = {name: Entry(kind, name, target) for name, target in BUILTINS[kind].items()}
    out.update(sorted(_load_plugins()[kind].items()))
    return out


def names(kind: str) -> list[str]:
    """The names of ``kind`` a user may choose from (for CLI choices and help texts)."""
    return list(entries(kind))


def entry(kind: str, name: str) -> Entry:
    """The entry called ``name``; an unknown name is an input error listing the choices."""
    _check_kind(kind)
    target = BUILTINS[kind].get(name)
    if target is not None:
        return Entry(kind, name, target)
    found = _load_plugins()[kind].get(name)
    if found is None:
        singular = {"dbs": "db", "nemeses": "nemesis"}.get(kind, kind[:-1])
        raise InputError(f"unknown {singular} {name!r}", expected="one of " + ", ".join(names(kind)))
    return found


_loaded: dict[tuple[str, str], Any] = {}


def get(kind: str, name: str) -> Any:
    """The object registered as ``name`` (a class, usually), imported on first use and kept (a check of a small
    history asks for its model every time)."""
    obj = _loaded.get((kind, name))
    if obj is None:
        obj = _loaded[(kind, name)] = entry(kind, name).load()
    return obj


def clashes() -> list[Entry]:
    """Plugin entries ignored because a built-in has the same name."""
    _load_plugins()
    return list(_clashes)
