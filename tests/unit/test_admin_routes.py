"""The admin port's oversight routes on a real aiohttp server: the decisions feed (recent events and
a live Server-Sent Events stream), policy status, metrics, and the console's static page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.console import console_routes
from ext_proc.admin.decisions import decisions_routes
from ext_proc.admin.policy_routes import policy_routes
from ext_proc.audit import AuditLog, DecisionFeed
from ext_proc.config import PolicyConfig
from ext_proc.metrics.http import metrics_routes
from ext_proc.metrics.prometheus import PrometheusMetrics
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy.reloader import PolicyReloader
from ext_proc.policy.status import PolicyStatusSource
from tests.unit.audit.helpers import write_decisions

FIXTURES = Path(__file__).parents[1] / "fixtures"
AUTH = {"authorization": "Bearer tok-1"}


@pytest.fixture
def feed() -> DecisionFeed:
    return DecisionFeed(size=5)


@pytest.fixture
def audit(feed: DecisionFeed) -> AuditLog:
    return AuditLog([], feed=feed)


@pytest.fixture
async def client(tmp_path: Path, feed: DecisionFeed) -> AsyncIterator[TestClient[Any, Any]]:
    (tmp_path / "tokens").write_text("tok-1\n")
    directory = FIXTURES / "policies" / "rewrite"
    engine = RegorusEngine(load_bundle(directory), "envoy/authz/allow")
    status = PolicyStatusSource(
        PolicyConfig(directory=str(directory)), engine, PolicyReloader(engine, directory, 1.0)
    )
    metrics = PrometheusMetrics(policy_status=status, process=False)
    metrics.decision("check", True, "none", 0.2)
    app = build_admin_app(
        lambda: True,
        str(tmp_path / "tokens"),
        [policy_routes(status), decisions_routes(feed), console_routes(), metrics_routes(metrics)],
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_recent_decisions_are_the_last_n_redacted_events(
    client: TestClient[Any, Any], audit: AuditLog
) -> None:
    write_decisions(audit, 7, reasons=None, agent="mail bob@example.com")
    response = await client.get("/api/decisions?limit=3", headers=AUTH)
    decisions = (await response.json())["decisions"]
    assert [d["decision_id"] for d in decisions] == ["decision-4", "decision-5", "decision-6"]
    assert decisions[0]["agent"] == "mail [REDACTED:EMAIL]"
    assert all("hash" in d for d in decisions), "the events as written to the log"
    assert len((await (await client.get("/api/decisions?limit=100", headers=AUTH)).json())["decisions"]) == 5


async def test_the_feed_needs_the_operator_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/decisions")).status == 401
    assert (await client.get("/api/decisions/stream")).status == 401
    assert (await client.get("/api/decisions?limit=-1", headers=AUTH)).status == 400


async def read_event(response: ClientResponse) -> dict[str, Any]:
    block = b""
    while not block.endswith(b"\n\n"):
        block += await asyncio.wait_for(response.content.readline(), 5)
    if block.startswith(b":"):
        return await read_event(response)
    return orjson.loads(block.removeprefix(b"data: "))  # type: ignore[no-any-return]


async def test_the_stream_sends_the_backlog_then_live_events(
    client: TestClient[Any, Any], audit: AuditLog
) -> None:
    write_decisions(audit, 2)
    async with client.get("/api/decisions/stream?backlog=2", headers=AUTH) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert (await read_event(response))["decision_id"] == "decision-0"
        assert (await read_event(response))["decision_id"] == "decision-1"
        audit.event("operator_action", operator="alice")
        live = await read_event(response)
        assert live["event"] == "operator_action" and live["operator"] == "alice"


async def test_a_slow_reader_loses_events_not_memory(feed: DecisionFeed, audit: AuditLog) -> None:
    subscription = feed.subscribe()
    for _ in range(1005):
        audit.event("x")
    assert subscription.dropped == 6  # and the checkpoint after the 1000th event
    feed.close()
    seen = 0
    while (event := await subscription.next(1)) is not None:
        seen += 1 if event else 0
    assert seen < 1005


async def test_policy_status(client: TestClient[Any, Any]) -> None:
    status = await (await client.get("/api/policy", headers=AUTH)).json()
    assert status["engine"] == "regorus" and status["loaded"] is True
    assert status["reloads"] == 0 and status["last_error"] is None and len(status["revision"]) == 12
    assert (await client.get("/api/policy")).status == 401


async def test_metrics_are_open(client: TestClient[Any, Any]) -> None:
    response = await client.get("/metrics")
    assert response.status == 200 and response.headers["content-type"].startswith("text/plain")
    text = await response.text()
    assert 'chaperone_decisions_total{code="none",phase="check",result="allowed"} 1.0' in text
    assert "chaperone_policy_reloads_total 0.0" in text
    assert 'chaperone_policy_info{dry_run="false",engine="regorus"' in text


async def test_the_console_is_served_with_a_strict_policy(client: TestClient[Any, Any]) -> None:
    for path, kind in (
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ):
        response = await client.get(path)
        assert response.status == 200 and response.headers["content-type"].startswith(kind)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy and "require-trusted-types-for 'script'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    page = await (await client.get("/console")).text()
    assert '<script src="/console/console.js" defer></script>' in page
    assert "http://" not in page and "https://" not in page, "nothing is loaded from elsewhere"
    script = await (await client.get("/console/console.js")).text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
