"""The `limits` and `budgets` decision fields: valid shapes parse, every bad one names its field."""

from __future__ import annotations

from typing import Any

import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.limits.fields import Budget, RateLimit, parse_budgets, parse_limits


def test_limits_parse() -> None:
    value = [
        {"name": "agent-rpm", "key": "agent:support-bot", "limit": 60, "window_seconds": 60},
        {"name": "tool.refund_1", "key": "tool:refund", "limit": 5.0, "window_seconds": 0.5},
    ]
    assert parse_limits(value) == (
        RateLimit("agent-rpm", "agent:support-bot", 60, 60.0),
        RateLimit("tool.refund_1", "tool:refund", 5, 0.5),
    )
    assert parse_limits(None) == () == parse_limits([])


def test_budgets_parse() -> None:
    value = [
        {"name": "agent-daily-tokens", "key": "agent:support-bot", "tokens": 100000, "window": "day"},
        {"name": "team-monthly-cost", "key": "team:support", "cost": 50, "window": "month"},
    ]
    daily, monthly = parse_budgets(value)
    assert daily == Budget("agent-daily-tokens", "agent:support-bot", "day", tokens=100000)
    assert (daily.unit, daily.cap) == ("tokens", 100000.0)
    assert monthly == Budget("team-monthly-cost", "team:support", "month", cost=50.0)
    assert (monthly.unit, monthly.cap) == ("cost", 50.0)
    assert parse_budgets(None) == ()


LIMIT = {"name": "n", "key": "k", "limit": 1, "window_seconds": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"name": "n"}, "limits: expected array of objects, got object"),
        (["x"], "limits[0]: expected object, got string"),
        ([{**LIMIT, "extra": 1}], "limits[0]: unknown key 'extra'"),
        ([{"name": "n", "key": "k", "limit": 1}], "limits[0]: missing key 'window_seconds'"),
        ([{**LIMIT, "limit": 0}], "limits[0].limit: expected an integer from 1 to 100000, got number"),
        ([{**LIMIT, "limit": 1.5}], "limits[0].limit: expected an integer from 1 to 100000"),
        ([{**LIMIT, "limit": True}], "limits[0].limit: expected an integer from 1 to 100000, got boolean"),
        ([{**LIMIT, "limit": "60"}], "limits[0].limit: expected an integer from 1 to 100000, got string"),
        ([{**LIMIT, "limit": 100_001}], "limits[0].limit"),
        ([{**LIMIT, "window_seconds": 0}], "limits[0].window_seconds: expected a number above 0"),
        ([{**LIMIT, "window_seconds": None}], "limits[0].window_seconds: expected a number above 0, at most"),
        ([{**LIMIT, "name": "has space"}], "limits[0].name: expected 1 to 64 of A-Z a-z 0-9 _ . -"),
        ([{**LIMIT, "name": "a:b"}], "limits[0].name"),
        ([{**LIMIT, "name": 7}], "limits[0].name: expected string, got number"),
        ([{**LIMIT, "key": ""}], "limits[0].key: expected 1 to 256 characters"),
        ([{**LIMIT, "key": "a\nb"}], "limits[0].key"),
        ([{**LIMIT, "key": "k" * 257}], "limits[0].key"),
        ([LIMIT, LIMIT], "limits: the name 'n' is used twice"),
        ([LIMIT] * 17, "limits: at most 16 entries, got 17"),
    ],
)
def test_malformed_limits_are_decision_invalid(value: Any, message: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_limits(value)
    assert error.value.code is ErrorCode.DECISION_INVALID
    assert error.value.message.startswith("decision field " + message)


BUDGET = {"name": "n", "key": "k", "tokens": 10, "window": "day"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", "budgets: expected array of objects, got string"),
        ([{**BUDGET, "cost": 1.0}], "budgets[0]: expected exactly one of tokens and cost"),
        ([{"name": "n", "key": "k", "window": "day"}], "budgets[0]: expected exactly one of tokens and cost"),
        ([{**BUDGET, "window": "week"}], 'budgets[0].window: expected "day" or "month", got string'),
        ([{**BUDGET, "tokens": -1}], "budgets[0].tokens: expected a positive integer, got number"),
        ([{**BUDGET, "tokens": 2.5}], "budgets[0].tokens: expected a positive integer"),
        (
            [{"name": "n", "key": "k", "cost": 0, "window": "day"}],
            "budgets[0].cost: expected a positive number",
        ),
        (
            [{"name": "n", "key": "k", "cost": "5", "window": "day"}],
            "budgets[0].cost: expected a positive number",
        ),
        ([{**BUDGET, "currency": "EUR"}], "budgets[0]: unknown key 'currency'"),
        ([BUDGET, {**BUDGET, "key": "other"}], "budgets: the name 'n' is used twice"),
    ],
)
def test_malformed_budgets_are_decision_invalid(value: Any, message: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_budgets(value)
    assert error.value.code is ErrorCode.DECISION_INVALID
    assert error.value.message.startswith("decision field " + message)
