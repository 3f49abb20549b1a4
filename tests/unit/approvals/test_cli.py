"""`chaperone approvals` (the real command, in a subprocess) against a running admin application."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from ext_proc.admin.app import build_admin_app
from ext_proc.admin.server import AdminServer
from ext_proc.approvals import Status, approvals_api
from ext_proc.approvals.store import ApprovalStore
from tests.clock import FakeClock
from tests.harness import free_port

pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

ACTION = {"protocol": "mcp", "method": "tools/call", "tool": "refund_payment", "arguments": {"amount": 900}}


@dataclass
class Admin:
    url: str
    tokens: Path


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
async def admin(store: ApprovalStore, tmp_path: Path) -> AsyncIterator[Admin]:
    tokens = tmp_path / "tokens"
    tokens.write_text("alice tok-alice\nbob tok-bob\n")
    app = build_admin_app(lambda: True, str(tokens), [approvals_api(store)])
    server = AdminServer(app, f"127.0.0.1:{free_port()}")
    await server.start()
    yield Admin(f"http://127.0.0.1:{server.port}", tokens)
    await server.stop()


async def chaperone(*args: str) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ext_proc", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def _token_file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "my-token"
    path.write_text(content)
    return str(path)


async def _create(store: ApprovalStore, tool: str = "refund_payment") -> str:
    action = {**ACTION, "tool": tool}
    approval = await store.create(agent="bot-1", action=action, reason="refund above 500", ttl_seconds=600)
    return approval.id


async def test_list_approve_and_deny(
    admin: Admin, store: ApprovalStore, tmp_path: Path, clock: FakeClock
) -> None:
    first = await _create(store)
    clock.advance(1)
    second = await _create(store, tool="delete_user")
    token = _token_file(tmp_path, "tok-alice\n")
    common = ["--admin", admin.url, "--token-file", token]

    listed = await chaperone("approvals", "list", "--status", "pending", *common)
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "AGENT", "ACTION", "GROUP", "EXPIRES", "REASON"]
    assert {line.split()[0] for line in lines[1:]} == {first, second}
    assert "mcp tools/call refund_payment" in listed.out and "refund above 500" in listed.out

    approved = await chaperone("approvals", "approve", first, "--comment", "order checked", *common)
    assert approved.code == 0, approved.err
    assert approved.out == f"{first} approved by alice: mcp tools/call refund_payment\n"
    decided = await store.get(first)
    assert decided is not None and decided.status is Status.APPROVED and decided.comment == "order checked"

    denied = await chaperone("approvals", "deny", second, "--json", *common)
    assert denied.code == 0, denied.err
    assert orjson.loads(denied.out)["status"] == "denied"

    as_json = await chaperone("approvals", "list", "--json", *common)
    assert [a["status"] for a in orjson.loads(as_json.out)["approvals"]] == ["denied", "approved"]
    assert "tok-alice" not in listed.out + approved.out + denied.out + as_json.out


async def test_named_token_files_pick_the_operator(admin: Admin, store: ApprovalStore) -> None:
    approval_id = await _create(store)
    common = ["--admin", admin.url, "--token-file", str(admin.tokens)]
    ambiguous = await chaperone("approvals", "approve", approval_id, *common)
    assert ambiguous.code == 1 and "--operator" in ambiguous.err
    result = await chaperone("approvals", "deny", approval_id, "--operator", "bob", *common)
    assert result.code == 0 and "denied by bob" in result.out


async def test_api_errors_are_reported(admin: Admin, store: ApprovalStore, tmp_path: Path) -> None:
    approval_id = await _create(store)
    await store.decide(approval_id, True, "alice")
    good = ["--admin", admin.url, "--token-file", _token_file(tmp_path, "tok-bob")]
    again = await chaperone("approvals", "deny", approval_id, *good)
    assert again.code == 1
    assert again.err.startswith("chaperone: approval_not_pending: the approval request is approved")
    unknown = await chaperone("approvals", "approve", "apr_" + "m" * 22, *good)
    assert unknown.code == 1 and "approval_not_found" in unknown.err
    wrong = ["--admin", admin.url, "--token-file", _token_file(tmp_path, "tok-mallory")]
    refused = await chaperone("approvals", "list", *wrong)
    assert refused.code == 1 and "unauthorized" in refused.err and "tok-mallory" not in refused.err


async def test_an_unreachable_admin_api(tmp_path: Path) -> None:
    token = _token_file(tmp_path, "tok-alice")
    result = await chaperone(
        "approvals", "list", "--admin", f"http://127.0.0.1:{free_port()}", "--token-file", token
    )
    assert result.code == 1 and "cannot reach the admin API" in result.err
