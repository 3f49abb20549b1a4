"""The sliding log behind rate limits, in memory and in Redis (one Lua script), side by side.

Each limit keeps the times of the requests it counted within its window. A request is counted
by every limit or by none: all logs are trimmed to the window ``(now - window, now]`` and checked
first, and only when every one has room is ``now`` appended to each. A refused request waits
until enough entries of the fullest log have left the window: with ``n`` entries and a limit of
``L``, the entry at position ``n - L`` (oldest first) leaving makes room for one more.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ext_proc.limits.lua import LuaScript, ScriptClient
from ext_proc.state.redis_client import call

# The memory backend drops idle logs every this many hits.
SWEEP_EVERY = 1024


@dataclass(frozen=True, slots=True)
class Counted:
    """One limit to check and count: its storage key, how many, over how many seconds."""

    key: str
    limit: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class HitOutcome:
    exceeded: int  # index of the limit that refused (the longest wait), or -1 when counted
    retry_after: float  # seconds until that limit has room again (0 when counted)
    remaining: int  # after counting, the fewest requests any of the limits still admits


class RateStore(Protocol):
    async def hit(self, limits: Sequence[Counted], now: float, member: str) -> HitOutcome:
        """Check every limit and count the request in all of them, or in none."""


@dataclass(slots=True)
class _Log:
    window: float
    times: list[float] = field(default_factory=list)

    def trim(self, now: float) -> None:
        del self.times[: bisect.bisect_right(self.times, now - self.window)]


class MemoryRateStore:
    """One process's logs; atomic because a hit never yields to the event loop."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._hits = 0

    async def hit(self, limits: Sequence[Counted], now: float, member: str) -> HitOutcome:
        logs = [self._log(limit, now) for limit in limits]
        worst, wait = -1, -1.0
        for index, (limit, log) in enumerate(zip(limits, logs, strict=True)):
            count = len(log.times)
            if count >= limit.limit:
                until = log.times[count - limit.limit] + limit.window_seconds - now
                if until > wait:
                    worst, wait = index, until
        if worst >= 0:
            return HitOutcome(worst, wait, 0)
        for log in logs:
            bisect.insort(log.times, now)
        self._sweep(now)
        remaining = min(
            (lim.limit - len(log.times) for lim, log in zip(limits, logs, strict=True)), default=0
        )
        return HitOutcome(-1, 0.0, remaining)

    def _log(self, limit: Counted, now: float) -> _Log:
        log = self._logs.get(limit.key)
        if log is None:
            log = self._logs[limit.key] = _Log(limit.window_seconds)
        log.window = limit.window_seconds
        log.trim(now)
        return log

    def _sweep(self, now: float) -> None:
        self._hits += 1
        if self._hits % SWEEP_EVERY:
            return
        for key in [
            key for key, log in self._logs.items() if not log.times or log.times[-1] <= now - log.window
        ]:
            del self._logs[key]


HIT = LuaScript("""
-- KEYS: one sorted set per limit (score and member: the request's time).
-- ARGV: now, a unique member, then limit and window (seconds) for each key.
local now = tonumber(ARGV[1])
local counts = {}
local worst, wait = 0, -1
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= limit then
    local entry = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local until_free = tonumber(entry[2]) + window - now
    if until_free > wait then worst, wait = i, until_free end
  end
end
if worst > 0 then return {worst, tostring(wait), 0} end
local remaining = -1
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  local left = limit - counts[i] - 1
  if remaining < 0 or left < remaining then remaining = left end
end
return {0, '0', remaining}
""")


class RedisRateStore:
    """Logs shared by every replica: one sorted set per limit, each key expiring with its window.

    Every allowed ext_authz check with a rate limit is one call here, so the service gives it the
    pipelined client (state/pipelined.py) rather than redis-py's pool."""

    def __init__(self, client: ScriptClient) -> None:
        self._client = client

    async def hit(self, limits: Sequence[Counted], now: float, member: str) -> HitOutcome:
        args: list[str | float | int] = [repr(now), member]
        for limit in limits:
            args += [limit.limit, repr(limit.window_seconds)]
        keys = [limit.key for limit in limits]
        worst, wait, remaining = await call(HIT.run(self._client, keys, args), "rate limit")
        return HitOutcome(int(worst) - 1, float(wait), max(0, int(remaining)))
