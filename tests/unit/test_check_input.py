"""CheckRequest -> input: the same document opa-envoy-plugin builds, read field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.service.auth.v3 import external_auth_pb2
from google.protobuf import json_format

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy_input.check import check_input
from ext_proc.policy_input.http import parse_body, parse_path_and_query

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check_requests"


def request_from(name: str) -> Any:
    return json_format.Parse((FIXTURES / name).read_text(), external_auth_pb2.CheckRequest())


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_attributes_match_the_protojson_rendering(name: str) -> None:
    # opa-envoy-plugin renders the CheckRequest with protojson; MessageToDict follows the same
    # rules (camelCase, defaults omitted, int64 as strings), so it is the reference here.
    request = request_from(name)
    expected = json_format.MessageToDict(request)["attributes"]
    assert check_input(request)["attributes"] == expected


def test_full_request_input() -> None:
    document = check_input(request_from("full.json"))
    assert document["parsed_path"] == ["v1", "chat", "completions"]
    assert document["parsed_query"] == {"stream": ["true"], "tag": ["a", "b"]}
    assert document["parsed_body"] == {"model": "gpt-4o", "messages": [], "max_tokens": 100}
    assert document["truncated_body"] is False
    assert document["version"] == {"ext_authz": "v3", "encoding": "protojson"}
    assert document["phase"] == "check"
    http = document["attributes"]["request"]["http"]
    assert http["size"] == "54"
    assert document["attributes"]["metadataContext"]["filterMetadata"]["envoy.filters.http.jwt_authn"] == {
        "claims": {"sub": "agent-1", "scopes": ["a", "b"], "n": 3}
    }


def test_minimal_request_has_no_body_and_root_path() -> None:
    document = check_input(request_from("minimal.json"))
    assert document["parsed_path"] == [""]
    assert document["parsed_query"] == {}
    assert document["parsed_body"] is None
    assert document["truncated_body"] is False


def test_truncated_body_is_flagged_not_parsed() -> None:
    document = check_input(request_from("truncated.json"))
    assert document["truncated_body"] is True
    assert document["parsed_body"] is None


def test_form_body_is_parsed_like_a_query() -> None:
    document = check_input(request_from("form.json"))
    assert document["parsed_body"] == {"user": ["ada"], "scope": ["read", "write"], "empty": [""]}


def test_malformed_json_body_is_an_error() -> None:
    request = request_from("minimal.json")
    request.attributes.request.http.headers["content-type"] = "application/json"
    request.attributes.request.http.body = '{"a": '
    with pytest.raises(ChaperoneError) as error:
        check_input(request)
    assert error.value.code is ErrorCode.BODY_PARSE_ERROR


@pytest.mark.parametrize(
    ("path", "parsed_path", "parsed_query"),
    [
        ("/", [""], {}),
        ("/a/b", ["a", "b"], {}),
        ("/a//b/", ["a", "", "b", ""], {}),
        ("/a%20b/c%2Fd", ["a b", "c", "d"], {}),
        ("/x?q=1&q=2&flag", ["x"], {"q": ["1", "2"], "flag": [""]}),
        ("/x?a=%E2%9C%93&b=c+d", ["x"], {"a": ["✓"], "b": ["c d"]}),
    ],
)
def test_path_and_query_follow_go_net_url(
    path: str, parsed_path: list[str], parsed_query: dict[str, Any]
) -> None:
    assert parse_path_and_query(path) == (parsed_path, parsed_query)


def test_invalid_percent_escape_in_the_path_is_an_error() -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_path_and_query("/a%zzb")
    assert error.value.code is ErrorCode.REQUEST_PARSE_ERROR


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'{"n": 12345678901234567, "f": 1.5}', {"n": 12345678901234567, "f": 1.5}),
        ("application/vnd.api+json; charset=utf-8", b"[1, 2]", [1, 2]),
        ("text/plain", b"hello", None),
        ("application/json", b"", None),
        (None, b'{"a": 1}', None),
    ],
)
def test_parse_body(content_type: str | None, body: bytes, expected: Any) -> None:
    assert parse_body(content_type, body) == expected
