"""Oversight through real Envoy: the audit file verifies and holds every decision redacted, the
metrics count the decisions, the decisions feed shows them, and the admin gRPC API answers on
the service's own port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from ext_proc.admin.rpc.v1 import admin_pb2 as pb
from ext_proc.admin.rpc.v1 import admin_pb2_grpc
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack

pytestmark = pytest.mark.envoy

TOKEN = "tok-oversight"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("oversight")
    (workdir / "tokens").write_text(f"carol {TOKEN}\n")
    sections = {
        "admin": {"token_file": str(workdir / "tokens")},
        "audit": {"file": {"path": str(workdir / "audit" / "audit.log"), "max_bytes": 1500, "backups": 20}},
    }
    for stack in start_stack(
        workdir, copy_policies("default", workdir / "policies"), upstream, service_sections=sections
    ):
        with stack.client() as client:
            assert client.get("/echo/hello").status_code == 200
            assert client.delete("/echo/hello").status_code == 403
            response = client.post(
                "/v1/chat/completions",
                headers={"x-demo-delay-ms": "0"},
                json={
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "mail ada@example.com"}],
                },
            )
            assert response.status_code == 200
        yield stack


def test_the_audit_file_verifies_and_holds_every_decision(stack: Stack) -> None:
    path = stack.service.workdir / "audit" / "audit.log"
    result = subprocess.run(
        [sys.executable, "-m", "ext_proc", "audit", "verify", "--with-backups", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(path.parent.iterdir())) > 1, "the file rotated"
    text = "".join(p.read_text() for p in path.parent.iterdir())
    assert "ada@example.com" not in text
    assert '"upstream":"upstream"' in text and '"phase":"request_body"' in text


def test_metrics_count_the_decisions(stack: Stack) -> None:
    text = httpx.get(f"{stack.service.admin_url}/metrics").text
    assert 'chaperone_decisions_total{code="none",phase="check",result="allowed"}' in text
    assert 'chaperone_decisions_total{code="denied",phase="check",result="denied"} 1.0' in text
    assert 'chaperone_redactions_total{direction="request",type="EMAIL"} 1.0' in text
    assert 'chaperone_policy_evaluation_seconds_bucket{le="5e-05",phase="check"}' in text
    assert "chaperone_policy_loaded 1.0" in text


def test_the_decisions_feed_shows_them(stack: Stack) -> None:
    response = httpx.get(f"{stack.service.admin_url}/api/decisions?limit=100", headers=AUTH)
    decisions = [e for e in response.json()["decisions"] if e["event"] == "decision"]
    denied = [e for e in decisions if not e["allowed"]]
    assert denied and denied[0]["method"] == "DELETE" and denied[0]["status"] == 403
    assert any(e.get("action", {}).get("model") == "gpt-4o-mini" for e in decisions)
    assert httpx.get(f"{stack.service.admin_url}/api/decisions").status_code == 401


def test_the_admin_grpc_api_shares_the_service_port(stack: Stack) -> None:
    with grpc.insecure_channel(stack.service.address) as channel:
        policy = admin_pb2_grpc.PolicyStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), timeout=5)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        status = policy.GetPolicyStatus(pb.GetPolicyStatusRequest(), metadata=tuple(AUTH.items()), timeout=5)
        assert status.engine == "regorus" and status.loaded and len(status.revision) == 12
        approvals = admin_pb2_grpc.ApprovalsStub(channel)
        listed = approvals.ListApprovals(pb.ListApprovalsRequest(), metadata=tuple(AUTH.items()), timeout=5)
        assert list(listed.approvals) == []
        with pytest.raises(grpc.RpcError) as error:
            approvals.GetApproval(
                pb.GetApprovalRequest(id="apr_" + "x" * 22), metadata=tuple(AUTH.items()), timeout=5
            )
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_edited_audit_line_is_found(stack: Stack, tmp_path: Path) -> None:
    # The log a replica wrote through Envoy, one of its denials turned into an allow.
    source = stack.service.workdir / "audit"
    lines = "".join(p.read_text() for p in sorted(source.iterdir(), key=_rotation_order)).splitlines()
    edited = next(i for i, line in enumerate(lines) if '"allowed":false' in line)
    lines[edited] = lines[edited].replace('"allowed":false', '"allowed":true')
    copy = tmp_path / "audit.log"
    copy.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "ext_proc", "audit", "verify", str(copy)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"{copy}:{edited + 1}" in result.stdout, result.stdout


def _rotation_order(path: Path) -> int:
    """audit.log.N ... audit.log.1, then audit.log: oldest first."""
    suffix = path.name.rpartition(".")[2]
    return -int(suffix) if suffix.isdigit() else 0
