"""The nemesis: every fault kind histcheck injects, each one package of fault, schedule, final heal and colour.

``--nemesis SPEC`` where SPEC is one or more ``NAME[:ARG[:ARG]][@SCHEDULE]`` joined by commas, e.g.
``partition``, ``partition:leader``, ``partition:[n1] | [n2 n3]``, ``packet:30:n1>n2``, ``kill:majority``,
``partition,kill@random:1-3:1-2``.  NAME is one of ``NAMES``; SCHEDULE is ``nemesis.schedules.parse``'s
spelling (default: a fault every 2 s of calm, held 3 s; combined nemeses each draw random times,
``random:1-4:1-3``).  ``build`` turns a SPEC into a nemesis (``Combined`` for
several); ``histcheck.run.nemesis.get`` calls it.  ``colours()`` gives the plot colour of every nemesis and of
every operation it records; ``windows()`` which operation closes the window each start operation opens.

Modules: ``partition``, ``packet`` (loss), ``latency``, ``count_filter``, ``process`` (``kill``, ``pause``,
``stop-all``, ``membership``), ``clock``, ``condition`` (``when-leader``: a fault switched by a condition);
``links`` is the network interface they share (nftables in namespaces,
the TCP proxies otherwise), ``schedules`` the schedules, ``scenarios`` the named scenarios of ``--scenario``.
"""
from __future__ import annotations

import importlib
from typing import Any

from histcheck.errors import InputError

from .schedules import parse as parse_schedule

NAMES = {"partition": "partition.Partition", "packet": "packet.Packet", "latency": "latency.Latency",
         "count-filter": "count_filter.CountFilter", "kill": "process.Kill", "pause": "process.Pause",
         "stop-all": "process.StopAll", "membership": "process.Membership", "clock": "clock.Clock",
         "when-leader": "condition.WhenLeader"}
ARGS = {"partition": ("mode",), "packet": ("loss", "target"), "latency": ("delay_ms", "jitter_ms", "target"),
        "count-filter": ("count", "target"), "kill": ("target",), "pause": ("target",), "stop-all": (),
        "membership": ("target",), "clock": ("seconds", "target"), "when-leader": ("node", "hold")}


def nemesis_class(name: str) -> type:
    module, cls = NAMES[name].split(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def _one(spec: str, options: dict) -> Any:
    spec, _, schedule = spec.partition("@")
    name, *args = spec.strip().split(":")
    if name not in NAMES:
        raise InputError(f"unknown nemesis {name!r}", expected=f"none or {', '.join(NAMES)} (joined by commas)")
    if len(args) > len(ARGS[name]):
        raise InputError(f"nemesis {name!r} takes at most {len(ARGS[name])} arguments ({', '.join(ARGS[name])})")
    kwargs = dict(zip(ARGS[name], args))
    kwargs.update({k: v for k, v in options.items() if k in ARGS[name] and k not in kwargs})
    text = schedule or options.get("schedule") or options.get("default_schedule")
    try:
        plan = options.get("schedule_obj") or (parse_schedule(text) if text else None)
    except ValueError as exc:
        raise InputError(str(exc))
    try:
        return nemesis_class(name)(schedule=plan, **kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad arguments for nemesis {name!r}: {exc}", expected=", ".join(ARGS[name]) or "none")


def build(spec: str, options: dict | None = None) -> Any:
    """The nemesis for ``spec`` (see the module docstring), or None when ``spec`` names none of ours."""
    from .base import Combined
    options = dict(options or {})
    parts = [p for p in spec.split(",") if p.strip()]
    if not parts or parts[0].split(":")[0].split("@")[0].strip() not in NAMES:
        return None
    if len(parts) > 1:  # combined: each part strikes at its own random times (Jepsen's combined nemesis)
        options.setdefault("default_schedule", "random:1-4:1-3")
    built = [_one(p, options) for p in parts]
    if len(built) > 1 and any(b.name == "when-leader" for b in built):
        raise InputError("when-leader watches the cluster on the nemesis thread and cannot be combined")
    return built[0] if len(built) == 1 else Combined(built)


def colours() -> dict[str, str]:
    """Plot colour by nemesis name and by each operation name it records (``start-partition``, ``kill``...)."""
    out: dict[str, str] = {}
    for name in NAMES:
        cls = nemesis_class(name)
        out[name] = cls.colour
        out.setdefault(cls.start_f, cls.colour)
        out.setdefault(cls.stop_f, cls.colour)
    return out


def windows() -> dict[str, str]:
    """Start operation -> the stop operation that ends its window (for shading fault intervals)."""
    return {nemesis_class(n).start_f: nemesis_class(n).stop_f for n in NAMES}
