"""A histcheck client for ZooKeeper through kazoo: one worker, one ZooKeeper server, one session.

Keys are znodes under ``/`` (``hc/register`` is ``/hc/register``), values their data as UTF-8.

* ``read``: in ``linearizable`` mode ``sync`` first, so the server has caught up with the leader before it
  answers; otherwise the server's local replica answers (ZooKeeper's documented default: sequentially
  consistent, possibly stale).
* ``write``: ``set`` (``create`` when the znode does not exist yet).
* ``cas``: read the znode with its version, then ``set`` with that version; ``BadVersionError`` means somebody
  wrote in between and nothing was written.

Errors: a call made while the session is not connected is never sent: ``Definite``.  ZooKeeper's own answers
(no node, node exists, bad version) are definite.  A timeout, a lost connection or an expired session after the
request was handed to the connection may have been applied: ``Indeterminate``.
"""
from __future__ import annotations

import logging
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError, ZookeeperError
from kazoo.handlers.threading import KazooTimeoutError

from histcheck.run.clients import Definite, Indeterminate

logging.getLogger("kazoo").addHandler(logging.NullHandler())
logging.getLogger("kazoo").propagate = False


class ZooKeeperClient:
    def __init__(self, hosts: str, reads: str = "linearizable", timeout: float = 5.0,
                 session_timeout: float = 4.0) -> None:
        self.sync_reads = reads == "linearizable"
        self.timeout = timeout
        self.hosts = hosts
        self.zk = KazooClient(hosts=hosts, timeout=session_timeout, connection_retry=None, command_retry=None)
        self.started = False

    def _wait(self, async_result: Any) -> Any:
        try:
            return async_result.get(timeout=self.timeout)
        except (NoNodeError, NodeExistsError, BadVersionError):
            raise
        except KazooTimeoutError as exc:
            raise Indeterminate(f"timed out after {self.timeout}s") from exc
        except (KazooException, ZookeeperError) as exc:
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from exc

    def _connected(self) -> None:
        """Start the session on first use (a server that does not serve refuses it: nothing was sent)."""
        if not self.started:
            try:
                self.zk.start(timeout=self.timeout)
            except KazooTimeoutError as exc:
                self.zk.stop()
                raise Definite(f"no ZooKeeper session with {self.hosts} within {self.timeout}s") from exc
            self.started = True
        if self.zk.state != KazooState.CONNECTED:
            raise Definite(f"not connected to ZooKeeper ({self.zk.state}); nothing was sent")

    @staticmethod
    def _path(key: str) -> str:
        return "/" + key.strip("/")

    def _get(self, path: str) -> tuple[str | None, int]:
        try:
            data, stat = self._wait(self.zk.get_async(path))
        except NoNodeError:
            return None, -1
        return data.decode(), stat.version

    def read(self, key: str) -> str | None:
        self._connected()
        path = self._path(key)
        if self.sync_reads:
            self._wait(self.zk.sync_async(path))
        return self._get(path)[0]

    def write(self, key: str, value: str) -> None:
        self._connected()
        path, data = self._path(key), value.encode()
        try:
            self._wait(self.zk.set_async(path, data))
        except NoNodeError:
            try:
                self._wait(self.zk.create_async(path, data, makepath=True))
            except NodeExistsError:
                self._wait(self.zk.set_async(path, data))

    def cas(self, key: str, old: str | None, new: str) -> bool:
        self._connected()
        path = self._path(key)
        current, version = self._get(path)
        if current != old or current is None:
            return False
        try:
            self._wait(self.zk.set_async(path, new.encode(), version=version))
        except (BadVersionError, NoNodeError):
            return False
        return True

    def close(self) -> None:
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:  # closing a half-started client must not hide the original error
            pass
