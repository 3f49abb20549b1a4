from __future__ import annotations

import pytest

from ext_proc.scanning import validators


@pytest.mark.parametrize(
    ("digits", "ok"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True)],
)
def test_luhn(digits: str, ok: bool) -> None:
    assert validators.luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4111111111111111", True),  # Visa 16
        ("4222222222222", True),  # Visa 13
        ("5555555555554444", True),
        ("2223003122003222", True),  # Mastercard 2-series
        ("378282246310005", True),
        ("3782822463100050", False),  # Amex is 15 digits
        ("6011111111111117", True),
        ("1234567812345670", False),  # no issuer
        ("9111111111111111", False),
    ],
)
def test_card_issuer_ranges(digits: str, ok: bool) -> None:
    assert validators.card_issuer_ok(digits) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("123-45-6789", True),
        ("000-45-6789", False),
        ("666-45-6789", False),
        ("900-45-6789", False),
        ("123-00-6789", False),
        ("123-45-0000", False),
        ("078-05-1120", False),
    ],
)
def test_ssn_ranges(value: str, ok: bool) -> None:
    assert (validators.us_ssn(value) is not None) is ok


def test_iban_checksum_and_trimming() -> None:
    assert validators.iban("DE89370400440532013000") == 22
    assert validators.iban("DE89370400440532013001") is None
    assert validators.iban("DE89 3704 0044 0532 0130 00 AB") == 27
    assert validators.iban("DE89370400440532013000AB") is None  # the IBAN would end inside a token
    assert validators.iban("ZZ89370400440532013000") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("+14155550100", True),
        ("+1234567", False),
        ("415-555-0100", True),
        ("555-0100", False),
        ("+11111111111", False),
    ],
)
def test_phone_digit_counts(value: str, ok: bool) -> None:
    assert (validators.phone(value) is not None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("2001:db8::1", True), ("::1", False), ("1::2", False), ("12:34:56", False), ("fe80::1ff:fe23", True)],
)
def test_ipv6(value: str, ok: bool) -> None:
    assert (validators.ipv6(value) is not None) is ok


def test_jwt_header_must_name_an_algorithm() -> None:
    assert validators.jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.") is not None
    assert validators.jwt("eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln") is None
    assert validators.jwt("eyJ!!!.a.b") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [("hunter2", True), ("${DB_PASSWORD}", False), ("null", False), ("****", False), ("{{ secret }}", False)],
)
def test_assigned_secret_placeholders(value: str, ok: bool) -> None:
    assert (validators.assigned_secret(value) is not None) is ok
