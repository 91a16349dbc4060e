"""``histcheck run``: drive a real cluster with workload clients, record every operation, check the history.

Modules: ``procs`` (child processes and cleanup), ``net`` (per-node namespaces or proxies, partition/heal hooks),
``proxy`` (the unprivileged TCP proxy), ``db`` (the DB protocol), ``etcd`` and ``redis_db`` (the databases),
``clients`` (the key-value client interface and etcd's JSON-gateway client), ``generator``, ``nemesis`` (the
plumbing fault injectors plug into), ``store`` (the Jepsen-style store and live journal), ``runner`` and
``command`` (the click command).
"""
from __future__ import annotations

__all__ = ["RunOptions", "Runner"]


def __getattr__(name: str):
    if name in __all__:
        from . import runner
        return getattr(runner, name)
    raise AttributeError(name)
