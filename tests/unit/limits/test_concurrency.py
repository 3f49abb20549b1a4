"""Two service processes sharing one Redis enforce one limit exactly, under concurrent load."""

from __future__ import annotations

import subprocess
import sys
import uuid

import orjson
import pytest
import redis

from tests.redis_server import RedisServer
from tests.unit.limits.driver import BUDGET, RATE, TOKENS_PER_CALL

PROCESSES = 2
ATTEMPTS = 400  # per process: together far more than the limit


def hammer(kind: str, server: RedisServer) -> tuple[str, list[dict[str, int]]]:
    prefix = f"concurrency:{uuid.uuid4().hex[:8]}:"
    command = [
        sys.executable, "-m", "tests.unit.limits.driver", kind, "--url", server.url, "--prefix", prefix,
        "--attempts", str(ATTEMPTS), "--concurrency", "16", "--parties", str(PROCESSES),
    ]  # fmt: skip
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        results.append(orjson.loads(stdout))
    assert all(result["errors"] == 0 for result in results), results
    return prefix, results


@pytest.mark.timeout(180)
def test_two_processes_admit_exactly_the_limit(redis_server: RedisServer) -> None:
    _, results = hammer("rate", redis_server)
    assert sum(r["admitted"] for r in results) == RATE.limit
    assert sum(r["refused"] for r in results) == PROCESSES * ATTEMPTS - RATE.limit


@pytest.mark.timeout(180)
def test_two_processes_never_reserve_beyond_a_budget(redis_server: RedisServer) -> None:
    prefix, results = hammer("budget", redis_server)
    assert BUDGET.tokens is not None
    admitted = sum(r["admitted"] for r in results)
    assert admitted == BUDGET.tokens // TOKENS_PER_CALL  # every call that fits, and not one more
    client = redis.Redis.from_url(redis_server.url)
    try:
        (key,) = client.keys(f"{prefix}budget:*")
        assert int(client.get(key) or 0) == admitted * TOKENS_PER_CALL <= BUDGET.tokens
    finally:
        client.close()
