"""``http-json``: a key-value client for any system with an HTTP API, written in the system file, not in Python.

Each operation is a request template under ``[client.options]``::

    base = "http://{address}:{port[client]}"
    read  = { method = "GET",  path = "/kv/{key}", value = "node.value", absent = [404] }
    write = { method = "PUT",  path = "/kv/{key}", body = { value = "{value}" } }
    cas   = { method = "POST", path = "/cas/{key}", body = { from = "{old}", to = "{new}" }, failed = [409, 412] }
    definite = [400, 404, 409, 412, 421, 429, 503]
    not_leader = ["not leader", "not the leader"]

``path`` and every string of ``body`` (a TOML table sent as JSON) are templates with ``{key}``, ``{value}``,
``{old}`` and ``{new}`` (keys are URL-quoted in paths); ``value`` is the JSON path of the value in a read's
answer (absent: the whole body as text); ``absent`` lists the statuses that mean "no such key" (a read of nil);
``failed`` lists the statuses that mean a cas found another value (the cas did nothing, returns False).

What a failure means (Maelstrom's error registry, in HTTP terms):

* ``Definite`` (certainly not applied, ``:fail``): a refused connection; a status listed in ``definite`` (default
  400, 401, 403, 404, 405, 409, 412, 421, 429 and 503: the server refused the request before acting on it); an
  answer whose body contains one of the ``not_leader`` texts (a follower that does not forward).
* ``Indeterminate`` (may have been applied, ``:info`` for writes): a timeout, a connection reset or closed after
  the request was sent, any other status (500, 502, 504, ...): the server may have acted before failing.
"""
from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

from ..errors import InputError
from .clients import Definite, Indeterminate
from .templates import Schema, TemplateError, check_tree, render_text

DEFAULT_DEFINITE = (400, 401, 403, 404, 405, 409, 412, 421, 429, 503)
OP_FIELDS = {"read": ("key",), "write": ("key", "value"), "cas": ("key", "old", "new")}
OP_KEYS = ("method", "path", "body", "value", "absent", "failed", "headers")


class HttpJsonClient:
    """One worker's keep-alive HTTP connection to one node, speaking the system file's request templates."""

    def __init__(self, base: str, read: dict, write: dict, cas: dict | None = None, *, timeout: float = 5.0,
                 definite: list[int] | None = None, not_leader: list[str] | None = None) -> None:
        parsed = urllib.parse.urlsplit(base)
        if parsed.scheme != "http" or not parsed.hostname:
            raise InputError(f"http-json client: base {base!r} is not an http:// URL",
                             expected="base = \"http://{address}:{port[client]}\"")
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.prefix = parsed.path.rstrip("/")
        self.ops = {"read": read, "write": write, "cas": cas}
        for name, op in self.ops.items():
            if op is not None:
                _check_op(name, op)
        self.timeout = timeout
        self.definite = set(DEFAULT_DEFINITE if definite is None else definite)
        self.not_leader = [t.lower() for t in (not_leader or [])]
        self.conn: http.client.HTTPConnection | None = None

    # -- transport ---------------------------------------------------------------------------------------------
    def _request(self, name: str, fields: dict[str, str]) -> tuple[int, bytes]:
        op = self.ops[name]
        quoted = {k: urllib.parse.quote(v, safe="") if k == "key" else v for k, v in fields.items()}
        path = self.prefix + render_text(op["path"], quoted)
        body = None if op.get("body") is None else json.dumps(_render_body(op["body"], fields))
        headers = {"Content-Type": "application/json", **(op.get("headers") or {})}
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(op.get("method", "GET").upper(), path, body, headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError as exc:
            self.close()
            raise Definite(f"connection refused: {exc}") from exc
        except (OSError, http.client.HTTPException, socket.timeout) as exc:
            self.close()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from exc

    def _fail(self, status: int, data: bytes) -> None:
        text = data[:300].decode(errors="replace")
        if status in self.definite or any(t in text.lower() for t in self.not_leader):
            raise Definite(f"HTTP {status}: {text}")
        raise Indeterminate(f"HTTP {status}: {text}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- the KV interface --------------------------------------------------------------------------------------
    def read(self, key: str) -> str | None:
        status, data = self._request("read", {"key": key})
        if status in set(self.ops["read"].get("absent") or ()):
            return None
        if not 200 <= status < 300:
            self._fail(status, data)
        path = self.ops["read"].get("value")
        if not path:
            return data.decode()
        try:
            value: Any = json.loads(data)
            for part in path.split("."):
                if value is None:
                    break
                value = value[int(part)] if isinstance(value, list) else value.get(part)
        except (ValueError, AttributeError, IndexError, TypeError) as exc:
            raise Definite(f"read answer has no {path}: {data[:200]!r}") from exc
        return None if value is None else str(value)

    def write(self, key: str, value: str) -> None:
        status, data = self._request("write", {"key": key, "value": value})
        if not 200 <= status < 300:
            self._fail(status, data)

    def cas(self, key: str, old: str | None, new: str) -> bool:
        if self.ops["cas"] is None:
            raise Definite("this system file gives no cas request")
        status, data = self._request("cas", {"key": key, "old": "" if old is None else old, "new": new})
        if status in set(self.ops["cas"].get("failed") or ()):
            return False
        if not 200 <= status < 300:
            self._fail(status, data)
        return True


def _render_body(body: Any, fields: dict[str, str]) -> Any:
    if isinstance(body, str):
        return render_text(body, fields)
    if isinstance(body, list):
        return [_render_body(b, fields) for b in body]
    if isinstance(body, dict):
        return {k: _render_body(v, fields) for k, v in body.items()}
    return body


def _check_op(name: str, op: Any) -> None:
    """Refuse an operation template with unknown keys or fields (the system file names client.options.NAME)."""
    if not isinstance(op, dict) or "path" not in op:
        raise InputError(f"http-json client: {name} must be a table with a path",
                         expected=f"{name} = {{ method = \"GET\", path = \"/kv/{{key}}\" }}")
    unknown = sorted(set(op) - set(OP_KEYS))
    if unknown:
        raise InputError(f"http-json client: {name} has unknown key {unknown[0]!r}",
                         expected="one of " + ", ".join(OP_KEYS))
    schema = Schema({f: None for f in OP_FIELDS[name]})
    for where, exc in check_tree({"path": op["path"], "body": op.get("body")}, schema):
        raise InputError(f"http-json client: {name}.{where}: {exc}")


def check_options(options: dict) -> list[tuple[str, TemplateError | InputError]]:
    """The problems of an http-json ``[client.options]`` table, for the system file reader to locate."""
    bad: list[tuple[str, TemplateError | InputError]] = []
    for name in ("read", "write", "cas"):
        if name not in options:
            if name != "cas":
                bad.append((name, InputError(f"missing key {name}")))
            continue
        try:
            _check_op(name, options[name])
        except InputError as exc:
            bad.append((name, exc))
    return bad
