"""Each finding type: true positives in ordinary text, near-misses, and character offsets."""

from __future__ import annotations

import pytest

from ext_proc.scanning.detectors import DETECTORS, FINDING_TYPES
from ext_proc.scanning.redaction import default_scanner
from ext_proc.scanning.scanner import Scanner
from tests.unit.scanning.samples import IN_CONTEXT, NEAR_MISSES, POSITIVES

SURROUNDINGS = ("{}", "see {} here", "({})", '"{}",', "value: {}.\n", "{}\tnext")


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in default_scanner().scan(text)]


def test_the_type_list_is_the_documented_one() -> None:
    assert list(FINDING_TYPES) == [
        "PRIVATE_KEY", "JWT", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN",
        "SLACK_TOKEN", "STRIPE_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
        "URL_CREDENTIALS", "PASSWORD", "EMAIL", "CREDIT_CARD", "US_SSN", "IBAN", "PHONE", "IP_ADDRESS",
    ]  # fmt: skip
    assert {FINDING_TYPES[t] for t in ("EMAIL", "CREDIT_CARD", "IP_ADDRESS")} == {"pii"}
    assert FINDING_TYPES["JWT"] == "secret"


@pytest.mark.parametrize(
    ("finding_type", "value"), [(t, v) for t, values in POSITIVES.items() for v in values]
)
@pytest.mark.parametrize("surrounding", SURROUNDINGS)
def test_true_positive_in_surroundings(finding_type: str, value: str, surrounding: str) -> None:
    assert found(surrounding.format(value)) == [(finding_type, value)]


@pytest.mark.parametrize(("text", "finding_type", "value"), IN_CONTEXT)
def test_the_finding_is_the_value_not_the_name(text: str, finding_type: str, value: str) -> None:
    assert found(text) == [(finding_type, value)]


@pytest.mark.parametrize(("text", "finding_type"), NEAR_MISSES)
def test_near_miss_is_not_reported(text: str, finding_type: str) -> None:
    assert finding_type not in [t for t, _ in found(text)]


@pytest.mark.parametrize(
    "text",
    [
        "the deployment finished without errors",
        "def f(x):\n    return {k: v for k, v in x.items() if v > 3}\n",
        '{"ts": "2024-05-17T10:23:45.123Z", "latency_ms": 137, "version": "1.14.2"}',
        "uuid 3f1c2a9e-8b7d-4e6f-a1b2-c3d4e5f60718, sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
        "Run `pip install -r requirements.txt` and open http://localhost:8080/docs?page=2",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "Prices: $1,299.00 and 1 299,00 EUR; order #98123; call ext. 4412",
    ],
)
def test_ordinary_text_has_no_findings(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "prefix", ["", "é", "日本語のテキスト ", "emoji 🎉🎉 ", "combining e\u0301 ", "\u200b\u202e", "ß" * 50]
)
def test_offsets_are_characters_of_the_str(prefix: str) -> None:
    text = f"{prefix}mail john.doe@example.com, ключ AKIAIOSFODNN7EXAMPLE, 🎉 card 4111 1111 1111 1111 ✓"
    assert found(text) == [
        ("EMAIL", "john.doe@example.com"),
        ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
    ]


def test_non_ascii_around_a_value_is_a_boundary_like_any_other() -> None:
    assert found("é4111111111111111é") == [("CREDIT_CARD", "4111111111111111")]
    assert found("パスワード password=秘密のパス") == [("PASSWORD", "秘密のパス")]


def test_a_specific_key_wins_over_the_generic_assignment_of_it() -> None:
    assert found("api_key=AKIAIOSFODNN7EXAMPLE") == [("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")]
    assert found(f'"token_secret": "{POSITIVES["GITHUB_TOKEN"][0]}"') == [
        ("GITHUB_TOKEN", POSITIVES["GITHUB_TOKEN"][0])
    ]


def test_url_credentials_win_over_the_email_like_part() -> None:
    assert found("ftp://joe:secret@files.example.com") == [("URL_CREDENTIALS", "joe:secret")]


def test_a_truncated_private_key_is_still_found() -> None:
    text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
    assert found(text + "and then") == [("PRIVATE_KEY", text.rstrip("\n"))]


def test_a_private_key_in_a_json_string_is_found() -> None:
    text = (
        '{"key": "-----BEGIN EC PRIVATE KEY-----\\n'
        "MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\\n"
        '-----END EC PRIVATE KEY-----\\n"}'
    )
    [(finding_type, value)] = found(text)
    assert finding_type == "PRIVATE_KEY"
    assert value.startswith("-----BEGIN EC") and value.endswith("-----END EC PRIVATE KEY-----")


def test_every_detector_bounds_its_matches() -> None:
    for detector in DETECTORS:
        assert 0 < detector.anchor_min_len <= detector.max_len <= 16_000


def test_anchor_lengths_are_what_the_scanner_assumes() -> None:
    # Python's own pattern parser reads hyperscan's subset; it gives the shortest and longest
    # text an anchor can match (its private module is fine in a test: a change fails loudly).
    import re._parser as sre_parser  # noqa: PLC0415

    for detector in DETECTORS:
        shortest, longest = sre_parser.parse(detector.anchor).getwidth()
        assert shortest == detector.anchor_min_len, detector.type
        if detector.anchor_start:
            assert longest <= 128, detector.type  # the reach of a stream's anchor scan


def test_national_numbers_are_read_for_the_configured_region() -> None:
    london, berlin = "ring (020) 7946 0958 now", "ring 030 12345678 now"
    assert [f.type for f in Scanner(phone_region="GB").scan(london)] == ["PHONE"]
    assert [f.type for f in Scanner(phone_region="DE").scan(berlin)] == ["PHONE"]
    assert Scanner(phone_region="US").scan(london + berlin) == []
