"""``histcheck run``: drive a real cluster with workload clients, record every operation, check the history.

Modules: ``procs`` (child processes and cleanup), ``net`` (per-node namespaces or proxies, partition/heal hooks),
``proxy`` (the unprivileged TCP proxy), ``db`` (the DB protocol: capabilities, launch wrappers, node exits),
``etcd``, ``redis_db`` and ``memory_db`` (the databases; the last a linearizable in-process store with switchable
bugs), ``clients`` (the key-value client interface, the client-error rule and etcd's JSON-gateway client),
``generator``, ``nemesis`` (the thread that plays a nemesis; the faults are ``histcheck.nemesis``), ``store`` (the
Jepsen-style store and live journal), ``runner`` and ``command`` (the click command).
"""
from __future__ import annotations

__all__ = ["RunOptions", "Runner"]


def __getattr__(name: str):
    if name in __all__:
        from . import runner
        return getattr(runner, name)
    raise AttributeError(name)
