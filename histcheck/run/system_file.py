"""Reading a system file: a TOML description of a database that ``histcheck run --db FILE.toml`` can test.

The file says how to start each node (templated commands, environment, files written before start), how to tell
that the cluster serves, who leads, how to change membership and toggle failpoints, which ports a node uses and
which client speaks to it.  docs/extending.md is the reference; examples/systems/ holds two complete files.

Everything is checked here, once, before any node starts: missing keys, wrong types, unknown keys (a typo must
not be ignored) and unknown template fields.  ``tomllib`` gives no line numbers for keys, so ``KeyLines`` scans
the text for the line that holds a key (or its table) to put in the error.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .templates import Schema, TemplateError, check, check_tree

NODE_FIELDS = ("name", "index", "id", "address", "data_dir", "nodes", "read_mode", "system_dir")
PROBE_KINDS = ("tcp", "http", "command")


# -- where a key is written ------------------------------------------------------------------------------------
class KeyLines:
    """Line numbers of keys and tables in a TOML text (the dotted path of every ``key =`` line and header)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")

    def __init__(self, text: str) -> None:
        self.text_lines = text.splitlines()
        self.lines: dict[tuple[str, ...], int] = {}
        self.inline: list[tuple[tuple[str, ...], int, str]] = []
        table: tuple[str, ...] = ()
        in_string = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:
                if in_string in line:
                    in_string = None
                continue
            header = self._HEADER.match(line)
            if header:
                table = self._split(header.group(1))
                self.lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                path = table + self._split(key.group(1))
                self.lines.setdefault(path, number)
                rest = line[key.end():]
                self.inline.append((path, number, rest))
                for quote in ('"""', "'''"):
                    if rest.count(quote) == 1:
                        in_string = quote

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
        return tuple(p.strip("\"'") for p in parts)

    def find(self, needle: str, start: int, span: int = 60) -> int | None:
        """The first line from ``start`` on (within ``span`` lines) that contains ``needle``."""
        for number in range(start, min(start + span, len(self.text_lines) + 1)):
            if needle in self.text_lines[number - 1]:
                return number
        return None

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of ``path``, else of a key inside an inline table on one line, else of its nearest table."""
        if path in self.lines:
            return self.lines[path]
        for owner, number, rest in self.inline:
            if path[:len(owner)] == owner and len(path) > len(owner) and re.search(
                    rf"(^|[{{,\s]){re.escape(path[len(owner)])}\s*=", rest):
                return number
        for cut in range(len(path) - 1, 0, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None


# -- the description -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    """One question asked of one node: a TCP port (optionally sending a line and expecting text in the reply),
    an HTTP GET answering 2xx (optionally with a JSON path), or a command exiting 0 (its stdout is the answer)."""

    kind: str
    target: Any  # port name (tcp), URL template (http), argv templates (command)
    send: str | None = None
    expect: str | None = None
    json_path: str | None = None
    equals: Any = None
    timeout: float = 2.0


@dataclass(frozen=True)
class Request:
    """An action on a node: an HTTP request (method, URL, body) or a command."""

    kind: str  # http | command
    target: Any
    method: str = "PUT"
    body: str | None = None


@dataclass(frozen=True)
class PeerList:
    """A named list field: ``each`` written once per node (``peer.*`` fields), joined by ``sep``."""

    each: str
    sep: str = ","
    include_self: bool = True


@dataclass
class SystemFile:
    path: str
    name: str
    about: str
    ports: dict[str, int]
    command: list[str]
    bootstrap: list[str] | None = None
    join: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    lists: dict[str, PeerList] = field(default_factory=dict)
    ready: Probe | None = None
    ready_deadline: float = 60.0
    leader: Probe | None = None
    progress: Probe | None = None
    progress_pattern: "re.Pattern[str] | None" = None
    remove_member: Request | None = None
    add_member: Request | None = None
    failpoint_set: Request | None = None
    failpoint_clear: Request | None = None
    failpoint_env: str | None = None
    failpoint_env_format: str = "{failpoint}={action}"
    failpoint_env_sep: str = ";"
    package: str = ""
    requires: list[str] = field(default_factory=list)
    client_kind: str = ""
    client_options: dict[str, Any] = field(default_factory=dict)
    stop_grace: float = 3.0

    @property
    def directory(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def missing(self) -> list[str]:
        """The programs (the start commands' first words, ``requires``) and files (``requires`` paths) that are
        not there: a run stops before any node starts, saying which package provides them."""
        wanted = [*self.requires, *(c[0] for c in (self.command, self.bootstrap, self.join) if c)]
        out = []
        for item in dict.fromkeys(wanted):
            found = os.path.exists(item) if "/" in item else shutil.which(item) is not None
            if not found and "{" not in item:
                out.append(item)
        return out

    def summary(self) -> dict[str, Any]:
        """What ``histcheck list`` shows of a system file."""
        return {"name": self.name, "about": self.about, "path": self.path, "client": self.client_kind,
                "capabilities": sorted(self.capabilities())}

    def capabilities(self) -> frozenset[str]:
        """What the file makes possible (the names of the DB capability contract)."""
        caps = {"processes", "pause", "logs", "wipe", "links"}
        if self.leader is not None:
            caps.add("leader")
        if self.progress is not None:
            caps.add("catch-up")
        if self.remove_member is not None and self.add_member is not None:
            caps.add("membership")
        if self.failpoint_env or (self.failpoint_set is not None and self.failpoint_clear is not None):
            caps.add("failpoints")
        return frozenset(caps)


# -- the schemas of each place a template may appear -----------------------------------------------------------
def _peer_schema(ports: frozenset[str]) -> Schema:
    return Schema({"name": None, "index": None, "id": None, "address": None, "port": ports})


def node_schema(ports: frozenset[str], lists: list[str], *, peer: bool) -> Schema:
    """Fields of start commands, files and environment (``peer`` only where a template repeats per peer)."""
    names: dict[str, Any] = {n: None for n in NODE_FIELDS}
    names.update({"port": ports, "listen": ports, "peers": ports, "cluster": ports})
    names.update({n: None for n in lists})
    if peer:
        names["peer"] = _peer_schema(ports)
    return Schema(names)


def view_schema(ports: frozenset[str], extra: tuple[str, ...] = (), *, via: bool = False) -> Schema:
    """Fields of probes, requests and client options: a node as the runner (the clients) reaches it."""
    names: dict[str, Any] = {n: None for n in NODE_FIELDS}
    names["port"] = ports
    names.update({n: None for n in extra})
    if via:
        names["via"] = _peer_schema(ports)
    return Schema(names)


# -- the reader --------------------------------------------------------------------------------------------------
class _Reader:
    """Takes keys out of the parsed document, locating every complaint at its line."""

    def __init__(self, path: str, text: str, doc: dict) -> None:
        self.path = path
        self.lines = KeyLines(text)
        self.doc = doc

    def error(self, key: tuple[str, ...], message: str, expected: str | None = None) -> InputError:
        return InputError(f"{'.'.join(key)}: {message}", path=self.path, line=self.lines.line(key),
                          expected=expected)

    def table(self, key: tuple[str, ...], *, required: bool = False) -> dict | None:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "missing table", f"a [{'.'.join(key)}] table")
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"is a {type(value).__name__}, not a table")
        return value

    def _get(self, key: tuple[str, ...]) -> Any:
        node: Any = self.doc
        for part in key:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def value(self, key: tuple[str, ...], kinds: tuple[type, ...], *, required: bool = False,
              default: Any = None, expected: str = "") -> Any:
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "missing key", expected or None)
            return default
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(key, f"is {value!r}, not a {names}", expected or None)
        return value

    def known(self, key: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        """Refuse keys the format does not have (a misspelt key must not be silently ignored)."""
        table = self._get(key) if key else self.doc
        if not isinstance(table, dict):
            return
        for name in table:
            if name not in allowed:
                raise self.error(key + (name,), "unknown key", "one of " + ", ".join(allowed))

    def argv(self, key: tuple[str, ...], *, required: bool = False) -> list[str] | None:
        """A command: a list of strings (one argument each) or one string split as a shell would."""
        value = self._get(key)
        if value is None:
            if required:
                raise self.error(key, "missing key", "a command: a list of strings or one string")
            return None
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                raise self.error(key, f"cannot be split into arguments ({exc})")
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.error(key, "is not a command", "a non-empty list of strings, or one string")
        return value

    def templates(self, key: tuple[str, ...], value: Any, schema: Schema) -> None:
        for where, exc in check_tree(value, schema):
            sub = key + tuple(where.split(".")) if where else key
            error = self.error(sub, str(exc))
            if exc.field is not None and error.line is not None:  # a value over several lines: the field's own
                error.line = self.lines.find("{" + exc.field, error.line) or error.line
                error.args = (error.render(),)
            raise error


def load(path: str) -> SystemFile:
    """Read and check a system file; any problem is an InputError naming the file, the line and the key."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read the system file ({exc.strerror})", path=path)
    text = raw.decode("utf-8", errors="replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"not valid TOML: {exc}", path=path, line=int(line.group(1)) if line else None)
    return _build(_Reader(path, text, doc))


TOP = ("name", "about", "package", "requires", "ports", "node", "lists", "ready", "leader", "progress", "membership", "failpoints", "client")


def _build(r: _Reader) -> SystemFile:
    r.known((), TOP)
    name = r.value(("name",), (str,), required=True, expected="the system's name, e.g. name = \"zookeeper\"")
    ports = _ports(r)
    port_names = frozenset(ports)
    lists = _lists(r, port_names)
    spec = SystemFile(path=r.path, name=name, about=r.value(("about",), (str,), default=""), ports=ports,
                      command=[], lists=lists, package=r.value(("package",), (str,), default=""))
    requires = r.value(("requires",), (list,), default=[])
    if not all(isinstance(x, str) for x in requires):
        raise r.error(("requires",), "is not a list of strings", "programs or files, e.g. [\"java\"]")
    spec.requires = list(requires)
    _node(r, spec, port_names)
    spec.ready, spec.ready_deadline = _ready(r, port_names)
    spec.leader = _probe(r, ("leader",), port_names, leader=True)
    spec.progress = _probe(r, ("progress",), port_names, extra_keys=("pattern",))
    if spec.progress is not None:
        pattern = r.value(("progress", "pattern"), (str,))
        try:
            spec.progress_pattern = re.compile(pattern) if pattern else None
        except re.error as exc:
            raise r.error(("progress", "pattern"), f"is not a regular expression ({exc})")
        if spec.progress_pattern is not None and spec.progress_pattern.groups != 1:
            raise r.error(("progress", "pattern"), "needs exactly one group: the position",
                          "e.g. pattern = \"Zxid: (0x[0-9a-f]+)\"")
    _membership(r, spec, port_names)
    _failpoints(r, spec, port_names)
    _client(r, spec, port_names)
    return spec


def _ports(r: _Reader) -> dict[str, int]:
    table = r.table(("ports",), required=True)
    if not table:
        raise r.error(("ports",), "no ports", "e.g. [ports] client = 2181")
    out = {}
    for key, port in table.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise r.error(("ports", key), "is not a usable port name", "letters, digits and _")
        port = r.value(("ports", key), (int,), required=True)
        if not 1 <= port <= 65535:
            raise r.error(("ports", key), f"{port} is not a TCP port", "1..65535")
        out[key] = port
    return out


def _lists(r: _Reader, ports: frozenset[str]) -> dict[str, PeerList]:
    table = r.table(("lists",)) or {}
    out = {}
    for key in table:
        where = ("lists", key)
        if key in NODE_FIELDS or key in ("port", "listen", "peers", "cluster", "peer"):
            raise r.error(where, "shadows a built-in template field", "another name")
        r.table(where, required=True)
        r.known(where, ("each", "sep", "include_self"))
        each = r.value(where + ("each",), (str,), required=True,
                       expected="a template with peer.* fields, e.g. \"{peer.address}:{peer.port[peer]}\"")
        r.templates(where + ("each",), each, node_schema(ports, [], peer=True))
        out[key] = PeerList(each, r.value(where + ("sep",), (str,), default=","),
                            r.value(where + ("include_self",), (bool,), default=True))
    return out


def _node(r: _Reader, spec: SystemFile, ports: frozenset[str]) -> None:
    r.table(("node",), required=True)
    r.known(("node",), ("command", "bootstrap", "join", "env", "files", "stop_grace"))
    argv_schema = node_schema(ports, list(spec.lists), peer=True)
    text_schema = node_schema(ports, list(spec.lists), peer=False)
    spec.command = r.argv(("node", "command"), required=True)
    spec.bootstrap = r.argv(("node", "bootstrap"))
    spec.join = r.argv(("node", "join"))
    for key in ("command", "bootstrap", "join"):
        value = getattr(spec, key)
        if value is not None:
            r.templates(("node", key), value, argv_schema)
    env = r.table(("node", "env")) or {}
    for key in env:
        r.value(("node", "env", key), (str,), required=True)
    r.templates(("node", "env"), env, text_schema)
    spec.env = dict(env)
    files = r.table(("node", "files")) or {}
    for key, content in files.items():
        r.value(("node", "files", key), (str,), required=True)
        try:
            check(key, text_schema)
        except TemplateError as exc:
            raise r.error(("node", "files", key), f"file name: {exc}")
        r.templates(("node", "files", key), content, text_schema)
    spec.files = dict(files)
    spec.stop_grace = float(r.value(("node", "stop_grace"), (int, float), default=3.0))


def _ready(r: _Reader, ports: frozenset[str]) -> tuple[Probe | None, float]:
    r.table(("ready",), required=True)
    deadline = r.value(("ready", "deadline"), (int, float), default=60)
    if deadline <= 0:
        raise r.error(("ready", "deadline"), "must be positive", "seconds, e.g. deadline = 30")
    return _probe(r, ("ready",), ports, extra_keys=("deadline",)), float(deadline)


def _probe(r: _Reader, key: tuple[str, ...], ports: frozenset[str], *, leader: bool = False,
           extra_keys: tuple[str, ...] = ()) -> Probe | None:
    table = r.table(key)
    if table is None:
        return None
    allowed = PROBE_KINDS + ("send", "expect", "json_path", "timeout") + extra_keys + (("equals",) if leader else ())
    r.known(key, allowed)
    given = [k for k in PROBE_KINDS if k in table]
    if len(given) != 1:
        raise r.error(key, f"names {'no' if not given else 'more than one'} probe",
                      "exactly one of tcp = \"PORT\", http = \"URL\", command = [...]")
    kind = given[0]
    schema = view_schema(ports)
    if kind == "tcp":
        target = r.value(key + ("tcp",), (str,))
        if target not in ports:
            raise r.error(key + ("tcp",), f"{target!r} is not a port of [ports]", "one of " + ", ".join(ports))
    elif kind == "http":
        target = r.value(key + ("http",), (str,))
        r.templates(key + ("http",), target, schema)
    else:
        target = r.argv(key + ("command",))
        r.templates(key + ("command",), target, schema)
    send = r.value(key + ("send",), (str,))
    if send is not None and kind != "tcp":
        raise r.error(key + ("send",), "applies to tcp probes only")
    json_path = r.value(key + ("json_path",), (str,))
    if json_path is not None and kind == "tcp":
        raise r.error(key + ("json_path",), "applies to http and command probes")
    if leader and kind == "tcp" and r.value(key + ("expect",), (str,)) is None:
        raise r.error(key, "a tcp leader probe needs expect", "the text only the leader answers, e.g. "
                      "expect = \"Mode: leader\"")
    return Probe(kind, target, send=send, expect=r.value(key + ("expect",), (str,)), json_path=json_path,
                 equals=r._get(key + ("equals",)),
                 timeout=float(r.value(key + ("timeout",), (int, float), default=2.0)))


def _request(r: _Reader, key: tuple[str, ...], schema: Schema) -> Request | None:
    value = r._get(key)
    if value is None:
        return None
    if isinstance(value, (list, str)):
        argv = r.argv(key)
        r.templates(key, argv, schema)
        return Request("command", argv)
    table = r.table(key)
    r.known(key, ("http", "command", "method", "body"))
    if ("http" in table) == ("command" in table):
        raise r.error(key, "needs exactly one of http or command", "http = \"URL\" or command = [...]")
    if "command" in table:
        argv = r.argv(key + ("command",))
        r.templates(key + ("command",), argv, schema)
        return Request("command", argv)
    url = r.value(key + ("http",), (str,))
    r.templates(key + ("http",), url, schema)
    body = r.value(key + ("body",), (str,))
    if body is not None:
        r.templates(key + ("body",), body, schema)
    method = r.value(key + ("method",), (str,), default="PUT").upper()
    return Request("http", url, method=method, body=body)


def _membership(r: _Reader, spec: SystemFile, ports: frozenset[str]) -> None:
    if r.table(("membership",)) is None:
        return
    r.known(("membership",), ("remove", "add"))
    schema = view_schema(ports, via=True)
    spec.remove_member = _request(r, ("membership", "remove"), schema)
    spec.add_member = _request(r, ("membership", "add"), schema)
    if (spec.remove_member is None) != (spec.add_member is None):
        raise r.error(("membership",), "needs both remove and add")


def _failpoints(r: _Reader, spec: SystemFile, ports: frozenset[str]) -> None:
    if r.table(("failpoints",)) is None:
        return
    r.known(("failpoints",), ("set", "clear", "env", "env_format", "env_sep"))
    schema = view_schema(ports, ("failpoint", "action"))
    spec.failpoint_set = _request(r, ("failpoints", "set"), schema)
    spec.failpoint_clear = _request(r, ("failpoints", "clear"), schema)
    spec.failpoint_env = r.value(("failpoints", "env"), (str,))
    spec.failpoint_env_format = r.value(("failpoints", "env_format"), (str,), default="{failpoint}={action}")
    spec.failpoint_env_sep = r.value(("failpoints", "env_sep"), (str,), default=";")
    r.templates(("failpoints", "env_format"), spec.failpoint_env_format,
                Schema({"failpoint": None, "action": None}))
    requests = (spec.failpoint_set is None, spec.failpoint_clear is None)
    if spec.failpoint_env is None and any(requests):
        raise r.error(("failpoints",), "needs set and clear, or env",
                      "set = {http = ...} and clear = {...}, or env = \"VARIABLE\"")


def _client(r: _Reader, spec: SystemFile, ports: frozenset[str]) -> None:
    r.table(("client",), required=True)
    r.known(("client",), ("kind", "options"))
    spec.client_kind = r.value(("client", "kind"), (str,), required=True,
                               expected="a client of the registry (etcd, redis, http-json) or module:Class")
    options = r.table(("client", "options")) or {}
    r.templates(("client", "options"), _client_templates(spec.client_kind, options), view_schema(ports))
    if spec.client_kind == "http-json":
        from .http_client import check_options
        for name, exc in check_options(options):
            message = getattr(exc, "message", str(exc)).removeprefix("http-json client: ")
            raise r.error(("client", "options", name), message)
    spec.client_options = options


# Options a client renders itself, per operation (``{key}``, ``{value}``): not node templates.
OPERATION_OPTIONS = {"http-json": ("read", "write", "cas")}


def _client_templates(kind: str, options: dict) -> dict:
    """The options that are node templates (the client checks its per-operation ones itself)."""
    own = OPERATION_OPTIONS.get(kind, ())
    return {k: v for k, v in options.items() if k not in own}
