"""Combining credentials, SPIFFE identities, and input no credential parser may choke on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ext_proc.identity.api_keys import hash_key, new_key
from ext_proc.identity.identifier import Identifier
from ext_proc.identity.model import ANONYMOUS, MISSING, AuthMethod, IdentityError
from ext_proc.identity.spiffe import SpiffeMapper, parse_spiffe_id
from tests.jwt_keys import claims, ed25519_key, jwks, public_jwk, token, write
from tests.unit.identity.conftest import bearer, jwt_section, keys_file

KEY = new_key()
SPIFFE = "spiffe://cluster.local/ns/agents/sa/support-bot"
ED = ed25519_key()


@pytest.fixture
def identifier(make_identifier: Callable[..., Identifier], tmp_path: Path) -> Identifier:
    key_path = keys_file(tmp_path / "keys.yaml", {"support-bot": [hash_key(KEY)]})
    jwks_path = write(tmp_path / "jwks.json", jwks(public_jwk(ED, "ed-1")))
    section = {
        "api_keys": {"file": str(key_path)},
        **jwt_section(jwks_file=str(jwks_path)),
        "spiffe": {"trust_domain": "cluster.local", "agent_from": "/ns/agents/sa/{agent}"},
    }
    return make_identifier(section)


async def test_no_credential_where_identity_is_configured_is_missing_one(identifier: Identifier) -> None:
    identity = await identifier.identify({"content-type": "application/json"})
    assert identity == MISSING and not identity.authenticated
    assert identity.as_input() == {
        "authenticated": False,
        "id": None,
        "method": None,
        "methods": [],
        "claims": None,
        "spiffe_id": None,
        "key_id": None,
        "expires_at": None,
        "error": "credential_missing",
    }


async def test_identity_off_reads_no_header(make_identifier: Callable[..., Identifier]) -> None:
    identifier = make_identifier({})
    identity = await identifier.identify({"authorization": "Bearer whatever", "x-api-key": "k"}, SPIFFE)
    assert identity == ANONYMOUS and identity.credential_headers == ()


async def test_a_workload_identity_names_the_agent(identifier: Identifier) -> None:
    identity = await identifier.identify({}, SPIFFE)
    assert identity.authenticated and identity.agent_id == "support-bot"
    assert identity.method is AuthMethod.SPIFFE and identity.spiffe_id == SPIFFE
    assert identity.credential_headers == ()


async def test_credentials_that_agree_are_all_listed(identifier: Identifier) -> None:
    identity = await identifier.identify({"x-api-key": KEY, **bearer(token(ED, "EdDSA", "ed-1"))}, SPIFFE)
    assert identity.authenticated and identity.agent_id == "support-bot"
    assert identity.method is AuthMethod.JWT, "the strongest method leads"
    assert identity.methods == (AuthMethod.JWT, AuthMethod.API_KEY, AuthMethod.SPIFFE)
    assert identity.spiffe_id == SPIFFE and identity.key_id is not None and identity.claims is not None
    assert identity.credential_headers == ("authorization", "x-api-key")


async def test_credentials_that_disagree_are_a_conflict(identifier: Identifier) -> None:
    other_workload = "spiffe://cluster.local/ns/agents/sa/billing"
    for headers, principal in (
        ({"x-api-key": KEY}, other_workload),
        (bearer(token(ED, "EdDSA", "ed-1", claims(sub="billing"))), SPIFFE),
        ({"x-api-key": KEY, **bearer(token(ED, "EdDSA", "ed-1", claims(sub="billing")))}, None),
    ):
        identity = await identifier.identify(headers, principal)
        assert not identity.authenticated and identity.agent_id is None
        assert identity.error == IdentityError.CREDENTIAL_CONFLICT


async def test_an_invalid_credential_is_never_ignored_for_a_valid_one(identifier: Identifier) -> None:
    expired = claims()
    expired["exp"] = expired["iat"] - 1000
    cases = [
        ({"x-api-key": KEY, **bearer(token(ED, "EdDSA", "ed-1", expired))}, None, IdentityError.JWT_EXPIRED),
        ({"x-api-key": new_key(), **bearer(token(ED, "EdDSA", "ed-1"))}, None, IdentityError.API_KEY_INVALID),
        (
            {"x-api-key": KEY},
            "spiffe://other.domain/ns/agents/sa/support-bot",
            IdentityError.SPIFFE_ID_NOT_MAPPED,
        ),
        (
            {"x-api-key": KEY},
            "spiffe://cluster.local/ns/dev/sa/support-bot",
            IdentityError.SPIFFE_ID_NOT_MAPPED,
        ),
        ({"x-api-key": KEY}, "CN=support-bot,O=agents", IdentityError.SPIFFE_ID_INVALID),
        ({"x-api-key": KEY, "authorization": "Basic dXNlcjpwYXNz"}, None, IdentityError.CREDENTIAL_MALFORMED),
    ]
    for headers, principal, code in cases:
        identity = await identifier.identify(headers, principal)
        assert not identity.authenticated and identity.error == code, (headers.keys(), principal)
        assert identity.as_input()["error"] == code.value


async def test_bearer_tokens_are_told_apart_by_shape(identifier: Identifier) -> None:
    assert (await identifier.identify(bearer(KEY))).method is AuthMethod.API_KEY
    assert (await identifier.identify(bearer(token(ED, "EdDSA", "ed-1")))).method is AuthMethod.JWT
    assert (await identifier.identify({"authorization": f"bearer   {KEY}"})).authenticated, (
        "RFC 9110: any case"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": "Token abc"},
        {"authorization": "Bearer a b"},
        {"authorization": "Bearer " + "A" * 10_000},
        {"x-api-key": ""},
        {"x-api-key": "has space"},
        {"x-api-key": "caf\u00e9"},
        {"x-api-key": "k\x00ey"},
        {"x-api-key": "A" * 100_000},
    ],
)
async def test_malformed_credential_headers(identifier: Identifier, headers: dict[str, str]) -> None:
    identity = await identifier.identify(headers)
    assert identity.error == IdentityError.CREDENTIAL_MALFORMED
    assert identity.credential_headers == tuple(headers)


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
tokenish = st.lists(
    st.sampled_from(["eyJhbGciOiJFZERTQSJ9", "e30", "", ".", "x", "=", "AAAA"]), max_size=8
).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    authorization=st.one_of(st.none(), text, tokenish.map(lambda t: "Bearer " + t)),
    api_key=st.none() | text,
    principal=st.none() | text,
)
async def test_any_input_gives_an_identity_never_an_exception(
    identifier: Identifier, authorization: str | None, api_key: str | None, principal: str | None
) -> None:
    headers = {
        name: value
        for name, value in (("authorization", authorization), ("x-api-key", api_key))
        if value is not None
    }
    identity = await identifier.identify(headers, principal)
    assert identity.error is None or isinstance(identity.error, IdentityError)
    assert identity.error != IdentityError.IDENTITY_ERROR
    assert identity.authenticated == (identity.agent_id is not None)
    orjson.dumps(identity.as_input())


@pytest.mark.parametrize(
    "value",
    [
        "spiffe://cluster.local",
        "spiffe://cluster.local/ns/agents/sa/bot",
    ],
)
def test_valid_spiffe_ids(value: str) -> None:
    assert parse_spiffe_id(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "http://cluster.local/ns/a",
        "SPIFFE://cluster.local/ns/a",
        "spiffe://",
        "spiffe:///ns/a",
        "spiffe://Cluster.Local/ns/a",
        "spiffe://cluster.local:8443/ns/a",
        "spiffe://user@cluster.local/ns/a",
        "spiffe://cluster.local/ns/a/",
        "spiffe://cluster.local//a",
        "spiffe://cluster.local/ns/../sa",
        "spiffe://cluster.local/ns/./sa",
        "spiffe://cluster.local/ns/a?x=1",
        "spiffe://cluster.local/ns/a#frag",
        "spiffe://cluster.local/ns/a%20b",
        "spiffe://cluster.local/" + "a" * 2048,
    ],
)
def test_invalid_spiffe_ids(value: str) -> None:
    assert parse_spiffe_id(value) is None


def test_spiffe_patterns() -> None:
    mapper = SpiffeMapper("prod.example.org", "/ns/*/sa/{agent}")
    assert mapper.agent_for("spiffe://prod.example.org/ns/team-a/sa/bot-1") == "bot-1"
    assert (
        mapper.agent_for("spiffe://prod.example.org/ns/team-a/sa/bot-1/extra")
        == IdentityError.SPIFFE_ID_NOT_MAPPED
    )
    assert (
        mapper.agent_for("spiffe://prod.example.org/ns/team-a/pod/bot-1")
        == IdentityError.SPIFFE_ID_NOT_MAPPED
    )
    assert SpiffeMapper("example.org", "/agent/{agent}").agent_for("spiffe://example.org/agent/x") == "x"


async def test_a_failure_inside_verification_is_an_error_code(
    identifier: Identifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert identifier.jwt is not None

    async def broken(_token: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(identifier.jwt, "verify", broken)
    identity = await identifier.identify({"x-api-key": KEY, **bearer(token(ED, "EdDSA", "ed-1"))})
    assert not identity.authenticated
    assert identity.error == IdentityError.IDENTITY_ERROR
    assert identity.credential_headers == ("authorization", "x-api-key")
