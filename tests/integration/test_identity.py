"""Agent identity and brokered credentials through real Envoy.

Every agent credential (API keys, JWTs of three algorithms) is verified at the check; the
policy decides on ``input.agent``; the agent's own credential never reaches the upstream, which
receives the brokered credential or a token minted for the agent instead. The upstream is the
echo endpoint, which answers with the headers it received.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jwt
import openai
import pytest

from ext_proc.identity.api_keys import new_key
from tests import jwt_keys
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack

pytestmark = pytest.mark.envoy

UPSTREAM_SECRET = "sk-upstream-0123456789abcdefghijklmnop"
SUPPORT_KEY = new_key()
BILLING_KEY = new_key()
RSA, EC, ED = jwt_keys.rsa_key(), jwt_keys.ec_key(), jwt_keys.ed25519_key()
SIGNING = jwt_keys.ed25519_key()


def key_line(agent: str, *keys: str) -> str:
    hashes = ", ".join(f"sha256:{hashlib.sha256(key.encode()).hexdigest()}" for key in keys)
    return f"{agent}: [{hashes}]\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("identity")
    keys = jwt_keys.write(
        workdir / "keys.yaml", key_line("support-bot", SUPPORT_KEY) + key_line("billing-bot", BILLING_KEY)
    )
    jwks = jwt_keys.jwks(
        jwt_keys.public_jwk(RSA, "rsa-1"), jwt_keys.public_jwk(EC, "ec-1"), jwt_keys.public_jwk(ED, "ed-1")
    )
    sections: dict[str, dict[str, Any]] = {
        "identity": {
            "reload_interval_seconds": 0.1,
            "api_keys": {"file": str(keys)},
            "jwt": {
                "jwks_file": str(jwt_keys.write(workdir / "jwks.json", jwks)),
                "hs256_secret_file": str(jwt_keys.write(workdir / "hs256", jwt_keys.HS_SECRET)),
                "algorithms": ["RS256", "ES256", "EdDSA", "HS256"],
                "issuer": jwt_keys.ISSUER,
                "audiences": [jwt_keys.AUDIENCE],
            },
        },
        "credentials": {
            "upstream": {
                "upstream-key": {
                    "file": str(jwt_keys.write(workdir / "upstream-key", UPSTREAM_SECRET)),
                    "prefix": "Bearer ",
                }
            },
            "minting": {
                "key_file": str(jwt_keys.write(workdir / "signing.pem", jwt_keys.private_pem(SIGNING))),
                "issuer": "https://chaperone.test",
            },
        },
    }
    policies = copy_policies("identity", workdir / "policies")
    yield from start_stack(workdir, policies, upstream, service_sections=sections)


def echo(stack: Stack, headers: dict[str, str], path: str = "/echo/hello") -> httpx.Response:
    with stack.client() as client:
        return client.post(path, headers=headers, json={"question": "where is my order?"})


def received(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {k.lower(): v for k, v in response.json()["headers"].items()}


def test_a_request_without_a_credential_is_refused(stack: Stack) -> None:
    response = echo(stack, {})
    assert response.status_code == 401
    assert response.json()["error"]["reasons"] == ["agent credential refused: credential_missing"]


def test_an_api_key_is_verified_and_replaced_by_the_brokered_credential(stack: Stack) -> None:
    headers = received(echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"}))
    assert headers["x-agent"] == "support-bot" and headers["x-agent-method"] == "api_key"
    assert headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"
    # The body phase (ext_proc) knows the agent, and its input never holds the brokered secret.
    assert headers["x-agent-in-body-phase"] == "support-bot"
    assert headers["x-credential-visible-in-body-phase"] == "no"


def test_an_api_key_in_its_own_header_is_removed_before_the_upstream(stack: Stack) -> None:
    headers = received(echo(stack, {"x-api-key": BILLING_KEY}))
    assert headers["x-agent"] == "billing-bot"
    assert "x-api-key" not in headers and "authorization" not in headers
    assert BILLING_KEY not in str(headers)


def test_an_unknown_key_is_refused_with_its_code(stack: Stack) -> None:
    response = echo(stack, {"authorization": f"Bearer {new_key()}"})
    assert response.status_code == 401
    assert response.json()["error"]["reasons"] == ["agent credential refused: api_key_invalid"]


@pytest.mark.parametrize(
    ("key", "alg", "kid"), [(RSA, "RS256", "rsa-1"), (EC, "ES256", "ec-1"), (ED, "EdDSA", "ed-1")]
)
def test_a_jwt_is_verified_and_never_reaches_the_upstream(stack: Stack, key: Any, alg: str, kid: str) -> None:
    token = jwt_keys.token(key, alg, kid, jwt_keys.claims(sub="support-bot"))
    headers = received(echo(stack, {"authorization": f"Bearer {token}"}))
    assert headers["x-agent"] == "support-bot" and headers["x-agent-method"] == "jwt"
    assert headers["authorization"] == f"Bearer {UPSTREAM_SECRET}"


def _expired() -> str:
    return jwt_keys.token(RSA, "RS256", "rsa-1", jwt_keys.claims(lifetime=-120))


def _wrong_audience() -> str:
    return jwt_keys.token(RSA, "RS256", "rsa-1", jwt_keys.claims(aud="someone-else"))


def _wrong_issuer() -> str:
    return jwt_keys.token(RSA, "RS256", "rsa-1", jwt_keys.claims(iss="https://evil.example.com"))


def _bad_signature() -> str:
    return jwt_keys.token(jwt_keys.rsa_key(), "RS256", "rsa-1")


def _unknown_kid() -> str:
    return jwt_keys.token(RSA, "RS256", "rsa-9")


def _alg_none() -> str:
    return jwt.encode(jwt_keys.claims(), None, algorithm="none")


def _hs256_with_another_secret() -> str:
    return jwt_keys.token(b"another-secret-of-32-bytes-or-more!!!!!", "HS256", None)


def _not_yet_valid() -> str:
    return jwt_keys.token(ED, "EdDSA", "ed-1", jwt_keys.claims(nbf=int(time.time()) + 3600))


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (_expired, "jwt_expired"),
        (_wrong_audience, "jwt_wrong_audience"),
        (_wrong_issuer, "jwt_wrong_issuer"),
        (_bad_signature, "jwt_bad_signature"),
        (_unknown_kid, "jwt_unknown_kid"),
        (_alg_none, "jwt_algorithm_not_allowed"),
        (_hs256_with_another_secret, "jwt_bad_signature"),
        (_not_yet_valid, "jwt_not_yet_valid"),
    ],
)
def test_a_refused_jwt_is_denied_with_its_code(stack: Stack, make: Any, code: str) -> None:
    response = echo(stack, {"authorization": f"Bearer {make()}"})
    assert response.status_code == 401
    assert response.json()["error"]["reasons"] == [f"agent credential refused: {code}"]


def test_a_valid_credential_beside_a_refused_one_is_not_enough(stack: Stack) -> None:
    response = echo(stack, {"authorization": f"Bearer {_expired()}", "x-api-key": SUPPORT_KEY})
    assert response.status_code == 401
    assert response.json()["error"]["reasons"] == ["agent credential refused: jwt_expired"]


def test_a_minted_token_replaces_the_agent_credential_and_verifies_against_the_jwks(stack: Stack) -> None:
    headers = received(echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"}, path="/echo/mint/orders"))
    scheme, _, token = headers["authorization"].partition(" ")
    assert scheme == "Bearer" and token != SUPPORT_KEY
    keys = jwt.PyJWKClient(f"{stack.service.admin_url}/.well-known/jwks.json")
    signing_key = keys.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience="orders")
    assert claims["sub"] == "support-bot" and claims["iss"] == "https://chaperone.test"
    assert claims["team"] == "support" and 0 < claims["exp"] - claims["iat"] <= 60


def test_a_key_rotation_takes_effect_without_a_restart(stack: Stack, tmp_path: Path) -> None:
    keys = Path(stack.service.config["identity"]["api_keys"]["file"])
    before = keys.read_text()
    new = new_key()
    try:
        keys.write_text(key_line("support-bot", SUPPORT_KEY, new) + key_line("billing-bot", BILLING_KEY))
        _until(lambda: echo(stack, {"authorization": f"Bearer {new}"}).status_code == 200)
        assert echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"}).status_code == 200  # both, during it
        keys.write_text(key_line("support-bot", new) + key_line("billing-bot", BILLING_KEY))
        _until(lambda: echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"}).status_code == 401)
        assert received(echo(stack, {"authorization": f"Bearer {new}"}))["x-agent"] == "support-bot"
    finally:
        keys.write_text(before)
        _until(lambda: echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"}).status_code == 200)


def test_no_credential_appears_in_the_service_log(stack: Stack) -> None:
    echo(stack, {"authorization": f"Bearer {SUPPORT_KEY}"})
    echo(stack, {"authorization": f"Bearer {_expired()}"})
    text = stack.service.log_path.read_text()
    assert '"agent":"support-bot"' in text
    for secret in (SUPPORT_KEY, BILLING_KEY, UPSTREAM_SECRET):
        assert secret not in text
    assert "eyJ" not in text  # no JWT, of the agent or minted


def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the change did not take effect"
        time.sleep(0.05)


HI: Any = [{"role": "user", "content": "hi"}]


def test_a_refused_credential_on_an_llm_call_is_in_the_providers_error_shape(stack: Stack) -> None:
    """The check's 401 reaches the SDKs as their own error, with its message, not a bare status."""
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=new_key(), max_retries=0)
    with client, pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "agent credential refused: api_key_invalid" in str(refused.value)
    assert refused.value.code == "denied"
    claude = anthropic.Anthropic(base_url=stack.url, api_key=new_key(), max_retries=0)
    with claude, pytest.raises(anthropic.AuthenticationError) as refused_too:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HI)
    assert "api_key_invalid" in str(refused_too.value)
