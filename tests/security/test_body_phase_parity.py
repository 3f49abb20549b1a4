"""A policy written for the check answers the same in every later phase, and framing is kept.

opa-envoy-plugin evaluates a policy once, at the check. Chaperone evaluates a body phase only for
agent traffic it recognizes or when the decision asks (``inspect``), and then with an input that
is a superset of the check's (its ``time``, ``size``, ``metadataContext``...): a rule that
allowed at the check allows there too. A body that is read but not changed goes upstream with
its own ``content-length`` (not turned into a chunked body); one that changes, with its new one.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.harness import Stack, UpstreamServer, start_stack

pytestmark = pytest.mark.envoy

# A policy as an opa-envoy-plugin user writes it: no phases, and fields only the check has.
CHECK_POLICY = """\
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.attributes.request.http.method == "POST"
	input.attributes.request.time
	input.version.ext_authz == "v3"
	"metadataContext" in object.keys(input.attributes)
}
"""


@pytest.fixture(scope="module")
def plugin_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("security-plugin-policy")
    policies = workdir / "policies"
    policies.mkdir()
    (policies / "policy.rego").write_text(CHECK_POLICY)
    yield from start_stack(workdir, policies, upstream)


def decisions(stack: Stack) -> list[dict[str, object]]:
    return [e for e in stack.service.log_events() if e.get("event") == "decision"]


def test_a_plain_json_post_is_decided_once_and_keeps_its_length(plugin_stack: Stack) -> None:
    before = len(decisions(plugin_stack))
    body = orjson.dumps({"order": 42, "note": "plain JSON, no agent protocol"})
    response = httpx.post(
        plugin_stack.url + "/echo/orders",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    received = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert received.get("content-length") == str(len(body))
    assert "transfer-encoding" not in received
    assert response.json()["body"] == body.decode()
    phases = [d["phase"] for d in decisions(plugin_stack)[before:]]
    assert phases == ["check"], "no second evaluation the policy did not ask for"


def test_agent_traffic_is_decided_again_with_everything_the_check_saw(plugin_stack: Stack) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    before = len(decisions(plugin_stack))
    response = httpx.post(plugin_stack.url + "/v1/chat/completions", json=body, timeout=10)
    phases = [(d["phase"], d["allowed"]) for d in decisions(plugin_stack)[before:]]
    assert ("check", True) in phases and ("request_body", True) in phases, phases
    assert response.status_code != 403 or "request" not in response.text


def test_a_redacted_body_leaves_with_its_new_length(default_stack: Stack) -> None:
    secret = "AKIA" + "Q3EGRX7NVDKP4ZLM"
    body = b'{"note": "key %s", "n": 12345678901234567890123}' % secret.encode()
    response = httpx.post(
        default_stack.url + "/echo/x", content=body, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert secret not in echoed["body"]
    received = {k.lower(): v for k, v in echoed["headers"].items()}
    assert received["content-length"] == str(len(echoed["body"].encode()))
    assert "transfer-encoding" not in received
    assert "12345678901234567890123" in echoed["body"], "integers stay exact when the body is rewritten"
