"""The pipelined client against a real redis-server: replies to the right callers, redis-py's
errors, the deadline, and a connection lost or timed out replaced on the next call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ext_proc.config import StateConfig
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.lua import LuaScript
from ext_proc.state.pipelined import SILENT_DEADLINES, PipelinedRedis
from ext_proc.state.redis_client import call, connect
from tests.harness import free_port
from tests.redis_server import RedisServer

TIMEOUT_MS = 200


def pipelined(url: str, timeout_ms: int = TIMEOUT_MS) -> PipelinedRedis:
    return PipelinedRedis.like(connect(StateConfig(redis_url=url, redis_timeout_ms=timeout_ms)))


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[PipelinedRedis]:
    client = pipelined(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to pause, stop and start again."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def key() -> str:
    return f"test:pipelined:{uuid.uuid4().hex}"


async def test_replies_are_what_redis_py_returns(client: PipelinedRedis) -> None:
    name = key()
    assert await client.execute("PING") == b"PONG"
    assert await client.execute("SET", name, "v") == b"OK"
    assert await client.execute("GET", name) == b"v"
    assert await client.execute("GET", key()) is None
    assert await client.execute("INCRBY", key(), 5) == 5
    assert await client.eval("return {1, 'two', {3}}", 0) == [1, b"two", [3]]


async def test_an_error_reply_raises_and_the_connection_carries_on(client: PipelinedRedis) -> None:
    with pytest.raises(ResponseError):
        await client.execute("INCR", "a", "b")
    with pytest.raises(NoScriptError):
        await client.evalsha("0" * 40, 0)
    assert await client.execute("PING") == b"PONG"


async def test_concurrent_callers_each_get_their_own_reply(client: PipelinedRedis) -> None:
    names = [key() for _ in range(200)]
    await asyncio.gather(*(client.execute("SET", name, name) for name in names))
    values = await asyncio.gather(*(client.execute("GET", name) for name in names))
    assert values == [name.encode() for name in names]


async def test_a_caller_that_gives_up_does_not_shift_the_replies(client: PipelinedRedis) -> None:
    first, second = key(), key()
    await client.execute("SET", first, "1")
    await client.execute("SET", second, "2")
    abandoned = asyncio.ensure_future(client.execute("GET", first))
    await asyncio.sleep(0)  # its command is queued
    abandoned.cancel()
    assert await client.execute("GET", second) == b"2"


async def test_scripts_run_with_evalsha_and_are_sent_again_when_redis_lost_them(
    client: PipelinedRedis, redis_server: RedisServer
) -> None:
    script = LuaScript(f"return '{uuid.uuid4().hex}'")
    expected = script.source.split("'")[1].encode()
    assert await script.run(client, [], []) == expected
    with redis.Redis(port=redis_server.port) as admin:
        admin.script_flush()
    assert await script.run(client, [], []) == expected


async def test_the_url_database_and_password_are_used(own_redis: RedisServer) -> None:
    with redis.Redis(port=own_redis.port) as admin:
        admin.config_set("requirepass", "s3cret-pass")
    url = f"redis://:s3cret-pass@127.0.0.1:{own_redis.port}/3"
    client = pipelined(url)
    name = key()
    try:
        assert await client.execute("SET", name, "in-3") == b"OK"
    finally:
        await client.aclose()
    with redis.Redis(port=own_redis.port, password="s3cret-pass", db=3) as check:
        assert check.get(name) == b"in-3"
    wrong = pipelined(f"redis://:wrong@127.0.0.1:{own_redis.port}/3")
    try:
        with pytest.raises(ResponseError):
            await wrong.execute("PING")
    finally:
        await wrong.aclose()


async def test_an_unreachable_redis_is_a_connection_error_and_state_unavailable() -> None:
    client = pipelined(f"redis://127.0.0.1:{free_port()}/0", timeout_ms=50)
    try:
        with pytest.raises(RedisConnectionError):
            await client.execute("PING")
        with pytest.raises(ChaperoneError) as error:
            await call(client.execute("PING"), "ping")
        assert error.value.code is ErrorCode.STATE_UNAVAILABLE
    finally:
        await client.aclose()


async def test_a_call_past_its_deadline_fails_alone_and_later_replies_reach_their_callers(
    own_redis: RedisServer,
) -> None:
    assert own_redis.process is not None
    client = pipelined(own_redis.url, timeout_ms=100)
    late, next_one = key(), key()
    try:
        await client.execute("SET", late, "late")
        await client.execute("SET", next_one, "next")
        connection_id = await client.execute("CLIENT", "ID")
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        results = await asyncio.gather(
            client.execute("GET", late), client.execute("GET", late), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        os.kill(own_redis.process.pid, signal.SIGCONT)
        assert all(isinstance(result, RedisTimeoutError) for result in results)
        assert 0.09 < elapsed < 0.3
        # The late replies are read and dropped: this call gets its own, on the same connection.
        assert await client.execute("GET", next_one) == b"next"
        assert await client.execute("CLIENT", "ID") == connection_id
    finally:
        await client.aclose()


async def test_a_redis_that_stops_answering_has_its_connection_dropped(own_redis: RedisServer) -> None:
    assert own_redis.process is not None
    client = pipelined(own_redis.url, timeout_ms=50)
    try:
        connection_id = await client.execute("CLIENT", "ID")
        os.kill(own_redis.process.pid, signal.SIGSTOP)
        outcomes = []
        for _ in range(SILENT_DEADLINES + 1):
            try:
                await client.execute("PING")
            except (RedisTimeoutError, RedisConnectionError) as error:
                outcomes.append(type(error))
        os.kill(own_redis.process.pid, signal.SIGCONT)
        assert outcomes[:SILENT_DEADLINES] == [RedisTimeoutError] * SILENT_DEADLINES
        assert await client.execute("PING") == b"PONG"
        assert await client.execute("CLIENT", "ID") != connection_id  # a new connection
    finally:
        await client.aclose()


async def test_a_lost_connection_fails_its_callers_and_the_next_call_reconnects(
    own_redis: RedisServer,
) -> None:
    client = pipelined(own_redis.url)
    try:
        assert await client.execute("PING") == b"PONG"
        own_redis.stop()
        with pytest.raises(RedisConnectionError):
            await client.execute("PING")
        with pytest.raises(RedisConnectionError):
            await client.execute("PING")  # still down: refused
        own_redis.start()
        assert await client.execute("PING") == b"PONG"
    finally:
        await client.aclose()


async def test_a_connection_killed_by_redis_is_replaced(
    client: PipelinedRedis, redis_server: RedisServer
) -> None:
    client_id = await client.execute("CLIENT", "ID")
    with redis.Redis(port=redis_server.port) as admin:
        admin.client_kill_filter(_id=client_id)
    # The close may or may not have been seen yet: either this call fails, or it reconnects.
    with contextlib.suppress(RedisConnectionError):
        await client.execute("PING")
    assert await client.execute("PING") == b"PONG"
    assert await client.execute("CLIENT", "ID") != client_id


def test_it_runs_on_uvloop_as_the_service_does(redis_server: RedisServer) -> None:
    async def round_trip() -> list[object]:
        client = pipelined(redis_server.url)
        try:
            return list(await asyncio.gather(*(client.execute("ECHO", str(n)) for n in range(50))))
        finally:
            await client.aclose()

    assert uvloop.run(round_trip()) == [str(n).encode() for n in range(50)]


async def test_a_unix_socket_url_is_served(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    socket_path = tmp_path / "redis.sock"
    command = [binary, "--port", "0", "--unixsocket", str(socket_path), "--save", "", "--dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = pipelined(f"unix://{socket_path}?db=2")
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert await client.execute("SET", "k", "on-2") == b"OK"
        with redis.Redis(unix_socket_path=str(socket_path), db=2) as check:
            assert check.get("k") == b"on-2"
    finally:
        await client.aclose()
        server.terminate()
        server.wait(timeout=10)


def test_a_tls_url_gets_a_verifying_tls_context() -> None:
    client = pipelined("rediss://redis.example.com:6380/0")
    assert client.tls is not None and client.tls.verify_mode is ssl.CERT_REQUIRED
    assert client.tls.check_hostname
    assert pipelined("redis://127.0.0.1:6379/0").tls is None


async def test_an_empty_password_in_the_url_sends_no_auth(redis_server: RedisServer) -> None:
    client = pipelined(f"redis://:@127.0.0.1:{redis_server.port}/0")
    try:
        assert await client.execute("PING") == b"PONG"  # AUTH "" would be refused
    finally:
        await client.aclose()
