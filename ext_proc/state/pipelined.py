"""A lean Redis client for the request path's scripts: one connection, commands pipelined.

redis-py spends about 150 µs of CPU per call on this path (a pooled connection checked out and
back, a retry wrapper, ``asyncio.wait_for`` around every read, a stream reader); a rate-limit
check is one EVALSHA, so that was more than the rest of an ext_authz check's Redis work. Here
every call writes its command to one connection and waits for its own reply, which arrives in
order (Redis answers a connection's commands in the order they were sent): concurrent requests
share the connection, and the commands written in one turn of the event loop leave in one write.

The semantics are redis-py's as the service configures it (redis_client.connect): the target,
credentials, database and TLS of the same URL; connecting has ``socket_connect_timeout`` and
each reply ``socket_timeout`` (state.redis_timeout_ms); nothing is retried; failures are
redis-py's exceptions (ConnectionError, TimeoutError, ResponseError, NoScriptError), so callers
map them to state_unavailable as before. A call that misses its deadline fails alone, as with
redis-py's pool (where each call has a connection of its own): its reply, when it comes, is read
and dropped, so the replies that follow still reach their callers. A connection that has owed a
reply for ``SILENT_DEADLINES`` deadlines without a byte from Redis is dropped, failing the calls
still on it: Redis stopped answering, and calls must not pile up behind it. The next call
reconnects, as it does after a connection is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ext_proc.state.resp import Arg, IncompleteReplyError, ProtocolError, encode_command, parse_reply

# Deadlines of silence (replies owed, nothing received) after which the connection is dropped.
SILENT_DEADLINES = 4


class _Replies(asyncio.Protocol):
    """One connection: commands out, each reply to the oldest caller still owed one."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        # When Redis last answered, or began to owe a reply (the loop's clock).
        self.last_heard = self.loop.time()
        self._buffer = bytearray()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._outgoing: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, command: bytes, reply: asyncio.Future[Any]) -> None:
        if self.lost or self.transport is None:
            reply.set_exception(RedisConnectionError("Connection closed by server."))
            return
        if not self._waiting:
            self.last_heard = self.loop.time()
        if not self._outgoing:
            # Later commands of this turn of the loop join this write.
            self.loop.call_soon(self._flush)
        self._outgoing.append(command)
        self._waiting.append(reply)

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.transport is not None and not self.lost:
            self.transport.write(b"".join(outgoing))

    def data_received(self, data: bytes) -> None:
        self.last_heard = self.loop.time()
        buffer = self._buffer
        buffer += data
        start = 0
        try:
            while self._waiting:
                reply, start = parse_reply(buffer, start)
                waiter = self._waiting.popleft()
                if not waiter.done():  # a caller that gave up (timed out, cancelled) gets nothing
                    waiter.set_result(reply)
        except IncompleteReplyError:
            pass
        except (ProtocolError, ValueError, IndexError):
            self.close(RedisConnectionError("Protocol error: unreadable reply from Redis"))
            return
        del buffer[:start]
        if buffer and not self._waiting:
            self.close(RedisConnectionError("Protocol error: a reply nobody asked for"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError("Connection closed by server."))

    def close(self, error: Exception) -> None:
        """Fail every caller still waiting with ``error`` and drop the connection."""
        self._fail(error)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: Exception) -> None:
        self.lost = True
        self._outgoing.clear()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)


class PipelinedRedis:
    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        tls: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self._host, self._port, self._path = host, port, path
        self.tls = tls  # None: plain TCP (or the unix socket)
        self._handshake = _handshake(username, password, db)
        self._timeout = timeout
        self._connect_timeout = connect_timeout if connect_timeout is not None else timeout
        self._connection: _Replies | None = None
        self._connecting: asyncio.Task[_Replies] | None = None

    @classmethod
    def like(cls, client: aioredis.Redis) -> PipelinedRedis:
        """A client for the same Redis as ``client``, with the same timeouts and credentials."""
        pool = client.connection_pool
        options = dict(pool.connection_kwargs)
        tls = None
        if issubclass(pool.connection_class, SSLConnection):
            tls = SSLConnection(**options).ssl_context.get()
        path = options.get("path") if issubclass(pool.connection_class, UnixDomainSocketConnection) else None
        return cls(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            path=path,
            tls=tls,
            username=options.get("username"),
            password=options.get("password"),
            db=int(options.get("db", 0)),
            timeout=options.get("socket_timeout"),
            connect_timeout=options.get("socket_connect_timeout"),
        )

    async def execute(self, *args: Arg) -> Any:
        """One command's reply; redis-py's exceptions for an error reply, a timeout or a lost link."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        # A connection of another event loop (a closed one: tests, tools) cannot serve this one.
        if connection is None or connection.lost or connection.loop is not loop:
            connection = await self._connect()
        reply = loop.create_future()
        connection.send(encode_command(args), reply)
        # A timer instead of asyncio.wait_for: no task per call.
        timer = (
            None
            if self._timeout is None
            else loop.call_later(self._timeout, _expire, connection, reply, self._timeout)
        )
        try:
            result = await reply
        finally:
            if timer is not None:
                timer.cancel()
        if isinstance(result, ResponseError):
            raise result
        return result

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Arg) -> Any:
        return await self.execute("EVAL", script, numkeys, *keys_and_args)

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        if self._connection is not None:
            self._connection.close(RedisConnectionError("Connection closed by the client."))
            self._connection = None

    async def _connect(self) -> _Replies:
        # Callers arriving while a connection is being made wait for that one. Shielded: a caller
        # that gives up does not abandon the attempt the others wait for.
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not asyncio.get_running_loop():
            connecting = self._connecting = asyncio.ensure_future(self._open())
            connecting.add_done_callback(self._connected)
        return await asyncio.shield(connecting)

    def _connected(self, task: asyncio.Task[_Replies]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled() and task.exception() is None:
            self._connection = task.result()

    async def _open(self) -> _Replies:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._path is not None:
                    _, connection = await loop.create_unix_connection(_Replies, self._path)
                else:
                    _, connection = await loop.create_connection(
                        _Replies, self._host, self._port, ssl=self.tls
                    )
        except TimeoutError:
            raise RedisTimeoutError("Timeout connecting to Redis") from None
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to Redis: {type(exc).__name__}") from None
        await self._greet(connection)
        return connection

    async def _greet(self, connection: _Replies) -> None:
        """AUTH and SELECT, as redis-py sends them on a new connection."""
        loop = asyncio.get_running_loop()
        replies = []
        for command in self._handshake:
            reply = loop.create_future()
            connection.send(command, reply)
            replies.append(reply)
        if not replies:
            return
        try:
            async with asyncio.timeout(self._timeout):
                results = await asyncio.gather(*replies)
        except TimeoutError:
            connection.close(RedisTimeoutError("Timeout reading from Redis"))
            raise RedisTimeoutError("Timeout reading from Redis") from None
        except BaseException:
            connection.close(RedisConnectionError("Connection closed by the client."))
            raise
        for result in results:
            if isinstance(result, ResponseError):
                connection.close(RedisConnectionError("Connection closed by the client."))
                raise result


def _handshake(username: str | None, password: str | None, db: int) -> list[bytes]:
    commands: list[Sequence[Arg]] = []
    if password:  # as redis-py: an empty password in the URL sends no AUTH
        commands.append(("AUTH", username, password) if username else ("AUTH", password))
    if db:
        commands.append(("SELECT", db))
    return [encode_command(command) for command in commands]


def _expire(connection: _Replies, reply: asyncio.Future[Any], timeout: float) -> None:
    if reply.done():
        return
    reply.set_exception(RedisTimeoutError("Timeout reading from Redis"))
    if connection.loop.time() - connection.last_heard >= SILENT_DEADLINES * timeout:
        connection.close(RedisConnectionError("Redis stopped answering: connection dropped."))
