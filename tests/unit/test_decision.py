"""The decision contract: every accepted shape, and every shape error named precisely."""

from __future__ import annotations

from typing import Any

import pytest

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.decision import ALLOW, DENY, BodyMode, Inspection, parse_decision


def test_booleans() -> None:
    assert parse_decision(True) == ALLOW
    assert parse_decision(False) == DENY


def test_full_object() -> None:
    decision = parse_decision(
        {
            "allowed": False,
            "http_status": 429,
            "body": "slow down",
            "headers": [{"retry-after": "3"}, {"x-multi": ["a", "b"]}],
            "request_headers_to_remove": ["Authorization"],
            "response_headers_to_add": {"x-seen": "1"},
            "response_headers_to_remove": ["server"],
            "query_parameters_to_set": {"k": ["v1", "v2"]},
            "query_parameters_to_remove": ["token"],
            "dynamic_metadata": {"limit": {"name": "agent"}},
            "reasons": ["over the limit"],
            "inspect": {"request_body": "buffered", "response_headers": True, "response_body": "streamed"},
            "replace_body": {"rewritten": True},
        }
    )
    assert decision.allowed is False
    assert decision.http_status == 429
    assert decision.body == b"slow down"
    assert decision.headers == (("retry-after", "3"), ("x-multi", "a"), ("x-multi", "b"))
    # opa-envoy-plugin reads these only for an allow: a deny ignores them.
    assert decision.request_headers_to_remove == ()
    assert decision.response_headers_to_add == ()
    assert decision.query_parameters_to_set == ()
    assert decision.query_parameters_to_remove == ()
    assert decision.response_headers_to_remove == ("server",)
    assert decision.dynamic_metadata == {"limit": {"name": "agent"}}
    assert decision.reasons == ("over the limit",)
    assert decision.inspect == Inspection(BodyMode.BUFFERED, True, BodyMode.STREAMED)
    assert decision.replace_body == b'{"rewritten":true}'


def test_allow_fields_of_an_allow() -> None:
    decision = parse_decision(
        {
            "allowed": True,
            "http_status": "ignored for an allow",
            "body": 5,
            "request_headers_to_remove": ["Authorization"],
            "response_headers_to_add": [{"x-seen": "1"}, {"x-seen": "2"}],
            "query_parameters_to_set": {"k": ["v1", "v2"], "one": "x"},
            "query_parameters_to_remove": ["token"],
        }
    )
    assert (decision.http_status, decision.body) == (None, None)
    assert decision.request_headers_to_remove == ("authorization",)
    assert decision.response_headers_to_add == (("x-seen", "1"), ("x-seen", "2"))
    assert decision.query_parameters_to_set == (("k", "v1"), ("k", "v2"), ("one", "x"))
    assert decision.query_parameters_to_remove == ("token",)


def test_deny_ignores_the_allow_fields_as_the_plugin_does() -> None:
    decision = parse_decision(
        {"allowed": False, "request_headers_to_remove": 5, "query_parameters_to_set": []}
    )
    assert decision.allowed is False


def test_json_error_is_a_boolean() -> None:
    assert parse_decision({"allowed": False, "json_error": True}).json_error is True
    assert parse_decision({"allowed": False}).json_error is False
    with pytest.raises(ChaperoneError, match="json_error: expected boolean, got string"):
        parse_decision({"allowed": False, "json_error": "yes"})


@pytest.mark.parametrize("status", [200, 302, 400, 403, 429, 503, 511])
def test_statuses_envoy_names_are_accepted(status: int) -> None:
    assert parse_decision({"allowed": False, "http_status": status}).http_status == status


@pytest.mark.parametrize("status", [0, 100, 101, 306, 418, 425, 451, 599, 999])
def test_statuses_envoy_does_not_name_are_refused(status: int) -> None:
    # opa-envoy-plugin refuses a status that is not in Envoy's StatusCode enum (its checked error
    # fails the check); so does Chaperone, as a decision_invalid deny.
    with pytest.raises(ChaperoneError, match="is not an HTTP status"):
        parse_decision({"allowed": False, "http_status": status})


def test_object_body_is_sent_as_json() -> None:
    assert parse_decision({"allowed": False, "body": {"error": "x"}}).body == b'{"error":"x"}'


def test_single_reason_string_is_accepted() -> None:
    assert parse_decision({"allowed": False, "reasons": "nope"}).reasons == ("nope",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "decision: expected boolean or object, got string"),
        (1, "decision: expected boolean or object, got number"),
        ([True], "decision: expected boolean or object, got array"),
        ({}, 'no "allowed" field'),
        ({"allowed": "true"}, "allowed: expected boolean, got string"),
        ({"allowed": False, "http_status": "403"}, "http_status: expected integer, got string"),
        ({"allowed": False, "http_status": 1.5}, "http_status: expected integer, got number"),
        ({"allowed": False, "http_status": 999}, "http_status: 999 is not an HTTP status"),
        ({"allowed": False, "body": 5}, "body: expected string, object or array, got number"),
        (
            {"allowed": True, "query_parameters_to_set": [{"a": "b"}]},
            "query_parameters_to_set: expected object",
        ),
        ({"allowed": True, "headers": "x: y"}, "headers: expected object or array of objects, got string"),
        (
            {"allowed": True, "headers": {"x": 1}},
            "headers.x: expected string or array of strings, got number",
        ),
        ({"allowed": True, "headers": {"x": "a\r\nInjected: 1"}}, "headers.x: value has a control character"),
        ({"allowed": True, "headers": {"bad name": "v"}}, "invalid header name 'bad name'"),
        ({"allowed": True, "request_headers_to_remove": "x"}, "request_headers_to_remove: expected array"),
        ({"allowed": True, "request_headers_to_remove": [1]}, "request_headers_to_remove[]: expected string"),
        ({"allowed": True, "dynamic_metadata": []}, "dynamic_metadata: expected object, got array"),
        ({"allowed": True, "reasons": [1]}, "reasons[]: expected string, got number"),
        ({"allowed": True, "inspect": []}, "inspect: expected object, got array"),
        ({"allowed": True, "inspect": {"body": "buffered"}}, "inspect: unknown key 'body'"),
        ({"allowed": True, "inspect": {"request_body": "all"}}, 'inspect.request_body: expected "none"'),
        (
            {"allowed": True, "inspect": {"response_headers": "yes"}},
            "inspect.response_headers: expected boolean",
        ),
    ],
)
def test_shape_errors_are_decision_invalid_and_name_the_field(value: Any, message: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_decision(value)
    assert error.value.code is ErrorCode.DECISION_INVALID
    assert message in error.value.message


def test_inspect_accepts_booleans_for_body_modes() -> None:
    decision = parse_decision({"allowed": True, "inspect": {"request_body": True, "response_body": False}})
    assert decision.inspect == Inspection(request_body=BodyMode.BUFFERED)
