"""Every limits component, built from the configuration on one backend.

```python
limits = build_limits(config, metrics=metrics)  # memory, or Redis when state.redis_url is set
await limits.start()                            # encodings loaded, kill switch following changes
service.admin_extensions.append(limits.admin_extension(audit))   # HTTP operator API
kill_switch_backend = limits.rpc_backend()                       # for add_admin_services(...)
...
await limits.stop()
```
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from ext_proc.admin.app import AdminExtension
from ext_proc.admin.rpc.backends import KillSwitchBackend
from ext_proc.audit import AuditLog
from ext_proc.config import Config
from ext_proc.limits.admin import KillSwitchRpc, kill_switch_routes
from ext_proc.limits.budget_store import BudgetStore, MemoryBudgetStore, RedisBudgetStore
from ext_proc.limits.budgets import BudgetLedger
from ext_proc.limits.kill_store import KillStore, MemoryKillStore, RedisKillStore
from ext_proc.limits.killswitch import KillEvent, KillSwitch, log_event
from ext_proc.limits.loop_store import LoopStore, MemoryLoopStore, RedisLoopStore
from ext_proc.limits.loops import LoopDetector
from ext_proc.limits.prices import PriceTable
from ext_proc.limits.rate_store import MemoryRateStore, RateStore, RedisRateStore
from ext_proc.limits.ratelimit import RateLimiter
from ext_proc.limits.tokens import TokenCounter, default_counter
from ext_proc.metrics import NULL_METRICS, Metrics
from ext_proc.state.pipelined import PipelinedRedis
from ext_proc.state.redis_client import connect

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Backend:
    """The four stores, all in this process's memory or all in one Redis."""

    rates: RateStore
    budgets: BudgetStore
    loops: LoopStore
    kills: KillStore
    client: aioredis.Redis | None = None
    # The rate limits' own connection (to the same Redis as client), closed with the backend.
    pipelined: PipelinedRedis | None = None

    async def close(self) -> None:
        if self.pipelined is not None:
            await self.pipelined.aclose()
        if self.client is not None:
            await self.client.aclose()


def memory_backend() -> Backend:
    return Backend(MemoryRateStore(), MemoryBudgetStore(), MemoryLoopStore(), MemoryKillStore())


def redis_backend(client: aioredis.Redis, key_prefix: str) -> Backend:
    pipelined = PipelinedRedis.like(client)
    return Backend(
        RedisRateStore(pipelined),
        RedisBudgetStore(client),
        RedisLoopStore(client),
        RedisKillStore(client, key_prefix),
        client,
        pipelined,
    )


def open_backend(config: Config) -> Backend:
    """Redis when ``state.redis_url`` is set (nothing is sent until the first call), else memory."""
    if config.state.redis_url is None:
        return memory_backend()
    return redis_backend(connect(config.state), config.limits.key_prefix)


@dataclass(slots=True)
class Limits:
    rate_limiter: RateLimiter
    budgets: BudgetLedger
    loops: LoopDetector
    kill_switch: KillSwitch
    prices: PriceTable
    tokens: TokenCounter
    backend: Backend

    async def start(self) -> None:
        self.tokens.prepare()  # about two seconds, once: not on the first request's time
        await self.kill_switch.start()

    async def stop(self) -> None:
        await self.kill_switch.stop()
        await self.backend.close()

    def admin_extension(self, audit: AuditLog | None = None) -> AdminExtension:
        """The kill switch's HTTP routes; engage and release are audited to ``audit``."""
        return kill_switch_routes(self.kill_switch, audit)

    def rpc_backend(self) -> KillSwitchBackend:
        """The kill switch for the admin gRPC API."""
        return KillSwitchRpc(self.kill_switch)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per component, for the metrics layer."""
        components = (self.rate_limiter.stats, self.budgets.stats, self.loops.stats, self.kill_switch.stats)
        return {stats.component: stats.snapshot() for stats in components}


def build_limits(
    config: Config,
    *,
    backend: Backend | None = None,
    clock: Clock = time.time,
    on_kill_event: Callable[[KillEvent], None] = log_event,
    metrics: Metrics = NULL_METRICS,
) -> Limits:
    backend = open_backend(config) if backend is None else backend
    limits, fail_open = config.limits, config.state.fail_open
    prices = PriceTable(limits.prices)
    return Limits(
        rate_limiter=RateLimiter(
            backend.rates, key_prefix=limits.key_prefix, fail_open=fail_open, clock=clock, metrics=metrics
        ),
        budgets=BudgetLedger(
            backend.budgets,
            prices,
            key_prefix=limits.key_prefix,
            reservation_ttl_seconds=limits.budgets.reservation_ttl_seconds,
            default_output_tokens=limits.budgets.default_output_tokens,
            fail_open=fail_open,
            clock=clock,
            metrics=metrics,
        ),
        loops=LoopDetector(
            backend.loops,
            key_prefix=limits.key_prefix,
            window_seconds=limits.loops.window_seconds,
            session_ttl_seconds=limits.loops.session_ttl_seconds,
            max_tracked=limits.loops.max_tracked,
            fail_open=fail_open,
            clock=clock,
            metrics=metrics,
        ),
        kill_switch=KillSwitch(
            backend.kills,
            refresh_interval_seconds=limits.kill_switch.refresh_interval_seconds,
            stale_after_seconds=limits.kill_switch.stale_after_seconds,
            fail_open=fail_open,
            on_event=on_kill_event,
            clock=clock,
            metrics=metrics,
        ),
        prices=prices,
        tokens=default_counter(),
        backend=backend,
    )
