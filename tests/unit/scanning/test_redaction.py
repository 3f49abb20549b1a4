"""Action tables from policy decisions, and block-mode redaction."""

from __future__ import annotations

import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.scanning.actions import ActionTable
from ext_proc.scanning.findings import Finding
from ext_proc.scanning.redaction import redact_text

TEXT = "mail john.doe@example.com, key AKIAIOSFODNN7EXAMPLE, card 4111111111111111."


def test_default_table_redacts_everything() -> None:
    result = redact_text(TEXT)
    assert result.text == (
        "mail [REDACTED:EMAIL], key [REDACTED:AWS_ACCESS_KEY], card [REDACTED:CREDIT_CARD]."
    )
    assert result.verdict is None and result.stopped_by is None
    assert result.counts_by_type == {"EMAIL": 1, "AWS_ACCESS_KEY": 1, "CREDIT_CARD": 1}


def test_most_specific_key_wins() -> None:
    table = ActionTable.from_decision({"default": "allow", "secret": "redact", "EMAIL": "redact"})
    assert table.action_for("EMAIL", "pii") == "redact"
    assert table.action_for("CREDIT_CARD", "pii") == "allow"
    assert table.action_for("AWS_ACCESS_KEY", "secret") == "redact"
    assert redact_text(TEXT, table).text == (
        "mail [REDACTED:EMAIL], key [REDACTED:AWS_ACCESS_KEY], card 4111111111111111."
    )


def test_allowed_findings_are_still_reported() -> None:
    result = redact_text(TEXT, ActionTable.from_decision({"default": "allow"}))
    assert result.text == TEXT
    assert [f.type for f in result.findings] == ["EMAIL", "AWS_ACCESS_KEY", "CREDIT_CARD"]


def test_missing_default_is_redact() -> None:
    assert ActionTable.from_decision({"EMAIL": "allow"}).default == "redact"


def test_block_beats_end_stream_and_names_the_first_finding() -> None:
    table = ActionTable.from_decision(
        {"EMAIL": "end_stream", "CREDIT_CARD": "block", "AWS_ACCESS_KEY": "block"}
    )
    result = redact_text(TEXT, table)
    assert result.verdict == "block"
    assert result.stopped_by == Finding("AWS_ACCESS_KEY", "secret", 31, 51)
    assert "AKIA" not in result.text  # the text is safe even if someone uses it


def test_end_stream_verdict() -> None:
    result = redact_text(TEXT, ActionTable.from_decision({"EMAIL": "end_stream"}))
    assert result.verdict == "end_stream"
    assert result.stopped_by is not None and result.stopped_by.type == "EMAIL"


def test_unknown_types_are_accepted_and_reported() -> None:
    table = ActionTable.from_decision({"default": "redact", "MEDICAL_RECORD": "block", "EMAIL": "allow"})
    assert table.unknown_types == ("MEDICAL_RECORD",)
    assert table.action_for("MEDICAL_RECORD", "pii") == "block"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"EMAIL": "mask"}, "action for 'EMAIL' must be one of allow, redact, block, end_stream; got 'mask'"),
        ({"default": None}, "got null"),
        ({"EMAIL": ["redact"]}, "got list"),
        ({1: "redact"}, "keys must be strings, got int"),
        (["EMAIL"], "expected an object of finding type to action, got list"),
        ({"EMAIL": "x" * 100}, "got str"),
    ],
)
def test_bad_tables_are_errors_with_a_stable_code(value: object, message: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        ActionTable.from_decision(value)
    assert error.value.code is ErrorCode.REDACTION_POLICY_INVALID
    assert message in error.value.message


def test_finding_repr_never_shows_the_value() -> None:
    result = redact_text("password=hunter2 " + TEXT)
    rendered = repr(result.findings) + repr(result)
    for value in ("hunter2", "john.doe", "AKIAIOSFODNN7EXAMPLE", "4111111111111111"):
        assert value not in rendered.replace(repr(result.text), "")


def test_empty_and_huge_texts() -> None:
    assert redact_text("").text == ""
    huge = "lorem ipsum dolor sit amet, " * 200_000 + "john.doe@example.com"
    result = redact_text(huge)
    assert result.text.endswith("[REDACTED:EMAIL]")
    assert result.counts_by_type == {"EMAIL": 1}
