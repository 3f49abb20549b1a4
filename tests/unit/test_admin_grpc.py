"""The admin gRPC API over a real grpc.aio channel: operator tokens in the metadata, approvals and
the kill switch against in-memory backends, policy status, and the audit of operator actions."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.servicers import add_admin_services
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from ext_proc.audit import AuditLog
from ext_proc.audit.sinks import StreamSink
from ext_proc.policy.status import PolicyStatus
from tests.oversight_fakes import MemoryApprovals, MemoryKillSwitch
from tests.unit.audit.helpers import events

ALICE = (("authorization", "Bearer tok-alice"),)
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
        self, channel: Any, approvals: MemoryApprovals, kills: MemoryKillSwitch, log: io.BytesIO
    ) -> None:
        self.approvals = admin_pb2_grpc.ApprovalsStub(channel)
        self.kill_switch = admin_pb2_grpc.KillSwitchStub(channel)
        self.policy = admin_pb2_grpc.PolicyStub(channel)
        self.approvals_backend = approvals
        self.kills_backend = kills
        self._log = log

    def audit_events(self) -> list[dict[str, Any]]:
        return [e for e in events(self._log.getvalue()) if e["event"] == "operator_action"]


@pytest.fixture
async def admin(grpc_channel_for: Callable[..., Any], tmp_path: Path) -> Admin:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice tok-alice\nbob tok-bob\n")
    approvals, kills, log = MemoryApprovals(), MemoryKillSwitch(), io.BytesIO()

    def register(_servicer: Any, server: Any) -> None:
        add_admin_services(
            server,
            auth=OperatorAuth(str(tokens)),
            audit=AuditLog([StreamSink(log)]),
            policy_status=lambda: STATUS,
            approvals=approvals,
            kill_switch=kills,
        )

    channel = await grpc_channel_for(register, None)
    return Admin(channel, approvals, kills, log)


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
    admin.approvals_backend.hold("a1")
    calls = [
        admin.policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), metadata=metadata),
        admin.approvals.ListApprovals(pb.ListApprovalsRequest(), metadata=metadata),
        admin.approvals.Approve(pb.DecideApprovalRequest(id="a1"), metadata=metadata),
        admin.kill_switch.Engage(pb.EngageRequest(scope=pb.SCOPE_ALL, reason="x"), metadata=metadata),
    ]
    for call in calls:
        assert await code_of(call) == grpc.StatusCode.UNAUTHENTICATED
    assert admin.approvals_backend.records["a1"].status == "pending"
    assert not admin.kills_backend.kills


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
    admin.approvals_backend.hold("a1")
    admin.approvals_backend.hold("a2", action="a plain string action")
    listed = await admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="pending"), metadata=ALICE)
    assert [a.id for a in listed.approvals] == ["a1", "a2"]
    first = listed.approvals[0]
    assert first.action.struct_value.fields["tool"].string_value == "refund_payment"
    assert first.group == "payments" and first.decision_id == "decision-a1"
    assert listed.approvals[1].action.string_value == "a plain string action"

    approved = await admin.approvals.Approve(pb.DecideApprovalRequest(id="a1", comment="ok"), metadata=ALICE)
    assert (approved.status, approved.decided_by, approved.comment) == ("approved", "alice", "ok")
    assert approved.decided_at.seconds > 0
    bob = (("authorization", "Bearer tok-bob"),)
    denied = await admin.approvals.Deny(pb.DecideApprovalRequest(id="a2"), metadata=bob)
    assert (denied.status, denied.decided_by) == ("denied", "bob")
    got = await admin.approvals.GetApproval(pb.GetApprovalRequest(id="a1"), metadata=ALICE)
    assert got.status == "approved"
    pending = await admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="pending"), metadata=ALICE)
    assert not pending.approvals

    actions = admin.audit_events()
    assert [(a["operation"], a["operator"], a["api"]) for a in actions] == [
        ("approvals.approve", "alice", "grpc"),
        ("approvals.deny", "bob", "grpc"),
    ]
    assert actions[0]["approval_id"] == "a1" and actions[0]["decision_id"] == "decision-a1"


async def test_approval_errors_have_their_status_codes(admin: Admin) -> None:
    admin.approvals_backend.hold("a1", status="expired")
    assert await code_of(admin.approvals.GetApproval(pb.GetApprovalRequest(id="nope"), metadata=ALICE)) == (
        grpc.StatusCode.NOT_FOUND
    )
    assert await code_of(admin.approvals.Approve(pb.DecideApprovalRequest(id="a1"), metadata=ALICE)) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    assert await code_of(
        admin.approvals.ListApprovals(pb.ListApprovalsRequest(status="weird"), metadata=ALICE)
    ) == (grpc.StatusCode.INVALID_ARGUMENT)


async def test_kill_switch_engage_list_release(admin: Admin) -> None:
    kill = await admin.kill_switch.Engage(
        pb.EngageRequest(scope=pb.SCOPE_TOOL, target="refund_payment", reason="incident 42"), metadata=ALICE
    )
    assert (kill.scope, kill.target, kill.actor) == (pb.SCOPE_TOOL, "refund_payment", "alice")
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
    ],
)
async def test_kill_switch_arguments_are_checked(admin: Admin, request_: Any) -> None:
    assert (
        await code_of(admin.kill_switch.Engage(request_, metadata=ALICE)) == grpc.StatusCode.INVALID_ARGUMENT
    )


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
