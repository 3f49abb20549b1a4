"""The admin gRPC API over a real grpc.aio channel: operator tokens in the metadata, approvals and
the kill switch on the service's own backends (their state in memory), policy status, and the
audit of operator actions."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest

from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.servicers import add_admin_services
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from ext_proc.approvals import Approval, ApprovalStore, build_store
from ext_proc.approvals.rpc_backend import StoreApprovalsBackend
from ext_proc.audit import AuditLog
from ext_proc.audit.sinks import StreamSink
from ext_proc.config import Config
from ext_proc.limits.factory import Limits, build_limits
from ext_proc.policy.status import PolicyStatus
from tests.clock import FakeClock
from tests.unit.audit.helpers import events

ALICE = (("authorization", "Bearer tok-alice"),)
BOB = (("authorization", "Bearer tok-bob"),)
REFUND = {"protocol": "mcp", "method": "tools/call", "tool": "refund_payment"}
# Well formed (apr_ and 22 URL-safe characters), but no request has it.
UNKNOWN_ID = "apr_" + "A" * 22
STATUS = PolicyStatus(
    revision="abc123",
    engine="regorus",
    decision="envoy/authz/allow",
    dry_run=True,
    directory="/etc/chaperone/policies",
    reloads=2,
    reload_errors=1,
    last_error="authz.rego: parse error",
    last_change=1_700_000_000.5,
    loaded=True,
)


class Admin:
    def __init__(
        self, channel: Any, store: ApprovalStore, limits: Limits, clock: FakeClock, log: io.BytesIO
    ) -> None:
        self.approvals = admin_pb2_grpc.ApprovalsStub(channel)
        self.kill_switch = admin_pb2_grpc.KillSwitchStub(channel)
        self.policy = admin_pb2_grpc.PolicyStub(channel)
        self.store = store
        self.limits = limits
        self.clock = clock
        self._log = log

    async def hold(
        self, agent: str = "agent-7", action: Mapping[str, Any] = REFUND, decision_id: str | None = None
    ) -> Approval:
        """A pending request, as a policy's require_approval makes one; its id is random."""
        return await self.store.create(
            agent=agent,
            action=action,
            reason="refunds over 500 need approval",
            ttl_seconds=300,
            group="payments",
            decision_id=decision_id,
        )

    async def status_of(self, approval_id: str) -> str:
        approval = await self.store.get(approval_id)
        assert approval is not None
        return approval.status.value

    async def kills(self) -> set[tuple[str, str]]:
        return {(kill.scope, kill.target) for kill in await self.limits.kill_switch.active()}

    def audit_events(self, name: str = "operator_action") -> list[dict[str, Any]]:
        return [e for e in events(self._log.getvalue()) if e["event"] == name]


@pytest.fixture
async def admin(grpc_channel_for: Callable[..., Any], tmp_path: Path) -> AsyncIterator[Admin]:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice tok-alice\nbob tok-bob\n")
    log, clock = io.BytesIO(), FakeClock()
    audit = AuditLog([StreamSink(log)])
    # Wired as the service wires them (ChaperoneService, Enforcement.build), on the default
    # configuration: no state.redis_url, so the requests and the kills are in this process's memory.
    store = build_store(Config(), clock=clock, emit=audit.event)
    limits = build_limits(Config())

    def register(_servicer: Any, server: Any) -> None:
        add_admin_services(
            server,
            auth=OperatorAuth(str(tokens)),
            audit=audit,
            policy_status=lambda: STATUS,
            approvals=StoreApprovalsBackend(store),
            kill_switch=limits.rpc_backend(),
        )

    channel = await grpc_channel_for(register, None)
    yield Admin(channel, store, limits, clock, log)
    await limits.stop()
    await store.close()


async def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value.code()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", "tok-alice"),),
        (("authorization", "Basic tok-alice"),),
    ],
)
async def test_calls_without_a_valid_token_are_unauthenticated(admin: Admin, metadata: Any) -> None:
    held = await admin.hold()
    calls = [
        admin.policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), metadata=metadata),
        admin.approvals.ListApprovals(pb.ListApprovalsRequest(), metadata=metadata),
        admin.approvals.Approve(pb.DecideApprovalRequest(id=held.id), metadata=metadata),
        admin.kill_switch.Engage(pb.EngageRequest(scope=pb.SCOPE_ALL, reason="x"), metadata=metadata),
    ]
    for call in calls:
        assert await code_of(call) == grpc.StatusCode.UNAUTHENTICATED
    assert await admin.status_of(held.id) == "pending"
    assert not await admin.kills()
    assert admin.limits.kill_switch.blocked("agent-7") is None
    assert not admin.audit_events()


async def test_policy_status(admin: Admin) -> None:
    status = await admin.policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), metadata=ALICE)
    assert (status.revision, status.engine, status.dry_run, status.loaded) == (
        "abc123",
        "regorus",
        True,
        True,
    )
    assert (status.reloads, status.reload_errors, status.last_error) == (2, 1, "authz.rego: parse error")
    assert status.last_change.ToNanoseconds() == 1_700_000_000_500_000_000


async def test_approvals_list_get_approve_deny(admin: Admin) -> None:
    refund = await admin.hold(decision_id="decision-1")
    admin.clock.advance(1)
    # The store keeps an action as JSON: nested objects, lists, numbers, booleans and null
    # reach the client as the matching google.protobuf.Value kinds.
    chat = await admin.hold(
        agent="agent-9",
        action={
            "protocol": "llm",
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "refund order 8842"}],
            "temperature": 0.5,
            "stream": False,
            "user": None,
        },
    )
    listed = await admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="pending"), metadata=ALICE)
    # Newest first, as the store lists them (and the HTTP API answers).
    assert [a.id for a in listed.approvals] == [chat.id, refund.id]
    first = listed.approvals[1]
    assert first.action.struct_value.fields["tool"].string_value == "refund_payment"
    assert first.group == "payments" and first.decision_id == "decision-1"
    assert first.expires_at.seconds - first.created_at.seconds == 300
    fields = listed.approvals[0].action.struct_value.fields
    message = fields["messages"].list_value.values[0].struct_value.fields
    assert message["content"].string_value == "refund order 8842"
    assert fields["temperature"].number_value == 0.5
    assert fields["stream"].WhichOneof("kind") == "bool_value" and not fields["stream"].bool_value
    assert fields["user"].WhichOneof("kind") == "null_value"

    approved = await admin.approvals.Approve(
        pb.DecideApprovalRequest(id=refund.id, comment="ok"), metadata=ALICE
    )
    assert (approved.status, approved.decided_by, approved.comment) == ("approved", "alice", "ok")
    assert approved.decided_at.ToNanoseconds() == round(admin.clock.now * 1_000_000_000)
    denied = await admin.approvals.Deny(pb.DecideApprovalRequest(id=chat.id), metadata=BOB)
    assert (denied.status, denied.decided_by) == ("denied", "bob")
    got = await admin.approvals.GetApproval(pb.GetApprovalRequest(id=refund.id), metadata=ALICE)
    assert got.status == "approved"
    pending = await admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="pending"), metadata=ALICE)
    assert not pending.approvals
    # The decisions are the store's, not only the answers': the held calls see them.
    assert (await admin.status_of(refund.id), await admin.status_of(chat.id)) == ("approved", "denied")

    actions = admin.audit_events()
    assert [(a["operation"], a["operator"], a["api"]) for a in actions] == [
        ("approvals.approve", "alice", "grpc"),
        ("approvals.deny", "bob", "grpc"),
    ]
    assert actions[0]["approval_id"] == refund.id and actions[0]["decision_id"] == "decision-1"


async def test_approval_errors_have_their_status_codes(admin: Admin) -> None:
    overdue = await admin.hold()
    decided = await admin.hold()
    await admin.approvals.Approve(pb.DecideApprovalRequest(id=decided.id), metadata=BOB)
    admin.clock.advance(301)  # past the requests' 300 seconds: the pending one has expired
    for missing in ("nope", UNKNOWN_ID):
        get = admin.approvals.GetApproval(pb.GetApprovalRequest(id=missing), metadata=ALICE)
        assert await code_of(get) == grpc.StatusCode.NOT_FOUND
        approve = admin.approvals.Approve(pb.DecideApprovalRequest(id=missing), metadata=ALICE)
        assert await code_of(approve) == grpc.StatusCode.NOT_FOUND
    approve = admin.approvals.Approve(pb.DecideApprovalRequest(id=overdue.id), metadata=ALICE)
    assert await code_of(approve) == grpc.StatusCode.FAILED_PRECONDITION
    assert await admin.status_of(overdue.id) == "expired"
    # Decided once: a second decision is refused and the first one stands.
    deny = admin.approvals.Deny(pb.DecideApprovalRequest(id=decided.id), metadata=ALICE)
    assert await code_of(deny) == grpc.StatusCode.FAILED_PRECONDITION
    assert await admin.status_of(decided.id) == "approved"
    weird = admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="weird"), metadata=ALICE)
    assert await code_of(weird) == grpc.StatusCode.INVALID_ARGUMENT
    # Only the one decision that took is an operator action; the refused ones are not.
    assert [(a["operation"], a["operator"]) for a in admin.audit_events()] == [("approvals.approve", "bob")]


async def test_a_decision_the_store_refuses_is_refused_with_its_status(admin: Admin) -> None:
    # An agent cannot decide its own request: the operator alice is refused on the agent alice's
    # (as the HTTP API answers 403 approval_self_decision).
    own = await admin.hold(agent="alice")
    approve = admin.approvals.Approve(pb.DecideApprovalRequest(id=own.id), metadata=ALICE)
    assert await code_of(approve) == grpc.StatusCode.PERMISSION_DENIED
    # A comment longer than the store keeps (2000 characters).
    other = await admin.hold()
    too_long = pb.DecideApprovalRequest(id=other.id, comment="x" * 2001)
    assert await code_of(admin.approvals.Deny(too_long, metadata=ALICE)) == grpc.StatusCode.INVALID_ARGUMENT
    assert (await admin.status_of(own.id), await admin.status_of(other.id)) == ("pending", "pending")
    assert not admin.audit_events()
    # The store writes the refused self-decision to the same audit trail.
    refused = admin.audit_events("approval_self_decision_refused")
    assert [(e["approval_id"], e["operator"]) for e in refused] == [(own.id, "alice")]


async def test_kill_switch_engage_list_release(admin: Admin) -> None:
    kill = await admin.kill_switch.Engage(
        pb.EngageRequest(scope=pb.SCOPE_TOOL, target="refund_payment", reason="incident 42"), metadata=ALICE
    )
    assert (kill.scope, kill.target, kill.actor) == (pb.SCOPE_TOOL, "refund_payment", "alice")
    # What the request path asks: a call to that tool is stopped, another tool's is not.
    stopped = admin.limits.kill_switch.blocked("agent-7", tool="refund_payment")
    assert stopped is not None and (stopped.reason, stopped.actor) == ("incident 42", "alice")
    assert admin.limits.kill_switch.blocked("agent-7", tool="lookup_order") is None
    await admin.kill_switch.Engage(
        pb.EngageRequest(scope=pb.SCOPE_ALL, reason="stop everything"), metadata=ALICE
    )
    listed = await admin.kill_switch.ListKills(pb.ListKillsRequest(), metadata=ALICE)
    assert {(k.scope, k.target) for k in listed.kills} == {
        (pb.SCOPE_TOOL, "refund_payment"),
        (pb.SCOPE_ALL, ""),
    }
    released = await admin.kill_switch.Release(
        pb.ReleaseRequest(scope=pb.SCOPE_TOOL, target="refund_payment"), metadata=ALICE
    )
    assert released.released
    assert await admin.kills() == {("all", "*")}  # the kill switch stores "all" with the target "*"
    again = await admin.kill_switch.Release(
        pb.ReleaseRequest(scope=pb.SCOPE_TOOL, target="refund_payment"), metadata=ALICE
    )
    assert not again.released
    assert [a["operation"] for a in admin.audit_events()] == [
        "kill_switch.engage",
        "kill_switch.engage",
        "kill_switch.release",
        "kill_switch.release",
    ]


@pytest.mark.parametrize(
    "request_",
    [
        pb.EngageRequest(scope=pb.SCOPE_UNSPECIFIED, reason="x"),
        pb.EngageRequest(scope=pb.SCOPE_AGENT, reason="x"),
        pb.EngageRequest(scope=pb.SCOPE_ALL, target="agent-7", reason="x"),
        pb.EngageRequest(scope=pb.SCOPE_ALL, reason=" "),
        # Checked by the kill switch itself: lengths, and no control characters.
        pb.EngageRequest(scope=pb.SCOPE_TOOL, target="t" * 257, reason="x"),
        pb.EngageRequest(scope=pb.SCOPE_AGENT, target="agent-7\nagent-8", reason="x"),
        pb.EngageRequest(scope=pb.SCOPE_ALL, reason="r" * 501),
    ],
)
async def test_kill_switch_arguments_are_checked(admin: Admin, request_: Any) -> None:
    assert (
        await code_of(admin.kill_switch.Engage(request_, metadata=ALICE)) == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert not await admin.kills()
    assert not admin.audit_events()


async def test_without_backends_the_calls_are_unimplemented(
    grpc_channel_for: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "tokens").write_text("tok-alice\n")

    def register(_servicer: Any, server: Any) -> None:
        add_admin_services(
            server,
            auth=OperatorAuth(str(tmp_path / "tokens")),
            audit=AuditLog([]),
            policy_status=lambda: STATUS,
            approvals=None,
            kill_switch=None,
        )

    channel = await grpc_channel_for(register, None)
    approvals = admin_pb2_grpc.ApprovalsStub(channel)
    kill_switch = admin_pb2_grpc.KillSwitchStub(channel)
    assert await code_of(approvals.ListApprovals(pb.ListApprovalsRequest(), metadata=ALICE)) == (
        grpc.StatusCode.UNIMPLEMENTED
    )
    assert (
        await code_of(kill_switch.ListKills(pb.ListKillsRequest(), metadata=ALICE))
        == grpc.StatusCode.UNIMPLEMENTED
    )
    # The token is checked first: nothing is revealed to an unauthenticated caller.
    assert await code_of(kill_switch.ListKills(pb.ListKillsRequest())) == grpc.StatusCode.UNAUTHENTICATED
