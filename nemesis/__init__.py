"""The nemesis: every fault kind histcheck injects, each one package of fault, schedule, final heal and colour.

``--nemesis SPEC`` where SPEC is one or more ``NAME[:ARG[:ARG]][@SCHEDULE]`` joined by commas, e.g.
``partition``, ``partition:leader``, ``partition:[n1] | [n2 n3]``, ``packet:30:n1>n2``, ``kill:majority``,
``failpoint:stale-read=return``, ``partition,kill@random:1-3:1-2``.  NAME is a ``nemeses`` entry of
``histcheck.registry`` (the built-ins and any plugin's); its class names its arguments in ``args``.  SCHEDULE is
``schedules.parse``'s spelling (default: a fault every 2 s of calm, held 3 s; combined nemeses each draw random
times, ``random:1-4:1-3``).  ``build`` is the one lookup: it turns a SPEC into a nemesis (``Combined`` for
several, the ``none`` nemesis for ``none``).  ``colours()`` gives the plot colour of every nemesis and of every
operation it records; ``windows()`` which operation closes the window each start operation opens.

Modules: ``base`` (the protocol), ``partition``, ``packet`` (loss), ``latency``, ``count_filter``, ``process``
(``kill``, ``stop``, ``pause``, ``stop-all``, ``membership``), ``failpoint``, ``clock``, ``condition``
(``when-leader``: a fault switched by a condition); ``links`` is the network interface they share (nftables in
namespaces, the TCP proxies or a DB's own logical links otherwise), ``targets`` the link targets, ``schedules``
the schedules, ``scenarios`` the named scenarios of ``--scenario``.
"""
from __future__ import annotations

from typing import Any

from histcheck import registry
from histcheck.errors import InputError
from histcheck.run.nemesis import NODE_EXITED, NODE_EXITED_COLOUR

from .base import Combined, Nemesis
from .schedules import parse as parse_schedule


def nemesis_class(name: str) -> type:
    """The class registered as ``name`` (an input error listing the choices when there is none)."""
    return registry.get("nemeses", name)


def _one(spec: str, options: dict) -> Any:
    spec, _, schedule = spec.partition("@")
    name, *args = spec.strip().split(":")
    cls = nemesis_class(name)
    names = tuple(getattr(cls, "args", ()))
    if len(args) > len(names):
        raise InputError(f"nemesis {name!r} takes at most {len(names)} arguments ({', '.join(names) or 'none'})")
    kwargs = dict(zip(names, args))
    kwargs.update({k: v for k, v in options.items() if k in names and k not in kwargs})
    if name == Nemesis.name:
        return Nemesis()
    text = schedule or options.get("schedule") or options.get("default_schedule")
    plan = options.get("schedule_obj") or (parse_schedule(text) if text else None)
    try:
        return cls(schedule=plan, **kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad arguments for nemesis {name!r}: {exc}", expected=", ".join(names) or "none")


def build(spec: str | None, options: dict | None = None) -> Nemesis:
    """The nemesis for ``spec`` (see the module docstring); ``none`` or nothing is the nemesis of no faults."""
    options = dict(options or {})
    parts = [p for p in (spec or "").split(",") if p.strip()]
    if not parts:
        return Nemesis()
    if len(parts) > 1:  # combined: each part strikes at its own random times (Jepsen's combined nemesis)
        options.setdefault("default_schedule", "random:1-4:1-3")
    built = [_one(p, options) for p in parts]
    if len(built) == 1:
        return built[0]
    if any(b.name == Nemesis.name for b in built):
        raise InputError("`none` cannot be combined with faults", expected="none, or faults joined by commas")
    if any(b.name == "when-leader" for b in built):
        raise InputError("when-leader watches the cluster on the nemesis thread and cannot be combined")
    return Combined(built)


def _classes() -> list[type]:
    """Every registered nemesis class that loads (a broken plugin must not take the colours of the rest)."""
    found = []
    for name in registry.names("nemeses"):
        try:
            found.append(nemesis_class(name))
        except InputError:
            continue
    return found


def colours() -> dict[str, str]:
    """Plot colour by nemesis name and by each operation name it records (``start-partition``, ``kill``...)."""
    out: dict[str, str] = {}
    for cls in _classes():
        out[cls.name] = cls.colour
        for f in (cls.start_f, cls.stop_f):
            if f:
                out.setdefault(f, cls.colour)
    out.setdefault(NODE_EXITED, NODE_EXITED_COLOUR)
    return out


def windows() -> dict[str, str]:
    """Start operation -> the stop operation that ends its window (for shading fault intervals)."""
    return {cls.start_f: cls.stop_f for cls in _classes() if cls.start_f and cls.stop_f}
