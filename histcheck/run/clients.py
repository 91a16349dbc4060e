"""Clients: the small key-value interface every workload is written against, and etcd's implementation.

A workload calls ``read``, ``write``, ``cas``, ``read_prefix``, ``read_many`` and ``multi_cas`` with string keys and
string values; a DB supplies a client that does them.  The error rule (docs/semantics.md) is one function,
``completion_type``: a call that certainly did nothing raises ``Definite`` and completes ``:fail`` (a refused
connection, ``ConnectionRefusedError``, is one: the request never reached a server; so are "not leader" and a
failed precondition); a call that cannot say what happened (a timeout or a reset after the request was sent, a
server error that may come after the write was applied) raises ``Indeterminate`` and completes ``:info``, except
for reads, which change nothing and so complete ``:fail``.  Plain ``OSError``s from a client that does not
classify its errors are read the same way: refused is definite, anything else indeterminate.

``EtcdClient`` speaks etcd's v3 JSON gateway (``/v3/kv/range``, ``/v3/kv/put``, ``/v3/kv/txn``, base64 keys and
values) with ``http.client`` over one keep-alive connection: no grpc, nothing beyond the standard library.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
from typing import Any, Protocol


class ClientError(Exception):
    """A client call that did not return normally."""

    definite = False


class Indeterminate(ClientError):
    """The call may or may not have taken effect (timeout, connection loss, ambiguous server error)."""


class Definite(ClientError):
    """The call certainly did not take effect."""

    definite = True


def completion_type(exc: BaseException, is_read: bool) -> str | None:
    """``fail`` or ``info`` for an operation whose client call raised ``exc``; None when ``exc`` is no client
    error at all (a bug in a workload or client, which the runner reports instead of recording)."""
    if isinstance(exc, (Definite, ConnectionRefusedError)):
        return "fail"
    if isinstance(exc, (ClientError, OSError)):
        return "fail" if is_read else "info"
    return None


class KV(Protocol):
    def read(self, key: str) -> str | None: ...
    def write(self, key: str, value: str) -> None: ...
    def cas(self, key: str, old: str | None, new: str) -> bool: ...
    def read_prefix(self, prefix: str) -> dict[str, str]: ...
    def read_many(self, keys: list[str]) -> dict[str, str | None]: ...
    def multi_cas(self, expect: dict[str, str | None], puts: dict[str, str]) -> bool: ...
    def close(self) -> None: ...


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The key just past every key that starts with ``prefix`` (etcd's range_end for a prefix)."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return bytes(raw).decode()


# Errors etcd returns when it certainly did not apply the request ("not leader": refused before any proposal).
_DEFINITE = ("not leader", "too many requests", "requested lease not found", "permission denied", "key not found",
             "too many operations in txn", "duplicate key", "request is too large")


class EtcdClient:
    """One worker's connection to one etcd node through the v3 JSON gateway.

    Its errors: no connection (refused, or the connection attempt timed out: nothing was sent), an error etcd
    names as not applied (``_DEFINITE``) or any 4xx answer (a bad request, a failed precondition) are
    ``Definite``; a timeout or a reset once the request was sent, and 5xx answers, are ``Indeterminate``."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0, serializable: bool = False) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.serializable = serializable
        self.conn: http.client.HTTPConnection | None = None

    # -- transport ---------------------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def post(self, path: str, body: dict) -> dict:
        payload = json.dumps(body)
        conn = self._connection()
        if conn.sock is None:
            try:
                conn.connect()
            except OSError as exc:  # refused, unreachable, or no answer to the SYN: the request was never sent
                self.close()
                raise Definite(f"not connected: {type(exc).__name__}: {exc}") from exc
        try:
            conn.request("POST", path, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            self.close()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from exc
        return _decode(response.status, data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- the KV interface --------------------------------------------------------------------------------------
    def _range(self, key: str, *, end: str | None = None) -> dict:
        body: dict[str, Any] = {"key": b64(key)}
        if end is not None:
            body["range_end"] = b64(end)
        if self.serializable:
            body["serializable"] = True
        return body

    def read(self, key: str) -> str | None:
        kvs = self.post("/v3/kv/range", self._range(key)).get("kvs") or []
        return unb64(kvs[0].get("value", "")) if kvs else None

    def write(self, key: str, value: str) -> None:
        self.post("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def cas(self, key: str, old: str | None, new: str) -> bool:
        return self.multi_cas({key: old}, {key: new})

    def read_prefix(self, prefix: str) -> dict[str, str]:
        kvs = self.post("/v3/kv/range", self._range(prefix, end=prefix_end(prefix))).get("kvs") or []
        return {unb64(kv["key"]): unb64(kv.get("value", "")) for kv in kvs}

    def read_many(self, keys: list[str]) -> dict[str, str | None]:
        """Several keys in one snapshot (a read-only txn)."""
        ops = [{"request_range": self._range(k)} for k in keys]
        reply = self.post("/v3/kv/txn", {"success": ops})
        out: dict[str, str | None] = {k: None for k in keys}
        for response in reply.get("responses") or []:
            for kv in (response.get("response_range") or {}).get("kvs") or []:
                out[unb64(kv["key"])] = unb64(kv.get("value", ""))
        return out

    def multi_cas(self, expect: dict[str, str | None], puts: dict[str, str]) -> bool:
        """Put ``puts`` atomically iff every key in ``expect`` holds its value (None: the key is absent)."""
        compare = [_compare(k, v) for k, v in expect.items()]
        success = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in puts.items()]
        reply = self.post("/v3/kv/txn", {"compare": compare, "success": success})
        return bool(reply.get("succeeded", False))


def _compare(key: str, value: str | None) -> dict:
    if value is None:
        return {"key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}
    return {"key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(value)}


def _decode(status: int, data: bytes) -> dict:
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {"error": data[:200].decode(errors="replace")}
    if status == 200 and "error" not in body:
        return body
    message = str(body.get("error") or body.get("message") or f"HTTP {status}")
    if any(text in message for text in _DEFINITE) or 400 <= status < 500:
        raise Definite(message)
    raise Indeterminate(message)
