"""The client-error rule on real sockets (loopback): each adapter says definite only when the request certainly did
nothing.  A port nobody listens on refuses the connection (definite, ``:fail``); a server that reads the request
and then hangs up, or never answers, leaves it unknown (indeterminate, ``:info``)."""
from __future__ import annotations

import socket
import threading
from typing import Iterator

import pytest

from histcheck.run.clients import ClientError, Definite, EtcdClient, Indeterminate, completion_type
from histcheck.run.redis_db import not_connected


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A server that reads what it is sent and then either hangs up (``close``) or keeps silent (``silent``)."""
    mode = request.param
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            if mode == "close":
                conn.close()
            else:
                held.append(conn)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


def test_etcd_client_refused_is_definite() -> None:
    client = EtcdClient("127.0.0.1", closed_port(), timeout=0.5)
    with pytest.raises(Definite, match="ConnectionRefusedError"):
        client.write("k", "v")


@pytest.mark.parametrize("server", ["close", "silent"], indirect=True)
def test_etcd_client_after_sending_is_indeterminate(server: int) -> None:
    client = EtcdClient("127.0.0.1", server, timeout=0.3)
    with pytest.raises(Indeterminate):
        client.write("k", "v")


def test_redis_connection_refused_is_definite_and_timeout_after_sending_is_not() -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    refused = redis.Redis("127.0.0.1", closed_port(), socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.exceptions.ConnectionError) as err:
        refused.set("k", "v")
    assert not_connected(err.value)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts (the kernel completes the handshake) and never answers
    silent = redis.Redis("127.0.0.1", listener.getsockname()[1], socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(redis.exceptions.RedisError) as err:
            silent.set("k", "v")
        assert not not_connected(err.value), err.value
    finally:
        listener.close()


def test_the_rule_itself() -> None:
    assert completion_type(Definite("not leader"), is_read=False) == "fail"
    assert completion_type(ConnectionRefusedError(), is_read=False) == "fail"
    assert completion_type(Indeterminate("timeout"), is_read=False) == "info"
    assert completion_type(TimeoutError(), is_read=False) == "info"
    assert completion_type(ConnectionResetError(), is_read=True) == "fail"  # reads change nothing
    assert completion_type(ClientError("?"), is_read=False) == "info"
    assert completion_type(KeyError("bug"), is_read=False) is None
