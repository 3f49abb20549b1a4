"""Shared-state benchmark (not a test): what approvals and sessions cost per call.

    .venv/bin/python -m tests.bench.state [--calls 2000]

Starts a redis-server on loopback and measures, on one event loop (as the service runs), the
median time per operation on both backends, next to the baseline measured in the same run: one
Redis PING round trip on the same client. The machine is shared: compare the ratios.

- ``session observe``: the per-call cost of ``input.session`` (one Lua script on Redis);
- ``retry: no approval yet``: what a call that needs approval costs in retry mode before any
  decision (look for an approval, look for a pending request, create one);
- ``retry: pending``: a retry while the request is pending (the common repeated case);
- ``release a held call``: from ``decide`` on replica A to ``wait`` returning on replica B.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ext_proc.approvals import ApprovalGate, ApprovalRequirement, Mode
from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.store import ApprovalStore, StoreSettings
from ext_proc.approvals.webhook import NullNotifier
from ext_proc.config import StateConfig
from ext_proc.logs import configure_logging
from ext_proc.sessions import MemorySessionTracker, RedisSessionTracker, SessionSettings, SessionTracker
from ext_proc.state.redis_client import connect
from tests.redis_server import RedisServer

SETTINGS = StoreSettings(retention_seconds=3600, max_pending=1_000_000, retry_window_seconds=600)
SESSIONS = SessionSettings(
    history=20, idle_seconds=1800, max_sessions=10000, max_remembered=256, agent_memory_seconds=86400
)
NEED = ApprovalRequirement("refund above 500", "finance")


def action(index: int) -> dict[str, Any]:
    return {
        "protocol": "mcp", "method": "tools/call", "tool": f"tool_{index % 40}",
        "arguments": {"order": f"A-{index}", "amount": 900, "note": "x" * 200},
    }  # fmt: skip


async def median_us(calls: int, operation: Callable[[int], Awaitable[Any]]) -> float:
    samples = []
    for index in range(calls):
        start = time.perf_counter()
        await operation(index)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


async def bench_sessions(tracker: SessionTracker, calls: int) -> float:
    return await median_us(
        calls, lambda i: tracker.observe(f"agent-{i % 50}", f"m-{i % 200}", action(i), "crm")
    )


async def bench_retry(store: ApprovalStore, calls: int) -> tuple[float, float]:
    gate = ApprovalGate(store, NullNotifier(), mode=Mode.RETRY, hold_seconds=60, ttl_seconds=900)
    first = await median_us(calls, lambda i: gate.check(NEED, agent="agent-1", action=action(i)))
    again = await median_us(calls, lambda i: gate.check(NEED, agent="agent-1", action=action(i)))
    return first, again


async def bench_release(replica_a: ApprovalStore, replica_b: ApprovalStore, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        approval = await replica_b.create(agent=None, action={}, reason="r", ttl_seconds=600)
        released = asyncio.Event()
        finished = 0.0

        async def wait(approval_id: str = approval.id, done: asyncio.Event = released) -> None:
            nonlocal finished
            await replica_b.wait(approval_id, timeout=60)
            finished = time.perf_counter()
            done.set()

        task = asyncio.create_task(wait())
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        await replica_a.decide(approval.id, True, "alice")
        await released.wait()
        await task
        samples.append(finished - start)
    return statistics.median(samples) * 1e6


async def main(calls: int) -> None:
    # Audit events are part of the cost: rendered as in the service, written nowhere.
    configure_logging("info", "json", stream=open(os.devnull, "wb"))  # noqa: SIM115 (process-long)
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir)).start()
        try:
            await run(server, calls)
        finally:
            server.stop()


async def run(server: RedisServer, calls: int) -> None:
    state = StateConfig(redis_url=server.url, redis_timeout_ms=1000)
    client_a, client_b = connect(state), connect(state)
    try:
        ping = await median_us(calls, lambda _: client_a.ping())
        rows: list[tuple[str, float, float]] = []
        memory = await bench_sessions(MemorySessionTracker(SESSIONS), calls)
        shared = await bench_sessions(RedisSessionTracker(client_a, SESSIONS), calls)
        rows.append(("session observe", memory, shared))
        memory_first, memory_again = await bench_retry(MemoryApprovalStore(SETTINGS), calls)
        redis_store = RedisApprovalStore(client_a, SETTINGS)
        redis_first, redis_again = await bench_retry(redis_store, calls)
        rows.append(("retry: no approval yet", memory_first, redis_first))
        rows.append(("retry: pending", memory_again, redis_again))
        memory_store = MemoryApprovalStore(SETTINGS)
        memory_release = await bench_release(memory_store, memory_store, 50)
        replica_b = RedisApprovalStore(client_b, SETTINGS, prefix="bench:b:")
        replica_a = RedisApprovalStore(client_a, SETTINGS, prefix="bench:b:")
        redis_release = await bench_release(replica_a, replica_b, 50)
        rows.append(("release a held call (A -> B)", memory_release, redis_release))
        await replica_b.close()
    finally:
        await client_a.aclose()
        await client_b.aclose()
    print(f"baseline: Redis PING round trip {ping:.0f} us (median of {calls})")
    print(f"{'operation':32} {'memory us':>10} {'redis us':>10} {'redis/PING':>11}")
    for name, in_memory, in_redis in rows:
        print(f"{name:32} {in_memory:10.1f} {in_redis:10.1f} {in_redis / ping:10.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))
