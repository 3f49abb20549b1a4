"""The operator API on the real admin application: shapes, tokens, decisions, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.server import AdminServer
from ext_proc.approvals import ApprovalGate, ApprovalRequirement, Mode, Status, approvals_api
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.store import ApprovalStore
from ext_proc.approvals.webhook import NullNotifier
from ext_proc.config import StateConfig
from ext_proc.state.redis_client import connect
from tests.clock import FakeClock
from tests.harness import free_port
from tests.unit.approvals.conftest import SETTINGS

AGENT = "support-bot"
ACTION = {"protocol": "mcp", "method": "tools/call", "tool": "refund_payment", "arguments": {"amount": 900}}
TOKENS = "alice tok-alice\nbob tok-bob\nsupport-bot tok-agent\n"
ALICE = {"authorization": "Bearer tok-alice"}

# ext_proc/admin/app.py stores the operator under a string key, which aiohttp 3.14 warns about
# (NotAppKeyWarning); pytest turns warnings into errors. That module is not this feature's.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

Serve = Callable[[ApprovalStore, "str | None"], Awaitable[str]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    servers: list[AdminServer] = []

    async def start(store: ApprovalStore, tokens: str | None = TOKENS) -> str:
        token_file = None
        if tokens is not None:
            token_file = tmp_path / "tokens"
            token_file.write_text(tokens)
        app = build_admin_app(lambda: True, str(token_file) if token_file else None, [approvals_api(store)])
        server = AdminServer(app, f"127.0.0.1:{free_port()}")
        await server.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def api(serve: Serve, store: ApprovalStore) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=await serve(store, TOKENS), headers=ALICE) as client:
        yield client


async def _create(store: ApprovalStore, **changes: object) -> str:
    fields: dict[str, object] = {
        "agent": AGENT,
        "action": ACTION,
        "reason": "refund above 500",
        "group": "finance",
        "decision_id": "d-1",
        "ttl_seconds": 120,
        **changes,
    }
    return (await store.create(**fields)).id  # type: ignore[arg-type]


async def test_the_api_needs_a_valid_token(api: httpx.AsyncClient, store: ApprovalStore) -> None:
    approval_id = await _create(store)
    for headers in ({"authorization": ""}, {"authorization": "Bearer wrong"}):
        assert (await api.get("/api/approvals", headers=headers)).status_code == 401
        response = await api.post(f"/api/approvals/{approval_id}/approve", headers=headers)
        assert response.status_code == 401
    current = await store.get(approval_id)
    assert current is not None and current.status is Status.PENDING


async def test_without_a_token_file_the_api_is_closed(serve: Serve, store: ApprovalStore) -> None:
    async with httpx.AsyncClient(base_url=await serve(store, None), headers=ALICE) as client:
        assert (await client.get("/api/approvals")).status_code == 503


async def test_list_and_get(api: httpx.AsyncClient, store: ApprovalStore, clock: FakeClock) -> None:
    assert (await api.get("/api/approvals")).json() == {"approvals": []}
    first = await _create(store)
    clock.advance(1)
    second = await _create(store, agent=None, group=None, decision_id=None)
    listed = (await api.get("/api/approvals", params={"status": "pending"})).json()["approvals"]
    assert [a["id"] for a in listed] == [second, first]
    one = (await api.get(f"/api/approvals/{first}")).json()
    assert set(one) == {
        "id", "status", "mode", "agent", "action", "reason", "group", "decision_id", "created_at",
        "expires_at", "decided_by", "decided_at", "comment", "used_at",
    }  # fmt: skip
    assert one["id"] == first and one["status"] == "pending" and one["mode"] == "hold"
    assert one["agent"] == AGENT and one["action"] == ACTION and one["group"] == "finance"
    assert one["created_at"].endswith("Z") and one["decided_by"] is None
    assert "fingerprint" not in one
    assert (await api.get("/api/approvals", params={"status": "approved"})).json() == {"approvals": []}
    assert len((await api.get("/api/approvals", params={"limit": "1"})).json()["approvals"]) == 1


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for approval_id in ("apr_" + "n" * 22, "not-an-id", "..%2F..%2Fetc"):
        response = await api.get(f"/api/approvals/{approval_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "approval_not_found"
    response = await api.post("/api/approvals/apr_" + "n" * 22 + "/approve", json={})
    assert response.status_code == 404


async def test_approve_records_the_operator_and_comment(api: httpx.AsyncClient, store: ApprovalStore) -> None:
    approval_id = await _create(store)
    response = await api.post(f"/api/approvals/{approval_id}/approve", json={"comment": "order checked"})
    assert response.status_code == 200
    decided = response.json()
    assert decided["status"] == "approved" and decided["decided_by"] == "alice"
    assert decided["comment"] == "order checked" and decided["decided_at"].endswith("Z")
    again = await api.post(f"/api/approvals/{approval_id}/deny", headers={"authorization": "Bearer tok-bob"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "approval_not_pending"
    assert "approved" in again.json()["error"]["message"]


async def test_deny_without_a_body(api: httpx.AsyncClient, store: ApprovalStore) -> None:
    approval_id = await _create(store)
    response = await api.post(
        f"/api/approvals/{approval_id}/deny", headers={"authorization": "Bearer tok-bob"}
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decided_by"]) == ("denied", "bob")


async def test_an_agent_cannot_approve_its_own_request(api: httpx.AsyncClient, store: ApprovalStore) -> None:
    approval_id = await _create(store)
    response = await api.post(
        f"/api/approvals/{approval_id}/approve", headers={"authorization": "Bearer tok-agent"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "approval_self_decision"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'["comment"]', "JSON object"),
        (b'{"comment": 5}', '"comment" must be a string'),
        (b'{"comment": "ok", "approve": true}', "unknown field 'approve'"),
        (b'{"comment": "' + b"x" * 2001 + b'"}', "longer than 2000"),
        (b'{"comment": "' + b"x" * 17000 + b'"}', "larger than"),
    ],
)
async def test_a_malformed_decision_is_400(
    api: httpx.AsyncClient, store: ApprovalStore, body: bytes, message: str
) -> None:
    approval_id = await _create(store)
    response = await api.post(f"/api/approvals/{approval_id}/approve", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "operator_request_invalid"
    assert message in response.json()["error"]["message"]
    current = await store.get(approval_id)
    assert current is not None and current.status is Status.PENDING


@pytest.mark.parametrize("query", [{"status": "maybe"}, {"limit": "0"}, {"limit": "x"}, {"limit": "5000"}])
async def test_a_malformed_list_query_is_400(api: httpx.AsyncClient, query: dict[str, str]) -> None:
    response = await api.get("/api/approvals", params=query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "operator_request_invalid"


async def test_a_held_call_proceeds_when_approved_through_the_api(
    api: httpx.AsyncClient, store: ApprovalStore
) -> None:
    gate = ApprovalGate(store, NullNotifier(), mode=Mode.HOLD, hold_seconds=60, ttl_seconds=900)
    held = asyncio.create_task(gate.check(ApprovalRequirement("r"), agent=AGENT, action=ACTION))
    async with asyncio.timeout(30):
        while not (pending := (await api.get("/api/approvals?status=pending")).json()["approvals"]):
            await asyncio.sleep(0.01)
        await api.post(f"/api/approvals/{pending[0]['id']}/approve", json={"comment": "fine"})
        result = await held
    assert result.proceed and result.approval.decided_by == "alice"


async def test_an_unreachable_redis_is_503(serve: Serve) -> None:
    client = connect(StateConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_ms=50))
    store = RedisApprovalStore(client, SETTINGS)
    try:
        async with httpx.AsyncClient(base_url=await serve(store, TOKENS), headers=ALICE) as api:
            response = await api.get("/api/approvals")
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "state_unavailable"
            response = await api.post("/api/approvals/apr_" + "n" * 22 + "/approve", json={})
            assert response.status_code == 503
    finally:
        await store.close()
        await client.aclose()
