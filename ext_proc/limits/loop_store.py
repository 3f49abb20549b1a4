"""Loop counting, in memory and in Redis (one Lua script), side by side.

One observation, atomically: the call's fingerprint joins a sliding log of the window (trimmed to
the window, and to the newest ``max_tracked`` entries so a runaway loop cannot grow it without
bound), whose size is the number of repeats; and the session's call counter is incremented, its
time to live renewed (a session idle for ``session_ttl_seconds`` starts again from zero).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from ext_proc.limits.lua import LuaScript
from ext_proc.state.redis_client import call

SWEEP_EVERY = 1024
# In memory, at most this many call fingerprints and as many sessions are remembered: expiry alone
# bounds them by rate x window, which an agent sending distinct calls (or a new session id per
# call) could grow without limit. Past the cap the least recently seen go first (some 60 MB
# at most for both).
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class LoopWindow:
    window_seconds: float
    max_tracked: int
    session_ttl_seconds: float


class LoopStore(Protocol):
    async def observe(
        self, repeats_key: str, session_key: str | None, now: float, member: str, window: LoopWindow
    ) -> tuple[int, int]:
        """Record one call; (repeats in the window, this one included; calls in the session or 0)."""


@dataclass(slots=True)
class _Session:
    calls: int
    expiry: float


@dataclass(slots=True)
class _Log:
    expiry: float
    times: list[float] = field(default_factory=list)


class MemoryLoopStore:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        # Both in order of last use (an entry is moved to the end when seen), oldest first.
        self._logs: dict[str, _Log] = {}
        self._sessions: dict[str, _Session] = {}
        self._max_keys = max_keys
        self._operations = 0

    async def observe(
        self, repeats_key: str, session_key: str | None, now: float, member: str, window: LoopWindow
    ) -> tuple[int, int]:
        log = self._logs.pop(repeats_key, None) or _Log(now)
        self._logs[repeats_key] = log
        del log.times[: bisect.bisect_right(log.times, now - window.window_seconds)]
        bisect.insort(log.times, now)
        del log.times[: max(0, len(log.times) - window.max_tracked)]
        log.expiry = now + window.window_seconds
        calls = 0
        if session_key is not None:
            session = self._sessions.pop(session_key, None)
            calls = 1 if session is None or session.expiry <= now else session.calls + 1
            self._sessions[session_key] = _Session(calls, now + window.session_ttl_seconds)
        self._sweep(now)
        _cap(self._logs, self._max_keys)
        _cap(self._sessions, self._max_keys)
        return len(log.times), calls

    def _sweep(self, now: float) -> None:
        self._operations += 1
        if self._operations % SWEEP_EVERY:
            return
        for key in [k for k, log in self._logs.items() if log.expiry <= now]:
            del self._logs[key]
        for key in [k for k, session in self._sessions.items() if session.expiry <= now]:
            del self._sessions[key]


def _cap(entries: dict[str, _Log] | dict[str, _Session], size: int) -> None:
    while len(entries) > size:
        del entries[next(iter(entries))]  # the least recently seen


OBSERVE = LuaScript("""
-- KEYS[1]: the fingerprint's sorted set; KEYS[2] (when there is a session): a hash of its call
-- count and expiry.
-- ARGV: now, a unique member, window (s), max tracked, session time to live (s).
local now, window = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
local repeats = redis.call('ZCARD', KEYS[1])
local calls = 0
if #KEYS > 1 then
  -- The session's expiry is kept in the hash and judged by the caller's clock, as in memory.
  local ttl = tonumber(ARGV[5])
  if tonumber(redis.call('HGET', KEYS[2], 'expiry') or '0') <= now then
    redis.call('HSET', KEYS[2], 'calls', 0)
  end
  calls = redis.call('HINCRBY', KEYS[2], 'calls', 1)
  redis.call('HSET', KEYS[2], 'expiry', tostring(now + ttl))
  redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 1000))
end
return {repeats, calls}
""")


class RedisLoopStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def observe(
        self, repeats_key: str, session_key: str | None, now: float, member: str, window: LoopWindow
    ) -> tuple[int, int]:
        keys = [repeats_key] if session_key is None else [repeats_key, session_key]
        args: list[str | int] = [
            repr(now),
            member,
            repr(window.window_seconds),
            window.max_tracked,
            repr(window.session_ttl_seconds),
        ]
        repeats, calls = await call(OBSERVE.run(self._client, keys, args), "loop observe")
        return int(repeats), int(calls)
