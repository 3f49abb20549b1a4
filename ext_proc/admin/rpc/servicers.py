"""The admin gRPC services: approvals, kill switch, policy status (admin.proto).

Thin: authenticate the operator, check arguments, call the backend, convert. Approvals and the
kill switch are other components' (backends.py); without one, its calls answer UNIMPLEMENTED.
Every call that changes something is written to the audit trail (``operator_action``) with the
operator's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from ext_proc.admin.rpc import convert
from ext_proc.admin.rpc.auth import OperatorAuth
from ext_proc.admin.rpc.backends import (
    APPROVAL_STATUSES,
    ApprovalsBackend,
    ConflictError,
    ForbiddenError,
    InvalidError,
    KillScope,
    KillSwitchBackend,
    NotFoundError,
)
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from ext_proc.audit import AuditLog
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.status import PolicyStatus

T = TypeVar("T")
_NO_APPROVALS = "approvals are not configured in this service"
_NO_KILL_SWITCH = "the kill switch is not configured in this service"

ADMIN_SERVICES = (
    "chaperone.admin.v1.Approvals",
    "chaperone.admin.v1.KillSwitch",
    "chaperone.admin.v1.Policy",
)


class ApprovalsServicer(admin_pb2_grpc.ApprovalsServicer):
    def __init__(self, backend: ApprovalsBackend | None, auth: OperatorAuth, audit: AuditLog) -> None:
        self._backend = backend
        self._auth = auth
        self._audit = audit

    async def ListApprovals(self, request: pb.ListApprovalsRequest, context: Any) -> pb.ListApprovalsResponse:  # noqa: N802
        await self._auth.require(context)
        backend = await _present(self._backend, _NO_APPROVALS, context)
        status = request.status or None
        if status is not None and status not in APPROVAL_STATUSES:
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"status must be one of {APPROVAL_STATUSES}"
            )
        records = await _call(context, backend.list(status))
        return pb.ListApprovalsResponse(approvals=[convert.approval_message(r) for r in records])

    async def GetApproval(self, request: pb.GetApprovalRequest, context: Any) -> pb.Approval:  # noqa: N802
        await self._auth.require(context)
        backend = await _present(self._backend, _NO_APPROVALS, context)
        return convert.approval_message(await _call(context, backend.get(request.id)))

    async def Approve(self, request: pb.DecideApprovalRequest, context: Any) -> pb.Approval:  # noqa: N802
        return await self._decide(request, context, "approve")

    async def Deny(self, request: pb.DecideApprovalRequest, context: Any) -> pb.Approval:  # noqa: N802
        return await self._decide(request, context, "deny")

    async def _decide(self, request: pb.DecideApprovalRequest, context: Any, verdict: str) -> pb.Approval:
        operator = await self._auth.require(context)
        backend = await _present(self._backend, _NO_APPROVALS, context)
        decide = backend.approve if verdict == "approve" else backend.deny
        record = await _call(context, decide(request.id, operator, request.comment or None))
        self._audit.event(
            "operator_action",
            operator=operator,
            api="grpc",
            operation=f"approvals.{verdict}",
            approval_id=request.id,
            decision_id=record.decision_id,
            comment=request.comment or None,
        )
        return convert.approval_message(record)


class KillSwitchServicer(admin_pb2_grpc.KillSwitchServicer):
    def __init__(self, backend: KillSwitchBackend | None, auth: OperatorAuth, audit: AuditLog) -> None:
        self._backend = backend
        self._auth = auth
        self._audit = audit

    async def Engage(self, request: pb.EngageRequest, context: Any) -> pb.Kill:  # noqa: N802
        operator = await self._auth.require(context)
        backend = await _present(self._backend, _NO_KILL_SWITCH, context)
        scope, target = await _scope_and_target(request.scope, request.target, context)
        if not request.reason.strip():
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "a reason is required")
        record = await _call(context, backend.engage(scope, target, request.reason, operator))
        self._audit.event(
            "operator_action",
            operator=operator,
            api="grpc",
            operation="kill_switch.engage",
            scope=scope,
            target=target,
            reason=request.reason,
        )
        return convert.kill_message(record)

    async def Release(self, request: pb.ReleaseRequest, context: Any) -> pb.ReleaseResponse:  # noqa: N802
        operator = await self._auth.require(context)
        backend = await _present(self._backend, _NO_KILL_SWITCH, context)
        scope, target = await _scope_and_target(request.scope, request.target, context)
        released = await _call(context, backend.release(scope, target, operator))
        self._audit.event(
            "operator_action",
            operator=operator,
            api="grpc",
            operation="kill_switch.release",
            scope=scope,
            target=target,
            released=released,
        )
        return pb.ReleaseResponse(released=released)

    async def ListKills(self, request: pb.ListKillsRequest, context: Any) -> pb.ListKillsResponse:  # noqa: N802
        await self._auth.require(context)
        backend = await _present(self._backend, _NO_KILL_SWITCH, context)
        records = await _call(context, backend.list())
        return pb.ListKillsResponse(kills=[convert.kill_message(r) for r in records])


class PolicyServicer(admin_pb2_grpc.PolicyServicer):
    def __init__(self, status: Callable[[], PolicyStatus], auth: OperatorAuth) -> None:
        self._status = status
        self._auth = auth

    async def GetPolicyStatus(self, request: pb.GetPolicyStatusRequest, context: Any) -> pb.PolicyStatus:  # noqa: N802
        await self._auth.require(context)
        return convert.policy_status_message(self._status())


def add_admin_services(
    server: Any,
    *,
    auth: OperatorAuth,
    audit: AuditLog,
    policy_status: Callable[[], PolicyStatus],
    approvals: ApprovalsBackend | None,
    kill_switch: KillSwitchBackend | None,
) -> None:
    admin_pb2_grpc.add_ApprovalsServicer_to_server(ApprovalsServicer(approvals, auth, audit), server)
    admin_pb2_grpc.add_KillSwitchServicer_to_server(KillSwitchServicer(kill_switch, auth, audit), server)
    admin_pb2_grpc.add_PolicyServicer_to_server(PolicyServicer(policy_status, auth), server)


async def _scope_and_target(scope: int, target: str, context: Any) -> tuple[KillScope, str | None]:
    name = convert.SCOPE_NAMES.get(scope)
    if name is None:
        await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "scope must be ALL, AGENT, TOOL or UPSTREAM")
    if name == "all":
        if target:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "scope ALL takes no target")
        return name, None
    if not target:
        await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"scope {name.upper()} needs a target")
    return name, target


async def _present(backend: T | None, message: str, context: Any) -> T:
    if backend is None:
        await _abort(context, grpc.StatusCode.UNIMPLEMENTED, message)
    return backend


async def _call(context: Any, operation: Awaitable[T]) -> T:
    """Await a backend operation; its failures become the matching gRPC status."""
    try:
        return await operation
    except NotFoundError as exc:
        await _abort(context, grpc.StatusCode.NOT_FOUND, str(exc) or "not found")
    except ConflictError as exc:
        await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc) or "no longer applies")
    except InvalidError as exc:
        await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc) or "invalid argument")
    except ForbiddenError as exc:
        await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc) or "not allowed")
    except ChaperoneError as exc:
        code = (
            grpc.StatusCode.UNAVAILABLE
            if exc.code is ErrorCode.STATE_UNAVAILABLE
            else grpc.StatusCode.INTERNAL
        )
        await _abort(context, code, exc.message)


async def _abort(context: Any, code: Any, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("abort returned")  # grpc.aio's abort always raises
