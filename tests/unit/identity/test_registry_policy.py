"""input.agent and the agent registry (data.agents) in a real policy, in both engines.

The identity comes from a real Identifier, the decision from the example registry policy under
tests/fixtures/identity/registry, and the credential fields are read with the parsers the
request path uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opa_bindings import OpaEngine

from ext_proc.credentials.decision import MintToken, parse_credential, parse_mint_token
from ext_proc.identity.api_keys import hash_key, new_key
from ext_proc.identity.identifier import Identifier
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.decision import parse_decision
from ext_proc.policy.rego_tests import run_tests
from ext_proc.policy.regorus_engine import RegorusEngine
from tests.harness import ROOT
from tests.opa_server import opa_engine_for
from tests.unit.identity.conftest import keys_file

REGISTRY = ROOT / "tests" / "fixtures" / "identity" / "registry"
SUPPORT_KEY, BILLING_KEY, STRANGER_KEY = new_key(), new_key(), new_key()


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[RegorusEngine, OpaEngine]]:
    opa = opa_engine_for(REGISTRY)
    yield RegorusEngine(load_bundle(REGISTRY), "envoy/authz/allow"), opa
    opa.close()


@pytest.fixture
def identifier(make_identifier: Callable[..., Identifier], tmp_path: Path) -> Identifier:
    hashes = {"support-bot": [hash_key(SUPPORT_KEY)], "billing-agent": [hash_key(BILLING_KEY)]}
    hashes["stranger"] = [hash_key(STRANGER_KEY)]
    return make_identifier({"api_keys": {"file": str(keys_file(tmp_path / "keys.yaml", hashes))}})


async def decide(
    engines: tuple[RegorusEngine, OpaEngine], identifier: Identifier, headers: dict[str, str], upstream: str
) -> dict[str, Any]:
    identity = await identifier.identify(headers)
    document = {
        "phase": "check",
        "attributes": {
            "request": {"http": {"method": "POST", "headers": headers}},
            "contextExtensions": {"upstream": upstream},
        },
        "agent": identity.as_input(),
    }
    regorus, opa = engines
    decision: dict[str, Any] = regorus.evaluate_now(document)
    assert decision == opa.eval_document("envoy.authz.allow", document), "both engines agree"
    return decision


async def test_a_registered_agent_gets_the_credential_of_its_upstream(
    engines: tuple[RegorusEngine, OpaEngine], identifier: Identifier
) -> None:
    decision = await decide(engines, identifier, {"authorization": f"Bearer {SUPPORT_KEY}"}, "openai")
    assert parse_decision(decision).allowed
    assert decision["headers"] == {"x-agent-team": "customer-support"}
    assert parse_credential(decision.get("credential")) == "openai-support"
    assert parse_mint_token(decision.get("mint_token")) is None


async def test_a_tool_server_gets_a_minted_token(
    engines: tuple[RegorusEngine, OpaEngine], identifier: Identifier
) -> None:
    decision = await decide(engines, identifier, {"x-api-key": SUPPORT_KEY}, "orders-mcp")
    assert parse_credential(decision.get("credential")) is None
    assert parse_mint_token(decision.get("mint_token")) == MintToken(audience="orders-mcp", ttl_seconds=300)


@pytest.mark.parametrize(
    ("headers", "upstream", "status", "reason"),
    [
        ({}, "openai", 401, "agent credential refused: credential_missing"),
        ({"x-api-key": "chp_wrong"}, "openai", 401, "agent credential refused: api_key_invalid"),
        ({"authorization": "Basic eDp5"}, "openai", 401, "agent credential refused: credential_malformed"),
        ({"x-api-key": BILLING_KEY}, "openai", None, "agent billing-agent may not call openai"),
        ({"x-api-key": STRANGER_KEY}, "openai", None, "agent stranger may not call openai"),
        ({"x-api-key": SUPPORT_KEY}, "github", None, "agent support-bot may not call github"),
    ],
)
async def test_refusals(
    engines: tuple[RegorusEngine, OpaEngine],
    identifier: Identifier,
    headers: dict[str, str],
    upstream: str,
    status: int | None,
    reason: str,
) -> None:
    decision = parse_decision(await decide(engines, identifier, headers, upstream))
    assert not decision.allowed
    assert decision.http_status == status
    assert decision.reasons == (reason,)


def test_the_example_policy_passes_its_rego_tests() -> None:
    results = run_tests(REGISTRY)
    assert len(results) == 3 and all(r.outcome == "PASS" for r in results)
