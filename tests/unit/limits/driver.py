"""A separate service process for the concurrency tests: hammers one limit or budget in Redis.

    python -m tests.unit.limits.driver rate|budget --url URL --prefix P --attempts N --concurrency C

Waits until every process of the run has connected (a counter in Redis as a barrier), then makes
its attempts, C at a time, and prints {"admitted": n, "refused": n, "errors": n} as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson

from ext_proc.config import Config, StateConfig
from ext_proc.errors import ChaperoneError
from ext_proc.limits.budgets import Reservation, Usage
from ext_proc.limits.factory import Limits, build_limits
from ext_proc.limits.fields import Budget, RateLimit
from ext_proc.limits.settings import LimitsConfig

RATE = RateLimit("shared-rpm", "agent:hammered", 250, 3600.0)
BUDGET = Budget("shared-tokens", "agent:hammered", "day", tokens=1000)
TOKENS_PER_CALL = 7


async def attempt(limits: Limits, kind: str) -> bool:
    if kind == "rate":
        return (await limits.rate_limiter.hit([RATE])).allowed
    result = await limits.budgets.reserve([BUDGET], Usage("gpt-4o", TOKENS_PER_CALL, 0))
    return isinstance(result, Reservation)


async def barrier(limits: Limits, key: str, parties: int) -> None:
    client = limits.backend.client
    assert client is not None
    await client.incr(key)
    deadline = time.monotonic() + 60
    while int(await client.get(key) or 0) < parties:
        if time.monotonic() > deadline:
            raise SystemExit("the other processes never came")
        await asyncio.sleep(0.005)


async def run(args: argparse.Namespace) -> dict[str, int]:
    # A generous deadline: two processes on two loaded cores must not time out, only compete.
    state = StateConfig(redis_url=args.url, redis_timeout_ms=5000)
    limits = build_limits(Config(state=state, limits=LimitsConfig(key_prefix=args.prefix)))
    counts = {"admitted": 0, "refused": 0, "errors": 0}
    remaining = iter(range(args.attempts))

    async def worker() -> None:
        for _ in remaining:
            try:
                counts["admitted" if await attempt(limits, args.kind) else "refused"] += 1
            except ChaperoneError:
                counts["errors"] += 1

    try:
        await barrier(limits, f"{args.prefix}barrier", args.parties)
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    finally:
        await limits.stop()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["rate", "budget"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--attempts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--parties", type=int, default=2)
    sys.stdout.write(orjson.dumps(asyncio.run(run(parser.parse_args()))).decode() + "\n")


if __name__ == "__main__":
    main()
