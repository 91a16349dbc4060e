"""The client a system file names: a registry ``clients`` entry, or any Python class as ``module:Class``.

A client class is built as ``Class(**options, timeout=seconds)`` for one worker talking to one node; its options
come from the system file's ``[client.options]``, rendered with that node's address and ports.  It implements the
key-value interface of ``histcheck.run.clients.KV`` (``read``, ``write``, ``cas`` at least; ``close``) and says what
its failures mean by raising ``Definite`` (the call certainly did nothing: ``:fail``) or ``Indeterminate`` (it may
have happened: ``:info`` for a write).  ``Guarded`` wraps it so that the errors of the socket layer a class lets
through are classified the same way for every client:

* ``ConnectionRefusedError`` (nothing listened: the request never reached a server): ``Definite``;
* ``TimeoutError``, a reset or any other ``OSError`` (the request may have been sent): ``Indeterminate``.

Anything else a client raises is a bug in the client and stops the run with its message.  A ``module`` is
imported from the system file's own directory first, so a client class can live beside its file.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, Callable

from ..errors import InputError
from .clients import ClientError, Definite, Indeterminate

KV_METHODS = ("read", "write", "cas")


def load_client_class(kind: str, directory: str | None = None) -> type:
    """The class called ``kind``: ``module:Class`` (imported from ``directory`` first), or a registry name."""
    if ":" not in kind:
        from .. import registry
        return registry.get("clients", kind)
    module_name, _, attr = kind.partition(":")
    if directory and directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise InputError(f"client {kind!r} cannot be imported: {exc}",
                         expected="module:Class of an importable module (or one beside the system file)")
    except AttributeError as exc:
        raise InputError(f"client {kind!r}: {exc}", expected="module:Class naming a class of that module")
    missing = [m for m in KV_METHODS if not callable(getattr(obj, m, None))]
    if missing:
        raise InputError(f"client {kind!r} has no {', '.join(missing)}",
                         expected="a class with read(key), write(key, value) and cas(key, old, new)")
    return obj


def open_client(kind: str, options: dict[str, Any], timeout: float, directory: str | None = None) -> "Guarded":
    """A client for one worker.  The options are checked against the constructor now; the object is built on
    the first call, so that a node that is down fails that call (``Definite`` when refused), not the worker."""
    cls = load_client_class(kind, directory)
    try:
        inspect.signature(cls).bind(**options, timeout=timeout)
    except TypeError as exc:
        raise InputError(f"client {kind!r} does not take these options: {exc}",
                         expected="the keyword options its constructor accepts (and timeout)")
    except ValueError:  # a constructor without a signature (a builtin): let the first call tell
        pass
    return Guarded(lambda: cls(**options, timeout=timeout), cls)


def classify(exc: OSError) -> ClientError:
    """A socket error as Definite (refused: nothing was sent) or Indeterminate (anything after sending)."""
    if isinstance(exc, ConnectionRefusedError):
        return Definite(f"connection refused: {exc}")
    return Indeterminate(f"{type(exc).__name__}: {exc}")


class Guarded:
    """A client built on its first call, whose socket errors are classified (see the module docstring)."""

    def __init__(self, build: Callable[[], Any], cls: type) -> None:
        self._build = build
        self._cls = cls
        self._inner: Any = None

    def inner(self) -> Any:
        if self._inner is None:
            try:
                self._inner = self._build()
            except ClientError:
                raise
            except OSError as exc:
                raise classify(exc) from exc
        return self._inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not callable(getattr(self._cls, name, None)):
            raise AttributeError(f"{self._cls.__name__} has no method {name}")

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return getattr(self.inner(), name)(*args, **kwargs)
            except ClientError:
                raise
            except OSError as exc:
                raise classify(exc) from exc
        call.__name__ = name
        return call

    def close(self) -> None:
        if self._inner is not None and callable(getattr(self._inner, "close", None)):
            try:
                self._inner.close()
            except OSError:
                pass
        self._inner = None
