"""Redis killed under a running service and started again, through real Envoy: every call that needs
Redis (a rate limit, a token budget, a loop count, an approval) gets 503 ``state_unavailable`` at
once (not a 403, not only once the kill switch copy is stale); once the kill switch copy is older
than ``limits.kill_switch.stale_after_seconds`` every call does; and everything works again
shortly after Redis is back."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ext_proc.demo.upstream import create_app
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.redis_server import RedisServer
from tests.reliability.conftest import eventually, ready

pytestmark = pytest.mark.envoy


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


# Long enough for the calls right after the kill to be answered on their own Redis call, not on
# the stale kill switch copy (whose refusal says so).
STALE_AFTER_SECONDS = 6
# A call that needs an approval, added to the limits policy: held while Redis answers.
APPROVAL_RULE = """
allow := {"allowed": true, "require_approval": {"reason": "a payout"}} if {
	input.phase == "check"
	input.attributes.request.http.path == "/echo/payout"
}
"""
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture
def stack(tmp_path: Path, redis: RedisServer) -> Iterator[Stack]:
    policies = copy_policies("limits", tmp_path / "policies")
    with (policies / "policy.rego").open("a") as policy:
        policy.write(APPROVAL_RULE)
    sections = {
        "state": {"redis_url": redis.url},
        "limits": {"kill_switch": {"stale_after_seconds": STALE_AFTER_SECONDS}},
    }
    upstream = UpstreamServer(create_app()).start()  # answers LLM and MCP calls
    try:
        yield from start_stack(tmp_path, policies, upstream, service_sections=sections)
    finally:
        upstream.stop()


def limited(stack: Stack, index: int) -> httpx.Response:
    with stack.client() as client:
        return client.get(f"/echo/limited/{index}", headers={"x-caller": f"c-{index}"})


def needing_redis(stack: Stack, *, approval: bool = True) -> dict[str, httpx.Response]:
    """One call per kind of shared state: a budget, a loop count, an approval (held while Redis
    answers, so only asked for while it does not)."""
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    lookup = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    lookup["params"] = {"name": "get_customer", "arguments": {"customer_id": 1}}
    with stack.client(timeout=5) as client:
        answers = {
            "budget": client.post(
                "/v1/chat/completions", json=chat, headers={"x-caller": "b", "x-budget": "9000"}
            ),
            "loop": client.post("/mcp", json=lookup, headers=MCP_HEADERS),
        }
        if approval:
            answers["approval"] = client.get("/echo/payout")
        return answers


def get(stack: Stack, path: str) -> httpx.Response:
    with stack.client() as client:
        return client.get(path)


def test_redis_killed_is_503_at_once_and_restarted_is_served_again(stack: Stack, redis: RedisServer) -> None:
    assert limited(stack, 0).status_code == 200
    answers = needing_redis(stack, approval=False)
    assert {kind: answer.status_code for kind, answer in answers.items()} == {"budget": 200, "loop": 200}
    assert redis.process is not None
    redis.process.send_signal(signal.SIGKILL)
    redis.process.wait(timeout=10)
    refused = limited(stack, 1)  # the first call after the kill, well inside STALE_AFTER_SECONDS
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "state_unavailable"
    assert {limited(stack, index).status_code for index in range(2, 6)} == {503}
    for kind, answer in needing_redis(stack).items():
        assert answer.status_code == 503, (kind, answer.text)
        assert answer.json()["error"]["code"] == "state_unavailable", kind
        assert "kill switch" not in answer.text, kind  # refused on its own call to Redis
    # A call that needs no shared state is served on the kill switch copy until it is stale; from
    # then on every call is refused, and the replica says so in its readiness.
    assert ready(stack.service.admin_url) == 200
    eventually(lambda: get(stack, "/echo/x").status_code == 503, timeout=STALE_AFTER_SECONDS + 5)
    assert get(stack, "/echo/x").json()["error"]["code"] == "state_unavailable"
    assert ready(stack.service.admin_url) == 503
    restarted = RedisServer(redis.workdir)
    restarted.port = redis.port
    redis.process = restarted.start().process
    eventually(lambda: limited(stack, 9).status_code == 200, timeout=10)
    assert ready(stack.service.admin_url) == 200
    assert get(stack, "/echo/x").status_code == 200
    answers = needing_redis(stack, approval=False)
    assert {kind: answer.status_code for kind, answer in answers.items()} == {"budget": 200, "loop": 200}
    assert stack.service.wait_for_event(lambda e: e.get("event") == "state_available")
