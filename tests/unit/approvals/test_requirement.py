"""The require_approval decision field: accepted shapes, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from ext_proc.approvals import ApprovalRequirement, parse_require_approval
from ext_proc.errors import ChaperoneError, ErrorCode


def test_the_full_field() -> None:
    value = {"reason": "refund above 500", "group": "finance", "ttl_seconds": 120}
    assert parse_require_approval(value) == ApprovalRequirement("refund above 500", "finance", 120.0)


def test_only_the_reason_is_required() -> None:
    assert parse_require_approval({"reason": "r"}) == ApprovalRequirement("r", None, None)
    assert parse_require_approval({"reason": "r", "group": None, "ttl_seconds": None}) == (
        ApprovalRequirement("r")
    )


def test_absent_means_no_approval() -> None:
    assert parse_require_approval(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, ": expected object, got boolean"),
        ("yes", ": expected object, got string"),
        ({}, ".reason: expected non-empty string, got null"),
        ({"reason": "  "}, ".reason: expected non-empty string, got empty string"),
        ({"reason": 5}, ".reason: expected non-empty string, got number"),
        ({"reason": "r", "group": ["a"]}, ".group: expected non-empty string, got array"),
        ({"reason": "r", "ttl_seconds": "60"}, ".ttl_seconds: expected positive number, got string"),
        ({"reason": "r", "ttl_seconds": 0}, ".ttl_seconds: expected positive number, got number"),
        ({"reason": "r", "ttl_seconds": True}, ".ttl_seconds: expected positive number, got boolean"),
        ({"reason": "r", "ttl_seconds": float("inf")}, ".ttl_seconds: expected positive number, got number"),
        ({"reason": "r", "approvers": ["bob"]}, ": unknown key 'approvers'"),
        ({"reason": "x" * 501}, ".reason: longer than 500 characters"),
    ],
)
def test_a_wrong_shape_is_decision_invalid_naming_the_field(value: Any, message: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_require_approval(value)
    assert error.value.code is ErrorCode.DECISION_INVALID
    assert error.value.message == "decision field require_approval" + message
