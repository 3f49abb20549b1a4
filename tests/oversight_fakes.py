"""In-memory approvals and kill switch for the admin API's tests (the real ones are other
components'): the gRPC backends' Protocols, and stand-ins for their HTTP routes with the JSON
shapes the operator console calls."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ext_proc.admin.app import OPERATOR_KEY, AdminExtension, error_response
from ext_proc.admin.rpc.backends import (
    KILL_SCOPES,
    ApprovalRecord,
    ApprovalStatus,
    ConflictError,
    KillRecord,
    KillScope,
    NotFoundError,
)


class MemoryApprovals:
    def __init__(self) -> None:
        self.records: dict[str, ApprovalRecord] = {}

    def hold(self, approval_id: str, **fields: Any) -> ApprovalRecord:
        now = time.time()
        values: dict[str, Any] = {
            "status": "pending",
            "agent": "agent-7",
            "action": {"protocol": "mcp", "method": "tools/call", "tool": "refund_payment"},
            "reason": "refunds over 500 need approval",
            "group": "payments",
            "created_at": now,
            "expires_at": now + 300,
            "decision_id": f"decision-{approval_id}",
        }
        values.update(fields)
        record = ApprovalRecord(id=approval_id, **values)
        self.records[approval_id] = record
        return record

    async def list(self, status: ApprovalStatus | None) -> Sequence[ApprovalRecord]:
        return [r for r in self.records.values() if status is None or r.status == status]

    async def get(self, approval_id: str) -> ApprovalRecord:
        if approval_id not in self.records:
            raise NotFoundError(f"no approval {approval_id}")
        return self.records[approval_id]

    async def approve(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        return await self._decide(approval_id, "approved", actor, comment)

    async def deny(self, approval_id: str, actor: str, comment: str | None) -> ApprovalRecord:
        return await self._decide(approval_id, "denied", actor, comment)

    async def _decide(
        self, approval_id: str, status: ApprovalStatus, actor: str, comment: str | None
    ) -> ApprovalRecord:
        record = await self.get(approval_id)
        if record.status != "pending":
            raise ConflictError(f"approval {approval_id} is {record.status}")
        decided = dataclasses.replace(
            record, status=status, decided_by=actor, decided_at=time.time(), comment=comment
        )
        self.records[approval_id] = decided
        return decided


class MemoryKillSwitch:
    def __init__(self) -> None:
        self.kills: dict[tuple[str, str | None], KillRecord] = {}

    async def engage(self, scope: KillScope, target: str | None, reason: str, actor: str) -> KillRecord:
        record = KillRecord(scope, target, reason, actor, time.time())
        self.kills[(scope, target)] = record
        return record

    async def release(self, scope: KillScope, target: str | None, actor: str) -> bool:
        return self.kills.pop((scope, target), None) is not None

    async def list(self) -> Sequence[KillRecord]:
        return list(self.kills.values())


def http_routes(approvals: MemoryApprovals, kill_switch: MemoryKillSwitch) -> AdminExtension:
    """``/api/approvals...`` and ``/api/kill-switch...`` as the console expects them."""

    async def list_approvals(request: web.Request) -> web.Response:
        status = request.query.get("status")
        records = await approvals.list(status)  # type: ignore[arg-type]
        return web.json_response({"approvals": [dataclasses.asdict(r) for r in records]})

    async def decide(request: web.Request) -> web.Response:
        body = await request.json()
        verdict = request.match_info["verdict"]
        decide = approvals.approve if verdict == "approve" else approvals.deny
        try:
            record = await decide(request.match_info["id"], request[OPERATOR_KEY], body.get("comment"))
        except NotFoundError:
            return error_response(404, "not_found", "no such approval")
        except ConflictError:
            return error_response(409, "conflict", "already decided")
        return web.json_response({"approval": dataclasses.asdict(record)})

    async def list_kills(_request: web.Request) -> web.Response:
        return web.json_response({"kills": [dataclasses.asdict(k) for k in await kill_switch.list()]})

    async def engage(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("scope") not in KILL_SCOPES or not body.get("reason"):
            return error_response(400, "invalid", "scope and reason are required")
        record = await kill_switch.engage(
            body["scope"], body.get("target"), body["reason"], request[OPERATOR_KEY]
        )
        return web.json_response({"kill": dataclasses.asdict(record)}, status=201)

    async def release(request: web.Request) -> web.Response:
        scope = request.query.get("scope", "")
        released = await kill_switch.release(scope, request.query.get("target"), request[OPERATOR_KEY])  # type: ignore[arg-type]
        return web.json_response({"released": released})

    def extend(app: web.Application) -> None:
        app.router.add_get("/api/approvals", list_approvals)
        app.router.add_post("/api/approvals/{id}/{verdict:approve|deny}", decide)
        app.router.add_get("/api/kill-switch", list_kills)
        app.router.add_post("/api/kill-switch", engage)
        app.router.add_delete("/api/kill-switch", release)

    return extend
