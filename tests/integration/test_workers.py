"""Several worker processes serve one port through real Envoy, sharing state in a real Redis.

`server.workers: 2`: the supervisor starts two workers bound to the same port (SO_REUSEPORT) and
Envoy's connections (one call per connection, envoy_bootstrap/clusters.py) spread across them.
What must hold as with one process: a rate limit admits exactly its limit, a kill switch stops
every worker, /metrics counts every worker's decisions, each worker's audit file is a chain that
verifies, a worker that dies is replaced, and SIGTERM stops them all (the last test).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.redis_server import RedisServer

pytestmark = pytest.mark.envoy

TOKEN = "tok-ops"
AUTH = {"authorization": f"Bearer {TOKEN}"}
WORKERS = 2
# Two processes load everything at once on a 2-core machine that is also running Envoy.
STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def workers(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer, redis_server: RedisServer
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("workers")
    (workdir / "tokens").write_text(f"olga {TOKEN}\n")
    sections: dict[str, dict[str, Any]] = {
        "server": {"workers": WORKERS},
        "admin": {"token_file": str(workdir / "tokens")},
        # A generous deadline: these tests are about sharing, not about a busy machine's Redis.
        "state": {"redis_url": redis_server.url.replace("/0", "/8"), "redis_timeout_ms": 1000},
        "audit": {"file": {"path": str(workdir / "audit.jsonl")}},
    }
    generator = start_stack(
        workdir,
        copy_policies("limits", workdir / "policies"),
        upstream,
        service_sections=sections,
        startup_seconds=STARTUP_SECONDS,
    )
    stack = next(generator)
    try:
        wait_for(lambda: len(serving(stack)) == WORKERS, "both workers serving", STARTUP_SECONDS)
        yield stack
    finally:
        generator.close()


def serving(stack: Stack) -> list[str]:
    """The workers that said they serve, once per start (a restarted worker says it again)."""
    return [e["worker"] for e in stack.service.log_events() if e.get("event") == "serving" and "worker" in e]


def wait_for(condition: Any, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def worker_pids(stack: Stack) -> list[int]:
    assert stack.service.process is not None
    out = subprocess.run(
        ["pgrep", "-P", str(stack.service.process.pid)], capture_output=True, text=True, check=False
    )
    return sorted(int(pid) for pid in out.stdout.split())


def audit_decisions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return [e for e in events if e.get("event") == "decision"]


def burst(stack: Stack, path: str, count: int, headers: dict[str, str] | None = None) -> list[int]:
    """``count`` requests at once (Envoy then holds as many calls to Chaperone, each on a connection)."""

    async def send() -> list[int]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
            responses = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(count)))
        return [r.status_code for r in responses]

    return asyncio.run(send())


def test_calls_spread_across_the_workers_and_each_writes_a_chain_that_verifies(workers: Stack) -> None:
    files = [workers.service.workdir / "audit.jsonl", workers.service.workdir / "audit.worker-1.jsonl"]
    for _ in range(10):
        assert set(burst(workers, "/echo/spread", 32)) == {200}
        if all(audit_decisions(file) for file in files):
            break
    assert all(audit_decisions(file) for file in files), "one worker got no call"
    verified = subprocess.run(
        [sys.executable, "-m", "ext_proc", "audit", "verify", str(files[1])], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    chains = {audit_decisions(file)[0]["chain"] for file in files}
    assert len(chains) == WORKERS  # a segment of its own per worker


def test_a_rate_limit_admits_exactly_its_limit_across_workers(workers: Stack) -> None:
    statuses = burst(workers, "/echo/limited/1", 30, {"x-caller": "c-workers"})
    assert statuses.count(200) == 10 and statuses.count(429) == 20


def test_metrics_count_the_decisions_of_every_worker(workers: Stack) -> None:
    def checks() -> float:
        text = httpx.get(f"{workers.service.admin_url}/metrics").text
        pattern = r'^chaperone_decisions_total\{code="none",phase="check",result="allowed"\} (\S+)$'
        return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))

    before = checks()
    assert set(burst(workers, "/echo/counted", 40)) == {200}
    assert checks() - before == 40


def test_a_kill_switch_stops_every_worker(workers: Stack) -> None:
    engage = {"scope": "upstream", "target": "upstream", "reason": "incident 9"}
    admin = workers.service.admin_url
    assert httpx.post(f"{admin}/api/kill-switch", headers=AUTH, json=engage).status_code in (200, 201)
    try:
        wait_for(lambda: set(burst(workers, "/echo/killed", 32)) == {503}, "every worker refusing")
    finally:
        released = httpx.delete(f"{admin}/api/kill-switch?scope=upstream&target=upstream", headers=AUTH)
        assert released.status_code == 200, released.text
    wait_for(lambda: set(burst(workers, "/echo/released", 32)) == {200}, "every worker serving again")


def test_a_worker_that_dies_is_replaced(workers: Stack) -> None:
    before = worker_pids(workers)
    assert len(before) == WORKERS
    os.kill(before[-1], signal.SIGKILL)
    wait_for(lambda: len(set(worker_pids(workers)) - set(before)) == 1, "a new worker")
    wait_for(lambda: len(serving(workers)) == WORKERS + 1, "the new worker serving", STARTUP_SECONDS)
    wait_for(lambda: set(burst(workers, "/echo/after", 16)) == {200}, "the service answering")


def test_sigterm_stops_every_worker(workers: Stack) -> None:
    # The module's last test: it stops the stack the others used.
    pids = worker_pids(workers)
    assert len(pids) == WORKERS
    assert workers.service.stop() == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
