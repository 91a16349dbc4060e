"""A histcheck client for a NATS JetStream key-value bucket through nats-py.

nats-py is asynchronous; each client runs its own event loop on a daemon thread and every call waits for its
coroutine with the run's operation timeout.  The bucket (``replicas`` copies, one value per key) is created by
``prepare``, which the DB calls once when the cluster is ready.

* ``read``: ``kv.get`` (the stream leader answers; the bucket does not allow direct gets from followers).
* ``write``: ``kv.put``.
* ``cas``: ``kv.get`` for the value and its revision, then ``kv.update(key, new, last=revision)``: JetStream
  stores it only if the key's last revision is still that one (``KeyWrongLastSequenceError`` otherwise).

Errors: no connection (refused, no servers), no responders and JetStream's "temporarily unavailable" (503)
mean the request was not taken: ``Definite``; so are JetStream's other answers to a request it refused.  A
timeout or a connection lost after sending may have been applied: ``Indeterminate``.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine

import nats
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError, TimeoutError as NatsTimeout
from nats.js.errors import APIError, BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from histcheck.run.clients import Definite, Indeterminate


class NatsKVClient:
    def __init__(self, url: str, bucket: str = "histcheck", replicas: int = 3, timeout: float = 5.0) -> None:
        self.url = url
        self.bucket = bucket
        self.replicas = replicas
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats-client", daemon=True)
        self.thread.start()
        self.nc: Any = None
        self.kv: Any = None

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _run(self, coro: Coroutine) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=self.timeout + 1)
        except TimeoutError as exc:
            future.cancel()
            raise Indeterminate(f"no answer within {self.timeout}s") from exc

    async def _connect(self, create: bool = False) -> None:
        """(Re)connect when there is no open connection: a failure here sent nothing."""
        if self.nc is not None and not self.nc.is_closed and self.kv is not None:
            return
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
        try:
            self.nc = await nats.connect(self.url, connect_timeout=self.timeout, allow_reconnect=False,
                                         max_reconnect_attempts=0, error_cb=_quiet, closed_cb=None)
        except (NoServersError, OSError, NatsTimeout, asyncio.TimeoutError, nats.errors.Error) as exc:
            self.nc = None
            raise Definite(f"cannot connect to {self.url}: {type(exc).__name__}") from exc
        js = self.nc.jetstream(timeout=self.timeout)
        try:
            try:
                self.kv = await js.key_value(self.bucket)
            except BucketNotFoundError:
                if not create:
                    raise
                self.kv = await js.create_key_value(bucket=self.bucket, replicas=self.replicas, history=1)
        except (APIError, NoRespondersError, NatsTimeout, asyncio.TimeoutError) as exc:
            await self.nc.close()
            self.nc, self.kv = None, None
            raise Definite(f"the bucket {self.bucket} is not available: {type(exc).__name__}: {exc}") from exc

    async def _call(self, op: str, *args: Any) -> Any:
        await self._connect()
        try:
            return await getattr(self, op)(*args)
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            raise
        except NoRespondersError as exc:
            raise Definite("no responders: nothing received the request") from exc
        except APIError as exc:
            if exc.code == 503:
                raise Definite(f"JetStream unavailable: {exc.description}") from exc
            raise Indeterminate(f"JetStream error {exc.code} {exc.err_code}: {exc.description}") from exc
        except (NatsTimeout, asyncio.TimeoutError) as exc:
            raise Indeterminate(f"timed out after {self.timeout}s") from exc
        except (ConnectionClosedError, OSError, nats.errors.Error) as exc:
            await self._drop()
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from exc

    async def _drop(self) -> None:
        nc, self.nc, self.kv = self.nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception:  # closing a broken connection must not hide the error being reported
                pass

    # -- the KV interface --------------------------------------------------------------------------------------
    async def _get(self, key: str) -> tuple[str | None, int]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None, 0
        return (entry.value or b"").decode(), entry.revision

    async def _put(self, key: str, value: str) -> None:
        await self.kv.put(key, value.encode())

    async def _cas(self, key: str, old: str | None, new: str) -> bool:
        current, revision = await self._get(key)
        if current is None or current != old:
            return False
        try:
            await self.kv.update(key, new.encode(), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    def prepare(self) -> None:
        """Create the bucket (R``replicas``) unless it exists."""
        self._run(self._connect(create=True))

    def read(self, key: str) -> str | None:
        return self._run(self._call("_get", key))[0]

    def write(self, key: str, value: str) -> None:
        self._run(self._call("_put", key, value))

    def cas(self, key: str, old: str | None, new: str) -> bool:
        return self._run(self._call("_cas", key, old, new))

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._drop(), self.loop).result(timeout=2)
        except Exception:  # a hung close must not hang the worker
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


async def _quiet(exc: Exception) -> None:
    """nats-py reports connection errors through this callback as well as by raising; the raise is enough."""
