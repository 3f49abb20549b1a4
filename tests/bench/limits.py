"""Limits benchmark (not a test): the cost of each check on the request path, memory and Redis.

    .venv/bin/python -m tests.bench.limits [--operations 3000] [--repeat 5]

Reports microseconds per operation, best of ``repeat`` runs, each on one event loop (uvloop, as
the service runs), sequentially (no concurrency: the latency one request pays). Memory numbers
are compared with awaiting an empty coroutine; Redis numbers (a redis-server on loopback, started
here) with one PING round trip through the same client, the floor of any Redis call. The whole
Check path has a budget of ~400 us, so these say what a limit costs within it. The machine is
shared: compare the ratios, not the absolute numbers, between runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from ext_proc.config import Config, StateConfig
from ext_proc.limits.budgets import Reservation, Usage
from ext_proc.limits.factory import Limits, build_limits, memory_backend
from ext_proc.limits.fields import Budget, RateLimit
from ext_proc.limits.settings import KillSwitchConfig, LimitsConfig, ModelPrice, PricesConfig
from ext_proc.limits.tokens import count_tokens
from tests.redis_server import RedisServer

ONE_LIMIT = [RateLimit("agent-rpm", "agent:support-bot", 1000, 1.0)]
THREE_LIMITS = [
    *ONE_LIMIT,
    RateLimit("tool-rpm", "tool:search", 1000, 1.0),
    RateLimit("upstream-rps", "upstream:openai", 1000, 1.0),
]
BUDGETS = [
    Budget("agent-daily-tokens", "agent:support-bot", "day", tokens=10**12),
    Budget("team-monthly-cost", "team:support", "month", cost=10.0**6),
]
# Example numbers for the benchmark, not real prices.
PRICES = PricesConfig(default=ModelPrice(input_per_million=1.0, output_per_million=2.0))
PROMPT = (
    "You are a support agent. The customer writes: my order 12345 arrived damaged, the box was "
    "crushed and the glass inside is broken; I would like a refund or a replacement, whichever "
    "is faster. Please check the order history and the refund policy before answering. "
) * 5  # about 1 KB


class Clock:
    """Advances 2 ms per reading: logs stay at a steady ~500 entries, every hit is admitted."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        self.now += 0.002
        return self.now


async def per_operation(operation: Callable[[], Awaitable[object]], operations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(operations):
            await operation()
        best = min(best, (time.perf_counter() - start) / operations)
    return best * 1e6


def per_call(operation: Callable[[], object], operations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(operations):
            operation()
        best = min(best, (time.perf_counter() - start) / operations)
    return best * 1e6


async def reserve_and_reconcile(limits: Limits) -> None:
    reservation = await limits.budgets.reserve(BUDGETS, Usage("gpt-4o", 300, 256))
    assert isinstance(reservation, Reservation)
    await limits.budgets.reconcile(reservation, Usage("gpt-4o", 300, 120))


async def bench_backend(name: str, limits: Limits, baseline: float, args: argparse.Namespace) -> None:
    cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("RateLimiter.hit, 1 limit", lambda: limits.rate_limiter.hit(ONE_LIMIT)),
        ("RateLimiter.hit, 3 limits", lambda: limits.rate_limiter.hit(THREE_LIMITS)),
        ("BudgetLedger.reserve + reconcile, 2 budgets", lambda: reserve_and_reconcile(limits)),
        (
            "LoopDetector.observe",
            lambda: limits.loops.observe("bot", "s1", "search", {"q": "refund", "n": 3}),
        ),
    ]
    for label, operation in cases:
        micros = await per_operation(operation, args.operations, args.repeat)
        print(f"  {name:6} {label:44} {micros:8.1f} us   {micros / baseline:6.1f}x baseline")


async def noop() -> None:
    return None


async def main(args: argparse.Namespace) -> None:
    memory = build_limits(Config(limits=LimitsConfig(prices=PRICES)), backend=memory_backend(), clock=Clock())
    baseline = await per_operation(noop, args.operations, args.repeat)
    print(f"memory  (baseline: await an empty coroutine {baseline:.2f} us)")
    await bench_backend("memory", memory, baseline, args)

    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir)).start()
        try:
            config = Config(
                state=StateConfig(redis_url=server.url),
                limits=LimitsConfig(
                    prices=PRICES, kill_switch=KillSwitchConfig(refresh_interval_seconds=1.0)
                ),
            )
            shared = build_limits(config, clock=Clock(), on_kill_event=lambda _event: None)
            client = shared.backend.client
            assert client is not None
            ping = await per_operation(client.ping, args.operations, args.repeat)
            print(f"redis   (baseline: one PING round trip on loopback {ping:.1f} us)")
            await bench_backend("redis", shared, ping, args)
            await bench_kill_switch(shared, args)
            await shared.stop()
        finally:
            server.stop()

    for model, label in (("gpt-4o", "o200k_base"), ("claude-sonnet-4-5", "estimate")):
        count_tokens(model, [PROMPT])  # load the encoding first
        micros = per_call(lambda m=model: count_tokens(m, [PROMPT]), args.operations // 10, args.repeat)
        print(f"count_tokens, 1 KB prompt, {label:10} {micros:8.1f} us")


async def bench_kill_switch(limits: Limits, args: argparse.Namespace) -> None:
    switch = limits.kill_switch
    await switch.start()
    empty = per_call(lambda: switch.blocked("bot", "search", "openai"), args.operations * 10, args.repeat)
    for target in ("other-bot", "delete_user"):
        await switch.engage("agent" if target.endswith("bot") else "tool", target, "benchmark", "bench")
    engaged = per_call(lambda: switch.blocked("bot", "search", "openai"), args.operations * 10, args.repeat)
    print(f"KillSwitch.blocked, none engaged {empty:8.2f} us; two engaged (not matching) {engaged:8.2f} us")
    await switch.release("agent", "other-bot", "", "bench")
    await switch.release("tool", "delete_user", "", "bench")
    await switch.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operations", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    uvloop.run(main(parser.parse_args()))
