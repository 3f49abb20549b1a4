"""ext_authz through real Envoy: allow, deny with the policy's status/body/headers, header changes."""

from __future__ import annotations

import orjson

from tests.harness import Stack


def test_allowed_request_reaches_the_upstream_with_injected_headers(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/echo/plain", headers={"x-agent-secret": "s3cr3t-value", "x-keep": "1"})
    assert response.status_code == 200
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert seen["x-injected"] == "yes"
    assert seen["x-agent-id"] == "agent-7"
    assert seen["x-keep"] == "1"
    assert "x-agent-secret" not in seen, "the policy removed this header before the upstream"
    assert response.headers["x-chaperone"] == "checked", "response_headers_to_add reaches the client"


def test_policy_header_overrides_a_client_header(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/echo/plain", headers={"x-agent-id": "spoofed"})
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert seen["x-agent-id"] == "agent-7"


def test_deny_carries_the_policy_status_body_and_headers(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/deny/custom")
    assert response.status_code == 402
    assert response.text == "short and stout"
    assert response.headers["x-deny-reason"] == "teapot"


def test_deny_without_a_body_gets_a_json_error_with_the_decision_id(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        response = client.get("/not-allowed")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "denied"
    assert error["reasons"] == ["not in the test allow-list"]
    events = [e for e in rewrite_stack.service.log_events() if e.get("decision_id") == error["decision_id"]]
    assert events and events[0]["allowed"] is False and events[0]["phase"] == "check"


def test_audit_event_has_no_query_string_or_credentials(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        client.get("/echo/plain?api_key=sk-live-abc123", headers={"authorization": "Bearer tok-xyz-789"})
    log = rewrite_stack.service.log_path.read_text()
    assert "sk-live-abc123" not in log
    assert "tok-xyz-789" not in log
    event = next(e for e in reversed(rewrite_stack.service.log_events()) if e.get("path") == "/echo/plain")
    for key in ("decision_id", "phase", "method", "allowed", "policy_revision", "eval_ms"):
        assert key in event


def test_dot_segments_cannot_escape_an_allowed_prefix(rewrite_stack: Stack) -> None:
    with rewrite_stack.client() as client:
        normalized = client.get("/echo/plain/../../deny/custom")
        encoded = client.get("/echo/plain/..%2F..%2Fdeny/custom")
    assert normalized.status_code == 402, "Envoy normalizes the path before the policy sees it"
    assert encoded.status_code == 400, "escaped slashes are refused"


def test_policy_sees_opa_envoy_plugin_input(rewrite_stack: Stack) -> None:
    # The echo route returns what the upstream got; the decision log shows what the policy saw.
    with rewrite_stack.client() as client:
        response = client.post("/echo/plain/a%20b?x=1&x=2", content=orjson.dumps({"k": "v"}))
    assert response.status_code == 200
