"""The decision fields `credential` and `mint_token`: parsed, or refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from ext_proc.credentials.decision import MintToken, parse_credential, parse_mint_token
from ext_proc.errors import ChaperoneError, ErrorCode


def test_credential() -> None:
    assert parse_credential(None) is None
    assert parse_credential("openai-prod") == "openai-prod"


@pytest.mark.parametrize("value", ["", "OpenAI", "a b", "x" * 65, 7, True, ["openai"], {"name": "openai"}])
def test_credential_errors(value: Any) -> None:
    with pytest.raises(
        ChaperoneError, match="decision field credential: expected a credential name"
    ) as raised:
        parse_credential(value)
    assert raised.value.code == ErrorCode.DECISION_INVALID


def test_mint_token() -> None:
    assert parse_mint_token(None) is None
    assert parse_mint_token({"audience": "billing-api"}) == MintToken(audience="billing-api")
    full = parse_mint_token(
        {
            "audience": ["billing-api", "ledger"],
            "ttl_seconds": 60,
            "claims": {"task": "refund-42"},
            "header": "x-task-token",
            "prefix": "",
        }
    )
    assert full == MintToken(("billing-api", "ledger"), 60, {"task": "refund-42"}, "x-task-token", "")


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        ("yes", "mint_token", "expected object, got string"),
        ({}, "mint_token.audience", "expected a non-empty string or array"),
        ({"audience": ""}, "mint_token.audience", "got an empty string"),
        ({"audience": ["a", 1]}, "mint_token.audience", "got array"),
        ({"audience": "a", "ttl_seconds": 0}, "mint_token.ttl_seconds", "a positive integer, got number"),
        ({"audience": "a", "ttl_seconds": True}, "mint_token.ttl_seconds", "got boolean"),
        ({"audience": "a", "ttl_seconds": "60"}, "mint_token.ttl_seconds", "got string"),
        ({"audience": "a", "claims": []}, "mint_token.claims", "expected object, got array"),
        ({"audience": "a", "claims": {"sub": "admin"}}, "mint_token.claims", "'sub' is a registered claim"),
        ({"audience": "a", "header": "Authorization"}, "mint_token.header", "got a string of another shape"),
        ({"audience": "a", "header": "host"}, "mint_token.header", "not a connection header"),
        ({"audience": "a", "header": ":path"}, "mint_token.header", "lower-case header name"),
        ({"audience": "a", "prefix": "Bearer\r\nx: y"}, "mint_token.prefix", "without CR, LF or NUL"),
        ({"audience": "a", "lifetime": 5}, "mint_token", "unknown key 'lifetime'"),
    ],
)
def test_mint_token_errors_name_the_field(value: Any, field: str, expected: str) -> None:
    with pytest.raises(ChaperoneError) as raised:
        parse_mint_token(value)
    assert raised.value.code == ErrorCode.DECISION_INVALID
    assert raised.value.message.startswith(f"decision field {field}:")
    assert expected in raised.value.message
