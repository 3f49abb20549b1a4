"""Authorization/Check over a real grpc.aio server, with the embedded engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format
from google.rpc import code_pb2

from ext_proc.audit import AuditLog
from ext_proc.authz.servicer import AuthorizationServicer
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.evaluator import Evaluator
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.protoconv import struct_to_dict

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def servicer() -> AuthorizationServicer:
    engine = RegorusEngine(load_bundle(FIXTURES / "policies" / "rewrite"), "envoy/authz/allow")
    return AuthorizationServicer(Evaluator(engine), AuditLog(), deny_status=403)


@pytest.fixture
async def stub(grpc_channel_for: Any, servicer: AuthorizationServicer) -> Any:
    channel = await grpc_channel_for(external_auth_pb2_grpc.add_AuthorizationServicer_to_server, servicer)
    return external_auth_pb2_grpc.AuthorizationStub(channel)


def check_request(path: str, method: str = "GET", **headers: str) -> Any:
    return json_format.ParseDict(
        {"attributes": {"request": {"http": {"method": method, "path": path, "headers": headers}}}},
        external_auth_pb2.CheckRequest(),
    )


async def test_allowed_check_carries_header_changes_and_the_ext_proc_hand_off(stub: Any) -> None:
    reply = await stub.Check(check_request("/echo/plain"))
    assert reply.status.code == code_pb2.OK
    ok = reply.ok_response
    assert {(h.header.key, h.header.value) for h in ok.headers} == {
        ("x-injected", "yes"),
        ("x-agent-id", "agent-7"),
    }
    assert list(ok.headers_to_remove) == ["x-agent-secret"]
    assert [(h.header.key, h.header.value) for h in ok.response_headers_to_add] == [
        ("x-chaperone", "checked")
    ]
    metadata = struct_to_dict(reply.dynamic_metadata)
    assert len(metadata["decision_id"]) == 36, "at the top level, where opa-envoy-plugin puts it"
    hand_off = metadata["chaperone"]
    assert "decision_id" not in hand_off
    assert hand_off["inspect"] == {"request_body": "none", "response_headers": False, "response_body": "none"}


async def test_inspection_plan_travels_in_metadata(stub: Any) -> None:
    reply = await stub.Check(check_request("/stream/chunks", "POST"))
    assert struct_to_dict(reply.dynamic_metadata)["chaperone"]["inspect"] == {
        "request_body": "streamed",
        "response_headers": False,
        "response_body": "streamed",
    }


async def test_denied_check_has_the_policy_status_body_and_headers(stub: Any) -> None:
    reply = await stub.Check(check_request("/deny/custom"))
    assert reply.status.code == code_pb2.PERMISSION_DENIED
    denied = reply.denied_response
    assert denied.status.code == 402
    assert denied.body == "short and stout"
    assert ("x-deny-reason", "teapot") in {(h.header.key, h.header.value) for h in denied.headers}


async def test_unparseable_request_is_denied_not_errored(stub: Any) -> None:
    request = check_request("/echo/plain", "POST", **{"content-type": "application/json"})
    request.attributes.request.http.body = "{not json"
    reply = await stub.Check(request)
    assert reply.status.code == code_pb2.PERMISSION_DENIED
    assert reply.denied_response.status.code == 400
    assert '"body_parse_error"' in reply.denied_response.body
