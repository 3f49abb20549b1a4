"""Redis clients on the rate-limit path (not a test): the project's pipelined client against the
libraries, on the same script, the same server, in the same run.

    .venv/bin/python -m tests.bench.redis_clients [--calls 3000] [--repeat 5]

Every client runs the rate limiter's Lua script (limits/rate_store.py, one EVALSHA per check)
against a redis-server on loopback started here:

- ``pipelined``: ext_proc/state/pipelined.py and resp.py (the service's client);
- ``redis-py``: redis.asyncio with its pure-Python reply parser, and with hiredis (its C parser,
  which redis-py picks when hiredis is installed);
- ``coredis``: an async client that multiplexes concurrent commands on its connections.

Each is measured sequentially (one check at a time: the latency one request pays) and with 16
checks in flight (as under load, where a client that pipelines writes them in one go). The
figure is CPU time of this process per check (``time.process_time``), the cost on the service's
core; wall time per check is shown beside it. Ratios are against the pipelined client, best of
``repeat`` runs. The machine is shared: compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import coredis
import redis.asyncio as aioredis
import uvloop
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser

from ext_proc.limits.fields import RateLimit
from ext_proc.limits.rate_store import RedisRateStore
from ext_proc.state.pipelined import PipelinedRedis
from tests.redis_server import RedisServer

CONCURRENCY = 16
LIMITS = [RateLimit("agent-rpm", "agent:support-bot", 10**9, 60.0)]


class CoredisScripts:
    """coredis's evalsha/eval take keys and arguments apart; the rate store passes them together."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._client.evalsha(sha, keys_and_args[:numkeys], keys_and_args[numkeys:])

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._client.eval(script, keys_and_args[:numkeys], keys_and_args[numkeys:])


async def measure(store: RedisRateStore, calls: int, concurrency: int, repeat: int) -> tuple[float, float]:
    """(CPU µs per check, wall µs per check), best of ``repeat``."""
    members = itertools.count()

    async def worker(count: int) -> None:
        for _ in range(count):
            outcome = await store.hit(LIMITS, time.time(), f"m{next(members)}")
            assert outcome.exceeded == -1

    await worker(50)  # connect, load the script
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
        done = calls // concurrency * concurrency
        best_cpu = min(best_cpu, (time.process_time() - cpu) / done * 1e6)
        best_wall = min(best_wall, (time.perf_counter() - wall) / done * 1e6)
    return best_cpu, best_wall


def clients(url: str, port: int) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    async def pipelined() -> Any:
        return PipelinedRedis.like(aioredis.Redis.from_url(url))

    async def redis_py(parser: type) -> Any:
        pool = aioredis.ConnectionPool.from_url(url, parser_class=parser, max_connections=CONCURRENCY * 2)
        return aioredis.Redis(connection_pool=pool)

    async def core() -> Any:
        return CoredisScripts(coredis.Redis(host="127.0.0.1", port=port, max_connections=CONCURRENCY * 2))

    return [
        ("pipelined (ext_proc/state)", pipelined),
        ("redis-py + hiredis", lambda: redis_py(_AsyncHiredisParser)),
        ("redis-py, Python parser", lambda: redis_py(_AsyncRESP2Parser)),
        ("coredis", core),
    ]


async def close(client: Any) -> None:
    inner = getattr(client, "_client", client)
    for name in ("aclose", "close"):
        method = getattr(inner, name, None)
        if method is not None:
            result = method()
            if asyncio.iscoroutine(result):
                await result
            return


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir)).start()
        try:
            rows = []
            for name, make in clients(server.url, server.port):
                client = await make()
                if isinstance(client, CoredisScripts):
                    async with client._client:
                        results = [await measure(RedisRateStore(client), args.calls, c, args.repeat)
                                   for c in (1, CONCURRENCY)]  # fmt: skip
                else:
                    results = [await measure(RedisRateStore(client), args.calls, c, args.repeat)
                               for c in (1, CONCURRENCY)]  # fmt: skip
                    await close(client)
                rows.append((name, results))
        finally:
            server.stop()
    base = rows[0][1]
    print(f"rate-limit check (one EVALSHA), {args.calls} checks, best of {args.repeat}; this process's CPU")
    columns = ("seq CPU us", "x", "seq wall", "16x CPU us", "x", "16x wall")
    print(f"{'client':30} " + " ".join(f"{c:>{max(6, len(c))}}" for c in columns))
    for name, ((cpu1, wall1), (cpu16, wall16)) in rows:
        print(
            f"{name:30} {cpu1:11.1f} {cpu1 / base[0][0]:6.2f} {wall1:9.1f} "
            f"{cpu16:11.1f} {cpu16 / base[1][0]:6.2f} {wall16:9.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
