"""Rate limits, budgets, loops and the kill switch through real Envoy, on a real redis-server.

Two complete replicas (each an Envoy and a Chaperone) share one Redis: a rate limit admits
exactly its limit across both, and a kill switch engaged on one stops traffic on the other. LLM
calls go through the official OpenAI SDK to the demo upstream, MCP calls through the real MCP
client and server.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mcp.shared.exceptions import MCPError

from tests.harness import Stack, UpstreamServer, copy_policies, free_port, start_stack
from tests.mcp_server import McpServerThread, call_tool
from tests.redis_server import RedisServer

pytestmark = pytest.mark.envoy

TOKEN = "tok-ops"
AUTH = {"authorization": f"Bearer {TOKEN}"}
USER = [{"role": "user", "content": "hi"}]
ANSWER = " ".join(["word"] * 80)  # about 130 tokens by the streaming estimate


def _sections(workdir: Any, redis_url: str) -> dict[str, dict[str, Any]]:
    (workdir / "tokens").write_text(f"olga {TOKEN}\n")
    return {
        "admin": {"token_file": str(workdir / "tokens")},
        "state": {"redis_url": redis_url},
        "limits": {
            # Notifications, not polling; the copy is not stale before its next read.
            "kill_switch": {"refresh_interval_seconds": 30, "stale_after_seconds": 60},
            "prices": {"models": {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}}},
        },
    }


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer, redis_server: RedisServer
) -> Iterator[tuple[Stack, Stack]]:
    redis_url = redis_server.url.replace("/0", "/6")
    stacks: list[Stack] = []
    generators = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path_factory.mktemp(f"limits-{name}")
            generator = start_stack(
                workdir,
                copy_policies("limits", workdir / "policies"),
                upstream,
                service_sections=_sections(workdir, redis_url),
            )
            generators.append(generator)
            stacks.append(next(generator))
        yield stacks[0], stacks[1]
    finally:
        for generator in generators:
            generator.close()


def test_a_rate_limit_admits_exactly_its_limit_across_two_replicas(replicas: tuple[Stack, Stack]) -> None:
    a, b = replicas

    def send(index: int) -> httpx.Response:
        stack = (a, b)[index % 2]
        with stack.client() as client:
            return client.get(f"/echo/limited/{index}", headers={"x-caller": "c-rate"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(30)))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) == 10 and len(refused) == 20
    error = refused[0].json()["error"]
    assert error["code"] == "rate_limited" and error["limit"] == "caller-rpm"
    assert 1 <= int(refused[0].headers["retry-after"]) <= 60
    with a.client() as client:  # another caller has a count of its own
        assert client.get("/echo/limited/x", headers={"x-caller": "c-other"}).status_code == 200


def test_a_kill_switch_engaged_on_one_replica_stops_the_other(replicas: tuple[Stack, Stack]) -> None:
    a, b = replicas
    engaged = subprocess.run(
        [sys.executable, "-m", "ext_proc", "kill", "engage", "--admin", a.service.admin_url,
         "--token-file", str(a.service.workdir / "tokens"),
         "--scope", "upstream", "--target", "upstream", "--reason", "incident 7"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert engaged.returncode == 0, engaged.stdout + engaged.stderr
    try:
        deadline = time.monotonic() + 1.0
        with b.client() as client:
            while (refused := client.get("/echo/anything")).status_code != 503:
                assert time.monotonic() < deadline, "the other replica did not stop within a second"
                time.sleep(0.02)
        assert refused.json()["error"] == {
            "code": "kill_switch",
            "scope": "upstream",
            "message": "stopped by an operator",
        }
        listed = httpx.get(f"{b.service.admin_url}/api/kill-switch", headers=AUTH).json()["kills"]
        assert [(k["scope"], k["target"], k["actor"]) for k in listed] == [("upstream", "upstream", "olga")]
    finally:
        released = httpx.delete(
            f"{b.service.admin_url}/api/kill-switch?scope=upstream&target=upstream", headers=AUTH
        )
        assert released.status_code == 200, released.text
    deadline = time.monotonic() + 1.0
    with a.client() as client:
        while client.get("/echo/anything").status_code != 200:
            assert time.monotonic() < deadline, "the release did not reach the other replica"
            time.sleep(0.02)
    events = [
        e for e in a.service.log_events() + b.service.log_events() if e.get("event") == "operator_action"
    ]
    assert {e.get("action") for e in events} >= {"engage", "release"} or len(events) >= 2


@pytest.mark.parametrize("fail_open", [False, True])
def test_when_redis_does_not_answer_the_configured_fail_mode_applies(
    tmp_path: Path, upstream: UpstreamServer, fail_open: bool
) -> None:
    sections = _sections(tmp_path, f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    sections["state"]["fail_open"] = fail_open
    policies = copy_policies("limits", tmp_path / "policies")
    for stack in start_stack(tmp_path, policies, upstream, service_sections=sections):
        with stack.client() as client:
            response = client.get("/echo/limited/1", headers={"x-caller": "c-outage"})
        if fail_open:
            assert response.status_code == 200  # uncounted, and logged as such
        else:
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "state_unavailable"
        assert stack.service.wait_for_event(lambda e: e.get("event") == "state_unavailable")
        metrics = httpx.get(f"{stack.service.admin_url}/metrics").text
        mode = "open" if fail_open else "closed"
        assert f'chaperone_fail_mode_events_total{{component="state",mode="{mode}"}}' in metrics


def _openai(stack: Stack, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{stack.url}/v1", api_key="sk-agent", default_headers=headers, max_retries=0
    )


def test_a_token_budget_counts_the_reported_usage_and_then_refuses(replicas: tuple[Stack, Stack]) -> None:
    a, b = replicas
    # Each call reserves its estimate (14 prompt tokens: every string the SDK sends, keys and model
    # name included, + max_tokens 20 = 34) and is then charged what the upstream reported (12 + 3
    # = 15 tokens). Charged by the estimate, a budget of 120 would admit 3 calls; charged by the
    # usage, it admits 6: the 7th would need 90 + 34 > 120.
    headers = {"x-caller": "c-budget", "x-budget": "120", "x-demo-reply": "ok ok ok", "x-demo-delay-ms": "0"}
    admitted = 0
    with _openai(a, **headers) as first, _openai(b, **headers) as second:
        for index in range(10):
            client = (first, second)[index % 2]
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=20)  # type: ignore[arg-type]
            except openai.RateLimitError as error:
                body = error.body if isinstance(error.body, dict) else {}
                assert body.get("code") == "budget_exceeded" and body.get("limit") == "caller-daily-tokens"
                assert int(error.response.headers["retry-after"]) >= 1
                break
            admitted += 1
    assert admitted == 6


def test_a_stream_that_crosses_its_budget_is_ended_with_the_providers_error(
    replicas: tuple[Stack, Stack],
) -> None:
    a, _ = replicas
    headers = {
        "x-caller": "c-stream",
        "x-budget": "60",
        "x-demo-reply": ANSWER,
        "x-demo-delta-chars": "10",
        "x-demo-delay-ms": "0",
    }
    with _openai(a, **headers) as client:
        received = ""
        with pytest.raises(openai.APIError) as error:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=USER, max_tokens=5, stream=True
            )  # type: ignore[arg-type]
            for chunk in stream:
                received += chunk.choices[0].delta.content or "" if chunk.choices else ""
        assert "budget" in str(error.value)
    assert 0 < len(received) < len(ANSWER)
    summary = a.service.wait_for_event(lambda e: e.get("event") == "stream_summary" and "stopped" in e)
    assert summary["stopped"]["reason"] == "budget_exceeded"


def test_a_prompt_is_judged_on_its_estimated_tokens(replicas: tuple[Stack, Stack]) -> None:
    a, _ = replicas
    with _openai(a, **{"x-caller": "c-size"}) as client:
        long = [{"role": "user", "content": "lorem ipsum dolor sit amet " * 300}]
        with pytest.raises(openai.PermissionDeniedError) as error:
            client.chat.completions.create(model="gpt-4o-mini", messages=long)  # type: ignore[arg-type]
        assert "the prompt is too long" in str(error.value)
        assert client.chat.completions.create(model="gpt-4o-mini", messages=USER).choices  # type: ignore[arg-type]


def test_tokens_and_cost_reach_the_audit_trail(replicas: tuple[Stack, Stack]) -> None:
    a, _ = replicas
    with _openai(a, **{"x-caller": "c-audit", "x-budget": "1000", "x-demo-reply": "one two"}) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=10)  # type: ignore[arg-type]
    summary = a.service.wait_for_event(
        lambda e: e.get("event") == "stream_summary" and e.get("usage", {}).get("output_tokens") == 2
    )
    assert summary["tokens"] == {"input": 12, "output": 2}
    assert summary["cost"] == pytest.approx((12 * 0.15 + 2 * 0.6) / 1_000_000)


# -- MCP: loops and a tool's kill switch ---------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("limits-mcp")
    server = McpServerThread().start()
    try:
        sections = _sections(workdir, redis_server.url.replace("/0", "/7"))
        policies = copy_policies("limits", workdir / "policies")
        yield from start_stack(workdir, policies, server, service_sections=sections)  # type: ignore[arg-type]
    finally:
        server.stop()


async def test_a_repeating_tool_call_is_refused_as_a_loop(mcp_stack: Stack) -> None:
    url = f"{mcp_stack.url}/mcp"
    for _ in range(3):
        result = await call_tool(url, "get_customer", {"customer_id": 7})
        assert not isinstance(result, MCPError)
    refused = await call_tool(url, "get_customer", {"customer_id": 7})
    assert isinstance(refused, MCPError)
    assert refused.error.data["code"] == "loop_detected" and refused.error.data["retry_after"] == 300
    assert refused.error.data["reasons"] == ["the same lookup again"]
    other = await call_tool(url, "get_customer", {"customer_id": 8})
    assert not isinstance(other, MCPError), "other arguments are another call"


async def test_a_killed_tool_is_refused_and_the_others_still_work(mcp_stack: Stack) -> None:
    admin = mcp_stack.service.admin_url
    engage = {"scope": "tool", "target": "refund_payment", "reason": "double refunds"}
    assert httpx.post(f"{admin}/api/kill-switch", headers=AUTH, json=engage).status_code in (200, 201)
    try:
        refused = await call_tool(f"{mcp_stack.url}/mcp", "refund_payment", {"order_id": "o", "amount": 1})
        assert isinstance(refused, MCPError) and refused.error.data["code"] == "kill_switch"
        fine = await call_tool(f"{mcp_stack.url}/mcp", "run_query", {"sql": "select 1"})
        assert not isinstance(fine, MCPError)
    finally:
        httpx.delete(f"{admin}/api/kill-switch?scope=tool&target=refund_payment", headers=AUTH)
