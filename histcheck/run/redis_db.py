"""Redis Sentinel as a second DB: a primary, replicas and one sentinel per node, automatic failover on.

Debian's ``redis-server`` and ``redis-sentinel`` run on the same per-node network as etcd: node ``n1`` starts as
the primary, the others replicate it, and every node runs a sentinel (quorum: a majority) that fails over after
``down_after_ms`` of silence.  Replication is asynchronous, so a partition that isolates the primary with a client
loses acknowledged writes: the nemesis issue uses this to show histcheck catching it.

``RedisClient`` implements the workloads' key-value interface with the Python ``redis`` package, finding the
primary through the sentinels (the worker's own node's sentinel first); compare-and-set and multi-key operations
are Lua scripts, so each is atomic on the primary.  Its capabilities: processes, pause, leader (the primary the
sentinels name), logs, wipe and links.  It suggests its own default for the partition nemesis (the primary cut
off together with the clients, held long enough for a failover): that is how it loses acknowledged writes.

Its client's errors: a refused or timed-out *connection* (nothing was sent), no primary known, a READONLY
replica or any error reply are definite (``:fail``); a timeout or a reset after the command was sent is
indeterminate (``:info``).  redis-py's own retries are off, so an error always describes the one attempt made.
"""
from __future__ import annotations

import os
from typing import Any

from . import procs
from .clients import Definite, Indeterminate
from .db import DB
from .net import ProxyNetwork

MASTER = "histcheck"
ABSENT = "\x00absent"

_CAS = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local v = redis.call('GET', KEYS[i])
  if ARGV[i + 1] == '\\0absent' then
    if v then return 0 end
  elseif v ~= ARGV[i + 1] then return 0 end
end
local m = tonumber(ARGV[n + 2])
for j = 1, m do
  redis.call('SET', KEYS[n + j], ARGV[n + 2 + j])
end
return 1
"""

_PREFIX = """
local keys = redis.call('KEYS', ARGV[1] .. '*')
if #keys == 0 then return {} end
local values = redis.call('MGET', unpack(keys))
local out = {}
for i = 1, #keys do out[2 * i - 1] = keys[i]; out[2 * i] = values[i] end
return out
"""


class RedisSentinelDB(DB):
    """Redis Sentinel (Debian redis-server, redis-sentinel): asynchronous replication, automatic failover."""

    name = "redis"
    ports = {"client": 6379, "sentinel": 26379}
    default_workload = "set"  # acknowledged writes a failover loses show up directly as missing elements
    fault_defaults = {"partition": {"mode": "leader+clients", "schedule": "every:3:8"}}

    def __init__(self, *args: Any, down_after_ms: int = 2000, failover_timeout_ms: int = 6000,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server = self.program("redis-server", "redis-server")
        self.sentinel = self.program("redis-sentinel", "redis-sentinel")
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.ready = False

    def capabilities(self) -> frozenset[str]:
        return super().capabilities() | {"leader"}

    def programs(self) -> list[str]:
        return [self.server, self.sentinel]

    # -- configuration -----------------------------------------------------------------------------------------
    def _endpoint(self, name: str, port: str) -> Any:
        return self.nodes[name].net.ports[port]

    def server_conf(self, name: str, primary_name: str) -> str:
        e = self._endpoint(name, "client")
        primary = self._endpoint(primary_name, "client")
        lines = [f"port {e.listen_port}", f"bind {e.listen_host}", "protected-mode no", "daemonize no",
                 f"dir {self.nodes[name].data_dir}", 'save ""', "appendonly no",
                 f"replica-announce-ip {e.dial_host}", f"replica-announce-port {e.dial_port}"]
        if name != primary_name:
            lines.append(f"replicaof {primary.dial_host} {primary.dial_port}")
        return "\n".join(lines) + "\n"

    def sentinel_conf(self, name: str) -> str:
        e = self._endpoint(name, "sentinel")
        primary = self._endpoint(self.node_names[0], "client")
        quorum = len(self.node_names) // 2 + 1
        return "\n".join([
            f"port {e.listen_port}", f"bind {e.listen_host}", "protected-mode no", "daemonize no",
            f"dir {self.nodes[name].data_dir}", f"sentinel announce-ip {e.dial_host}",
            f"sentinel announce-port {e.dial_port}",
            f"sentinel monitor {MASTER} {primary.dial_host} {primary.dial_port} {quorum}",
            f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER} 1"]) + "\n"

    def _write(self, name: str, filename: str, text: str) -> str:
        path = os.path.join(self.nodes[name].data_dir, filename)
        with open(path, "w") as fh:
            fh.write(text)
        return path

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        """Start a node's server and sentinel; a restarted node rejoins as a replica of the current primary."""
        primary = self.node_names[0]
        if self.ready:
            primary = self.leader() or primary
        server_conf = self._write(name, "redis.conf", self.server_conf(name, primary))
        self._spawn(name, "redis", [self.server, server_conf])
        sentinel_conf = os.path.join(self.nodes[name].data_dir, "sentinel.conf")
        if not os.path.exists(sentinel_conf):  # sentinels rewrite their config; keep what they learned
            self._write(name, "sentinel.conf", self.sentinel_conf(name))
        self._spawn(name, "sentinel", [self.sentinel, sentinel_conf])

    def await_ready(self, timeout: float = 30) -> None:
        if not procs.wait_until(self._ready, timeout, interval=0.25):
            raise RuntimeError(f"redis sentinel did not become ready within {timeout:.0f}s (see the node logs)")
        self.ready = True
        self.prompt_sentinels()

    def prompt_sentinels(self) -> None:
        """Sentinels send INFO to replicas every 10 s and abort a failover whose replicas' INFO is older than 5 s
        (``-failover-abort-no-good-slave``, then no retry for 2 x failover-timeout); refreshing every second makes
        a failover start whenever the primary is cut off, which is the situation faults put it in."""
        self.sentinel_notes: list[str] = []
        for name in self.node_names:
            try:
                self._sentinel(name).execute_command("SENTINEL", "DEBUG", "info-period", "1000")
            except Exception as exc:  # an older sentinel without SENTINEL DEBUG: failovers may abort
                self.sentinel_notes.append(f"SENTINEL DEBUG info-period failed on {name}: {exc}")

    def _ready(self) -> bool:
        try:
            for name in self.node_names[1:]:
                if self._redis(name).info("replication").get("master_link_status") != "up":
                    return False
            need = len(self.node_names) - 1
            return all(int(self._sentinel(n).sentinel_master(MASTER).get("num-other-sentinels", 0)) >= need
                       for n in self.node_names)
        except Exception:
            return False

    def _redis(self, name: str, role: str = "client") -> Any:
        import redis
        e = self._endpoint(name, role)
        return redis.Redis(e.dial_host, e.dial_port, socket_timeout=1, socket_connect_timeout=1,
                           decode_responses=True)

    def _sentinel(self, name: str) -> Any:
        return self._redis(name, "sentinel")

    def leader(self) -> str | None:
        """The node the sentinels name as primary."""
        for name in self.node_names:
            try:
                host, port = self._sentinel(name).sentinel_get_master_addr_by_name(MASTER)
            except Exception:
                continue
            for node in self.node_names:
                e = self._endpoint(node, "client")
                if (e.dial_host, e.dial_port) == (host, int(port)):
                    return node
        return None

    def client(self, node: str, timeout: float) -> "RedisClient":
        order = self.node_names[self.node_names.index(node):] + self.node_names[:self.node_names.index(node)]
        sentinels = [(self._endpoint(n, "sentinel").dial_host, self._endpoint(n, "sentinel").dial_port)
                     for n in order]
        return RedisClient(sentinels, timeout)

    def describe(self) -> dict:
        info = super().describe()
        info.update(primary=self.node_names[0], master_name=MASTER, down_after_ms=self.down_after_ms,
                    sentinel_notes=getattr(self, "sentinel_notes", []),
                    proxy_note="in proxy mode replication links are not told apart from clients"
                    if isinstance(self.network, ProxyNetwork) else None)
        return info


def not_connected(exc: BaseException) -> bool:
    """Whether redis-py failed while *connecting* (refused, or no answer to the connection): nothing was sent."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ConnectionRefusedError) or isinstance(cause, ConnectionRefusedError):
        return True
    text = str(exc)
    return "connecting to" in text or text.startswith("Timeout connecting")


class RedisClient:
    """One worker's connection to the current primary, found through the sentinels."""

    def __init__(self, sentinels: list[tuple[str, int]], timeout: float) -> None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        from redis.sentinel import Sentinel
        self.sentinel = Sentinel(sentinels, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.master = self.sentinel.master_for(MASTER, socket_timeout=timeout, socket_connect_timeout=timeout,
                                               decode_responses=True, retry_on_timeout=False,
                                               retry=Retry(NoBackoff(), 0))
        self.cas_script = self.master.register_script(_CAS)
        self.prefix_script = self.master.register_script(_PREFIX)

    def _call(self, fn: Any, *args: Any) -> Any:
        import redis.exceptions as rx
        from redis.sentinel import MasterNotFoundError
        try:
            return fn(*args)
        except MasterNotFoundError as exc:
            raise Definite(f"no primary: {exc}") from exc
        except (rx.ReadOnlyError, rx.ResponseError) as exc:
            raise Definite(str(exc)) from exc
        except (rx.TimeoutError, rx.ConnectionError, OSError) as exc:
            self.master.connection_pool.disconnect()
            if not_connected(exc):
                raise Definite(f"{type(exc).__name__}: {exc}") from exc
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from exc

    def read(self, key: str) -> str | None:
        return self._call(self.master.get, key)

    def write(self, key: str, value: str) -> None:
        self._call(self.master.set, key, value)

    def cas(self, key: str, old: str | None, new: str) -> bool:
        return self.multi_cas({key: old}, {key: new})

    def read_prefix(self, prefix: str) -> dict[str, str]:
        flat = self._call(self.prefix_script, [], [prefix])
        return dict(zip(flat[0::2], flat[1::2]))

    def read_many(self, keys: list[str]) -> dict[str, str | None]:
        return dict(zip(keys, self._call(self.master.mget, keys)))

    def multi_cas(self, expect: dict[str, str | None], puts: dict[str, str]) -> bool:
        keys = list(expect) + list(puts)
        args = [len(expect), *[ABSENT if v is None else v for v in expect.values()], len(puts), *puts.values()]
        return bool(self._call(self.cas_script, keys, args))

    def close(self) -> None:
        try:
            self.master.connection_pool.disconnect()
            for s in self.sentinel.sentinels:
                s.connection_pool.disconnect()
        except Exception:
            pass
