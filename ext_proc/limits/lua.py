"""One Lua script per atomic operation, run with EVALSHA and sent whole only when Redis lacks it.

A script runs atomically in Redis (no other command interleaves), which is what makes a check and
its count one step across replicas. EVALSHA sends the 40-character digest instead of the source;
a Redis that restarted or flushed its script cache answers NOSCRIPT, and EVAL then runs the source
and caches it again. Keys are declared in KEYS as scripts must (a standalone Redis or a primary;
Redis Cluster would need every key of one call in one hash slot, which per-agent keys are not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from redis.exceptions import NoScriptError

Arg = str | bytes | int | float


class ScriptClient(Protocol):
    """What runs a script: redis-py's client, or the request path's PipelinedRedis."""

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg) -> Awaitable[Any]: ...

    def eval(self, script: str, numkeys: int, *keys_and_args: Arg) -> Awaitable[Any]: ...


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, client: ScriptClient, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)
