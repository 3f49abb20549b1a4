"""Backend records and policy status -> the admin API's protobuf messages, and back for scopes."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from ext_proc.admin.rpc.backends import ApprovalRecord, KillRecord, KillScope
from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.policy.status import PolicyStatus

SCOPES: dict[KillScope, pb.Scope.ValueType] = {
    "all": pb.SCOPE_ALL,
    "agent": pb.SCOPE_AGENT,
    "tool": pb.SCOPE_TOOL,
    "upstream": pb.SCOPE_UPSTREAM,
}
SCOPE_NAMES: dict[int, KillScope] = {number: name for name, number in SCOPES.items()}


def approval_message(record: ApprovalRecord) -> pb.Approval:
    message = pb.Approval(
        id=record.id,
        status=record.status,
        agent=record.agent or "",
        reason=record.reason or "",
        group=record.group or "",
        decided_by=record.decided_by or "",
        comment=record.comment or "",
        decision_id=record.decision_id or "",
    )
    if record.action is not None:
        message.action.CopyFrom(json_value(record.action))
    _set_time(message.created_at, record.created_at)
    _set_time(message.expires_at, record.expires_at)
    _set_time(message.decided_at, record.decided_at)
    return message


def kill_message(record: KillRecord) -> pb.Kill:
    message = pb.Kill(
        scope=SCOPES[record.scope],
        target=record.target or "",
        reason=record.reason or "",
        actor=record.actor or "",
    )
    _set_time(message.engaged_at, record.engaged_at)
    return message


def policy_status_message(status: PolicyStatus) -> pb.PolicyStatus:
    message = pb.PolicyStatus(
        revision=status.revision,
        engine=status.engine,
        decision=status.decision,
        dry_run=status.dry_run,
        directory=status.directory or "",
        reloads=status.reloads,
        reload_errors=status.reload_errors,
        last_error=status.last_error or "",
        loaded=status.loaded,
    )
    _set_time(message.last_change, status.last_change)
    return message


def json_value(value: Any) -> struct_pb2.Value:
    """Any JSON value as a ``google.protobuf.Value`` (what is not JSON is written as its text)."""
    message = struct_pb2.Value()
    if value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, dict):
        for key, item in value.items():
            message.struct_value.fields[str(key)].CopyFrom(json_value(item))
    elif isinstance(value, list | tuple):
        message.list_value.values.extend(json_value(item) for item in value)
    else:
        message.string_value = str(value)
    return message


def _set_time(field: timestamp_pb2.Timestamp, seconds: float | None) -> None:
    if seconds is not None:
        field.FromNanoseconds(round(seconds * 1_000_000_000))
