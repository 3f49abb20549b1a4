"""No secret, credential or redacted value in any log line, whatever path a request takes.

Traffic through real Envoy at the most verbose log level, with an audit file, along every path:
agent credentials (API key and JWT, valid and refused), LLM calls whose prompts and answers carry
secrets and personal data (streamed and not, OpenAI and Anthropic), MCP tool calls whose
arguments and results carry them, denials, malformed and undecodable bodies, query strings, and
the operator API with its token. Then every line the service and Envoy wrote is searched for
every value.
"""

from __future__ import annotations

import contextlib
import hashlib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from mcp.shared.exceptions import MCPError

from ext_proc.identity.api_keys import new_key
from tests import jwt_keys
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.mcp_server import McpServerThread, call_tool

pytestmark = pytest.mark.envoy

AGENT_KEY = new_key()
OPERATOR_TOKEN = "tok-" + "q7Wm2Kx9Lp4Rt8Vz3Nb6"
JWT_KEY = jwt_keys.ec_key()
OPENAI_KEY = "sk-proj-7f3kQ9vX2mN8pL4rT6yW1zB5cD0eF9gH"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
SSN = "536-22-8726"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
SECRET_TEXT = f"use {OPENAI_KEY} and {AWS_KEY}; mail {EMAIL}, card {CARD}, SSN {SSN}"


def _sections(workdir: Path) -> dict[str, dict[str, Any]]:
    key_hash = hashlib.sha256(AGENT_KEY.encode()).hexdigest()
    keys = jwt_keys.write(workdir / "keys.yaml", f"support-bot: sha256:{key_hash}\n")
    jwks = jwt_keys.write(workdir / "jwks.json", jwt_keys.jwks(jwt_keys.public_jwk(JWT_KEY, "k1")))
    (workdir / "tokens").write_text(f"olga {OPERATOR_TOKEN}\n")
    return {
        "logging": {"level": "debug"},
        "audit": {"file": {"path": str(workdir / "audit.log")}},
        "admin": {"token_file": str(workdir / "tokens")},
        "identity": {
            "api_keys": {"file": str(keys)},
            "jwt": {"jwks_file": str(jwks), "issuer": jwt_keys.ISSUER, "audiences": [jwt_keys.AUDIENCE]},
        },
    }


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("secrets-llm")
    policies = copy_policies("agents", workdir / "policies")
    yield from start_stack(workdir, policies, upstream, service_sections=_sections(workdir))


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("secrets-mcp")
    server = McpServerThread().start()
    try:
        policies = copy_policies("agents", workdir / "policies")
        yield from start_stack(workdir, policies, server, service_sections=_sections(workdir))  # type: ignore[arg-type]
    finally:
        server.stop()


def _openai(stack: Stack, api_key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=api_key, default_headers=headers, max_retries=0)


def _llm_traffic(stack: Stack) -> None:
    valid_jwt = jwt_keys.token(JWT_KEY, "ES256", "k1")
    expired_jwt = jwt_keys.token(JWT_KEY, "ES256", "k1", jwt_keys.claims(lifetime=-600))
    prompt = [{"role": "user", "content": f"{SECRET_TEXT}\n{PRIVATE_KEY}"}]
    blocked_answer = pytest.raises(openai.PermissionDeniedError)  # an answer with an API key
    with _openai(stack, AGENT_KEY, **{"x-demo-reply": SECRET_TEXT}) as client, blocked_answer:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])  # type: ignore[list-item]
    with _openai(stack, AGENT_KEY, **{"x-demo-reply": SECRET_TEXT.replace(OPENAI_KEY, "a key")}) as client:
        with pytest.raises(openai.PermissionDeniedError):  # the private key is blocked
            client.chat.completions.create(model="gpt-4o-mini", messages=prompt)  # type: ignore[arg-type]
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": SECRET_TEXT.replace(OPENAI_KEY, "a key")}],  # type: ignore[list-item]
        )
        assert EMAIL not in (answer.choices[0].message.content or "")
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,  # type: ignore[list-item]
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert CARD not in streamed
    with _openai(stack, valid_jwt) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"mail {EMAIL}"}]
        )
    refused = contextlib.suppress(openai.APIStatusError)  # refused or not, the token is not written
    with _openai(stack, expired_jwt) as client, refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    claude = anthropic.Anthropic(base_url=stack.url, api_key=AGENT_KEY, max_retries=0)
    with claude:
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": f"SSN {SSN}"}]
        )
    with stack.client() as client:
        query = urllib.parse.urlencode({"api_key": OPENAI_KEY, "email": EMAIL})
        client.get(f"/nowhere?{query}", headers={"authorization": f"Bearer {AGENT_KEY}"})  # denied
        bad_json = '{"model": "gpt-4o-mini", "messages": [' + f'"{OPENAI_KEY}"'
        client.post("/v1/chat/completions", content=bad_json, headers={"content-type": "application/json"})
        client.post(
            "/echo/utf8", content=OPENAI_KEY.encode() + b"\xff\xfe", headers={"content-type": "text/plain"}
        )
        client.post("/echo/plain", json={"note": SECRET_TEXT}, headers={"x-api-key": AGENT_KEY})
    admin = stack.service.admin_url
    httpx.get(f"{admin}/api/decisions", headers={"authorization": f"Bearer {OPERATOR_TOKEN}"})
    httpx.get(f"{admin}/api/approvals", headers={"authorization": "Bearer wrong-" + OPERATOR_TOKEN})


async def _mcp_traffic(stack: Stack) -> None:
    url = f"{stack.url}/mcp"
    record = await call_tool(url, "get_customer", {"customer_id": 42})  # its answer carries PII and a key
    assert not isinstance(record, MCPError) and EMAIL not in record.content[0].text
    await call_tool(url, "refund_payment", {"order_id": f"card {CARD}", "amount": 5})
    await call_tool(url, "delete_user", {"user_id": SSN})  # denied by the policy


def _written(stack: Stack) -> str:
    paths = [stack.service.log_path, stack.envoy.log_path, stack.service.workdir / "audit.log"]
    return "\n".join(path.read_text(errors="replace") for path in paths)


SECRETS = {
    "agent API key": AGENT_KEY,
    "operator token": OPERATOR_TOKEN,
    "OpenAI key": OPENAI_KEY,
    "AWS key": AWS_KEY,
    "email": EMAIL,
    "card": CARD,
    "SSN": SSN,
    "private key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "customer API key (tool result)": "sk-proj-7f3kQ9vX2mN8pL4rT6yW1zB5cD0eF9gH",
    "phone (tool result)": "415 555 0100",
}


def test_no_secret_is_written_by_the_llm_and_http_paths(llm: Stack) -> None:
    _llm_traffic(llm)
    llm.service.wait_for_event(lambda e: e.get("event") == "stream_summary")
    written = _written(llm)
    assert '"event":"decision"' in written and "log_redactions" in written, "the traffic was logged"
    for name, value in SECRETS.items():
        assert value not in written, f"the {name} reached a log"
    assert "eyJ" not in written, "a JWT reached a log"


async def test_no_secret_is_written_by_the_mcp_paths(mcp: Stack) -> None:
    await _mcp_traffic(mcp)
    written = _written(mcp)
    assert '"tool":"get_customer"' in written, "the traffic was logged"
    for name, value in SECRETS.items():
        assert value not in written, f"the {name} reached a log"
