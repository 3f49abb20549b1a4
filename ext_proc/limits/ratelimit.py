"""Request rate limits: ``limit`` requests per ``window_seconds``, per key the policy chose.

Algorithm: a sliding log (rate_store.py). A policy that says "60 per 60 seconds" means no more
than 60 in ANY 60 seconds, and the log enforces exactly that: it keeps the time of each counted
request and admits one more only when fewer than ``limit`` are younger than the window. The
alternatives trade exactness for memory: a fixed window admits up to twice the limit across a
boundary; the two-bucket approximation weighs the previous window as if its requests were evenly
spread, so it admits too many or too few around bursts; a token bucket admits a full burst plus
the refill over any window. The log's cost is memory: one entry (a few tens of bytes in Redis)
per counted request still in the window, so at most ``limit`` per key; ``limits`` entries are
capped at 100,000 requests (fields.py), and larger volumes belong in budgets (counters). A
refused request is not recorded, so refusals neither consume the limit nor grow the log, and the
answer says when the oldest counted request that matters leaves the window (``Retry-After``).

All the limits of one request are checked and counted in one atomic step (one Lua script in
Redis): if any is exhausted none is charged, so a request refused by the per-tool limit does not
use up the per-agent one. Times are Unix seconds (the replicas' clocks, kept by NTP: a skew of
milliseconds moves an edge of a minute-long window by as much).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ext_proc.errors import ChaperoneError
from ext_proc.limits.fields import RateLimit
from ext_proc.limits.guard import StateGuard, Stats
from ext_proc.limits.rate_store import Counted, RateStore
from ext_proc.metrics import NULL_METRICS, Metrics

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateResult:
    allowed: bool
    limit_name: str | None = None  # the limit that refused (the one with the longest wait)
    retry_after_seconds: float = 0.0
    remaining: int | None = None  # after this request, the fewest any limit still admits
    state_unavailable: bool = False  # the shared state did not answer and state.fail_open allowed


ALLOWED = RateResult(allowed=True)


class RateLimiter:
    def __init__(
        self,
        store: RateStore,
        *,
        key_prefix: str,
        fail_open: bool = False,
        clock: Clock = time.time,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._prefix = f"{key_prefix}rate:"
        self._clock = clock
        self.stats = Stats("rate_limiter")
        self._fail = StateGuard(self.stats, fail_open=fail_open, metrics=metrics)
        # Members of a Redis log must be unique across replicas: a random prefix and a counter.
        self._members = (f"{os.urandom(6).hex()}.{n}" for n in itertools.count())

    async def hit(self, limits: Sequence[RateLimit], now: float | None = None) -> RateResult:
        """Count one request against every limit, or refuse it and count it in none."""
        if not limits:
            return ALLOWED
        now = self._clock() if now is None else now
        counted = [Counted(self._key(limit), limit.limit, limit.window_seconds) for limit in limits]
        try:
            outcome = await self._store.hit(counted, now, next(self._members))
        except ChaperoneError as error:
            self._fail.unavailable(error, "hit")
            return RateResult(allowed=True, state_unavailable=True)
        self._fail.available()
        if outcome.exceeded < 0:
            self.stats.add("allowed")
            return RateResult(allowed=True, remaining=outcome.remaining)
        self.stats.add("refused")
        self._metrics.limit_hit("rate")
        return RateResult(
            allowed=False,
            limit_name=limits[outcome.exceeded].name,
            retry_after_seconds=max(0.0, outcome.retry_after),
            remaining=0,
        )

    def _key(self, limit: RateLimit) -> str:
        # Names cannot hold ":" (fields.py), so name and key never run into each other.
        return f"{self._prefix}{limit.name}:{limit.key}"
