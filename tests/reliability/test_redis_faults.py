"""Redis killed under a running service and started again, through real Envoy: the limited calls
get 503 ``state_unavailable`` at once (not a 403, not only once the kill switch copy is stale),
and everything works again shortly after Redis is back."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.redis_server import RedisServer
from tests.reliability.conftest import eventually

pytestmark = pytest.mark.envoy


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path: Path, upstream: UpstreamServer, redis: RedisServer) -> Iterator[Stack]:
    policies = copy_policies("limits", tmp_path / "policies")
    sections = {"state": {"redis_url": redis.url}}
    yield from start_stack(tmp_path, policies, upstream, service_sections=sections)


def limited(stack: Stack, index: int) -> httpx.Response:
    with stack.client() as client:
        return client.get(f"/echo/limited/{index}", headers={"x-caller": f"c-{index}"})


def test_redis_killed_is_503_at_once_and_restarted_is_served_again(stack: Stack, redis: RedisServer) -> None:
    assert limited(stack, 0).status_code == 200
    assert redis.process is not None
    redis.process.send_signal(signal.SIGKILL)
    redis.process.wait(timeout=10)
    refused = limited(stack, 1)  # the first call after the kill, well inside the kill switch's 10 s
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "state_unavailable"
    assert {limited(stack, index).status_code for index in range(2, 6)} == {503}
    restarted = RedisServer(redis.workdir)
    restarted.port = redis.port
    redis.process = restarted.start().process
    eventually(lambda: limited(stack, 9).status_code == 200, timeout=10)
    assert stack.service.wait_for_event(lambda e: e.get("event") == "state_available")
