"""CheckRequest -> input: the document opa-envoy-plugin (v1.19, envoyauth/request.go) builds.

The expected documents are written out by hand from the plugin's rules, as its own tests do:
its reflection walk (not protojson) gives int64 as numbers, a timestamp as seconds and nanos,
bytes as base64 and keeps set-but-empty messages; paths, queries and form bodies follow Go's
net/url, JSON bodies Go's encoding/json with exact numbers, multipart bodies Go's reader.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from envoy.service.auth.v3 import external_auth_pb2
from google.protobuf import json_format

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy_input.check import check_input
from ext_proc.policy_input.check_body import parsed_body
from ext_proc.policy_input.http import parse_path_and_query

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check_requests"


def request_from(name: str) -> Any:
    return json_format.Parse((FIXTURES / name).read_text(), external_auth_pb2.CheckRequest())


def test_full_request_input() -> None:
    document = check_input(request_from("full.json"))
    assert document == {
        "attributes": {
            "source": {
                "address": {"socketAddress": {"address": "10.0.0.7", "portValue": 51234}},
                "principal": "spiffe://cluster.local/ns/agents/sa/support-bot",
                "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            },
            "destination": {
                "address": {"socketAddress": {"address": "127.0.0.1", "portValue": 10000}},
                "labels": {"app": "agent"},
            },
            "request": {
                "time": {"seconds": 1795255200, "nanos": 123456000},
                "http": {
                    "id": "1234567890",
                    "method": "POST",
                    "headers": {
                        ":authority": "api.example.com",
                        ":method": "POST",
                        ":path": "/v1/chat/completions?stream=true&tag=a&tag=b",
                        "content-type": "application/json",
                        "content-length": "54",
                        "x-agent-id": "support-bot",
                    },
                    "path": "/v1/chat/completions?stream=true&tag=a&tag=b",
                    "host": "api.example.com",
                    "scheme": "http",
                    "size": 54,
                    "protocol": "HTTP/1.1",
                    "body": '{"model": "gpt-4o", "messages": [], "max_tokens": 100}',
                },
            },
            "contextExtensions": {"tenant": "acme"},
            "metadataContext": {
                "filterMetadata": {
                    "envoy.filters.http.jwt_authn": {
                        "claims": {"sub": "agent-1", "scopes": ["a", "b"], "n": 3}
                    }
                }
            },
            "tlsSession": {"sni": "api.example.com"},
        },
        "parsed_path": ["v1", "chat", "completions"],
        "parsed_query": {"stream": ["true"], "tag": ["a", "b"]},
        "parsed_body": {"model": "gpt-4o", "messages": [], "max_tokens": 100},
        "truncated_body": False,
        "source_principal": "spiffe://cluster.local/ns/agents/sa/support-bot",
        "version": {"ext_authz": "v3", "encoding": "protojson"},
        "phase": "check",
    }


def test_set_but_empty_messages_are_kept_and_unset_ones_absent() -> None:
    request = request_from("minimal.json")
    request.attributes.metadata_context.SetInParent()
    request.attributes.route_metadata_context.SetInParent()
    attributes = check_input(request)["attributes"]
    assert attributes["metadataContext"] == {} and attributes["routeMetadataContext"] == {}
    assert "source" not in attributes and "tlsSession" not in attributes


def test_unknown_size_bytes_and_enums_render_as_go_values() -> None:
    request = request_from("minimal.json")
    http = request.attributes.request.http
    http.size = -1  # Envoy's "unknown"
    http.raw_body = b"\x00\xffbin"
    request.attributes.source.address.socket_address.protocol = 1  # UDP
    attributes = check_input(request)["attributes"]
    assert attributes["request"]["http"]["size"] == -1
    assert attributes["request"]["http"]["rawBody"] == base64.b64encode(b"\x00\xffbin").decode()
    assert attributes["source"]["address"]["socketAddress"] == {"protocol": 1}


def test_minimal_request_has_no_body_and_root_path() -> None:
    document = check_input(request_from("minimal.json"))
    assert document["parsed_path"] == [""]
    assert document["parsed_query"] == {}
    assert document["parsed_body"] is None
    assert document["truncated_body"] is False
    assert "source_principal" not in document


def test_skip_request_body_parse_leaves_both_keys_out() -> None:
    document = check_input(request_from("full.json"), parse_body=False)
    assert "parsed_body" not in document and "truncated_body" not in document


def test_truncated_body_is_flagged_not_parsed() -> None:
    document = check_input(request_from("truncated.json"))
    assert document["truncated_body"] is True
    assert document["parsed_body"] is None


def test_form_body_is_parsed_like_a_query() -> None:
    document = check_input(request_from("form.json"))
    assert document["parsed_body"] == {"user": ["ada"], "scope": ["read", "write"], "empty": [""]}


@pytest.mark.parametrize(
    ("path", "parsed_path", "parsed_query"),
    [
        ("/", [""], {}),
        ("/a/b", ["a", "b"], {}),
        ("/a//b/", ["a", "", "b", ""], {}),
        ("//a/b", ["a", "b"], {}),  # no authority: Go cuts at "?" only
        ("/a%20b/c%2Fd", ["a b", "c", "d"], {}),
        ("/a+b", ["a+b"], {}),  # PathUnescape keeps "+"
        ("/x#frag?q=1", ["x#frag"], {"q": ["1"]}),
        ("/x?q=1&q=2&flag", ["x"], {"q": ["1", "2"], "flag": [""]}),
        ("/x?a=%E2%9C%93&b=c+d", ["x"], {"a": ["✓"], "b": ["c d"]}),
        ("/x?&&a=1&", ["x"], {"a": ["1"]}),
        ("/x?=v&k=", ["x"], {"": ["v"], "k": [""]}),
        ("/x?a=%ff", ["x"], {"a": ["\ufffd"]}),
        ("/x?" + "&" * 9_998 + "a=1", ["x"], {"a": ["1"]}),  # 9,999 separators: 10,000 parameters
    ],
)
def test_path_and_query_follow_go_net_url(
    path: str, parsed_path: list[str], parsed_query: dict[str, Any]
) -> None:
    assert parse_path_and_query(path) == (parsed_path, parsed_query)


@pytest.mark.parametrize(
    ("path", "go_error"),
    [
        ("/a%zzb", 'invalid URL escape "%zz"'),
        ("/a%2", 'invalid URL escape "%2"'),
        ("/x?a=%zz", 'invalid URL escape "%zz"'),
        ("/x?a=1;b=2", "invalid semicolon separator in query"),
        ("/x?a=%zz&b=1;c", "invalid semicolon separator in query"),  # Go keeps the last semicolon error
        ("/x?" + "&" * 10_000 + "a=1", "number of URL query parameters exceeded limit"),
    ],
)
def test_what_go_refuses_is_a_request_parse_error(path: str, go_error: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        parse_path_and_query(path)
    assert error.value.code is ErrorCode.REQUEST_PARSE_ERROR
    assert error.value.http_status == 400
    assert error.value.detail == go_error


def body(content_type: str | None, text: str = "", raw: bytes = b"", **headers: str) -> tuple[Any, bool]:
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["content-type"] = content_type
    return parsed_body(all_headers, text, raw)


@pytest.mark.parametrize(
    ("content_type", "text", "expected"),
    [
        ("application/json", '{"n": 123456789012345678901234567890}', {"n": 123456789012345678901234567890}),
        ("application/json", '{"a": 1, "a": 2}', {"a": 2}),  # Go fills the map in order
        ("application/json", '{"f": 1.5, "e": 1e2, "neg": -0}', {"f": 1.5, "e": 100.0, "neg": 0}),
        ("application/json", "  [1, 2]\n", [1, 2]),
        ("application/json; charset=utf-8", "[true]", [True]),
        ("application/json; charset=latin-1", "[1]", [1]),  # the plugin reads no charset
        ("text/plain; application/json", "[1]", [1]),  # a substring match, as the plugin
        ("application/vnd.api+json", '{"data": []}', None),
        ("Application/JSON", "[1]", None),
        ("text/plain", "hello", None),
        ("application/grpc", "AAAA", None),
        ("application/json", "", None),
        (None, '{"a": 1}', None),
        ("application/x-www-form-urlencoded", "a=1&a=2&b", {"a": ["1", "2"], "b": [""]}),
    ],
)
def test_parsed_body_follows_the_plugin(content_type: str | None, text: str, expected: Any) -> None:
    assert body(content_type, text) == (expected, False)


def test_raw_body_is_used_when_envoy_packs_bytes() -> None:
    assert body("application/json", raw=b'{"a": "\xc3\xa9"}') == ({"a": "é"}, False)


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b'["\xe2\x82"]', b'"\\ud800x"'])
def test_text_go_would_patch_with_replacement_characters_is_refused(raw: bytes) -> None:
    # Go's decoder turns broken UTF-8 and lone surrogates into U+FFFD; the shared strict parser
    # refuses them (a policy must not judge text the upstream may read otherwise).
    with pytest.raises(ChaperoneError) as error:
        body("application/json", raw=raw)
    assert error.value.http_status == 400


@pytest.mark.parametrize("text", ['{"a": ', "[1] [2]", "NaN", "[Infinity]", "\ufeff[1]", "[01]", "   "])
def test_malformed_json_is_refused_before_the_policy(text: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        body("application/json", text)
    assert error.value.code in (ErrorCode.BODY_PARSE_ERROR, ErrorCode.BODY_DECODE_ERROR)
    assert error.value.http_status == 400


def test_truncation_by_content_length_applies_to_the_parsed_types_only() -> None:
    assert body("application/json", "[1]", **{"content-length": "10"}) == (None, True)
    assert body("application/x-www-form-urlencoded", "a=1", **{"content-length": "10"}) == (None, True)
    assert body("text/plain", "abc", **{"content-length": "10"}) == (None, False)
    assert body("application/json", "[1]", **{"content-length": "-1"}) == ([1], False)
    assert body("text/plain", "", **{"x-envoy-auth-partial-body": "true"}) == (None, True)


def test_a_content_length_go_cannot_read_is_an_error() -> None:
    with pytest.raises(ChaperoneError) as error:
        body("application/json", "[1]", **{"content-length": "3 "})
    assert error.value.code is ErrorCode.REQUEST_PARSE_ERROR


def test_a_form_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ChaperoneError) as error:
        body("application/x-www-form-urlencoded", raw=b"user=ada\xff")
    assert (error.value.code, error.value.http_status) == (ErrorCode.BODY_DECODE_ERROR, 400)


def test_a_form_body_go_refuses_is_an_error() -> None:
    with pytest.raises(ChaperoneError) as error:
        body("application/x-www-form-urlencoded", "a=1;b=2")
    assert error.value.detail == "invalid semicolon separator in query"


MULTIPART = "multipart/form-data; boundary=foo"
DISPOSITION = "--foo\r\nContent-Disposition: form-data; name="


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            DISPOSITION + '"foo"\r\nContent-Type: text/plain\r\n\r\nbar\r\n--foo--\r\n',
            {"foo": ["bar"]},
        ),
        (  # LF line ends, a JSON part, a repeated name
            '--foo\nContent-Disposition: form-data; name="a"\n\n1\n'
            '--foo\nContent-Disposition: form-data; name="j"\nContent-Type: application/json;\n\n'
            '{"n": 12345678901234567890}\n'
            '--foo\nContent-Disposition: form-data; name="a"\n\n2\n--foo--',
            {"a": ["1", "2"], "j": [{"n": 12345678901234567890}]},
        ),
        (  # a preamble, a part that is not form-data, a file part, an empty part
            "preamble line\r\n--foo\r\nContent-Disposition: attachment; name=x\r\n\r\nskipped\r\n"
            '--foo\r\ncontent-disposition: form-data; name="f"; filename="a.txt"\r\n\r\nline1\r\nline2\r\n'
            '--foo\r\nContent-Disposition: form-data; name="e"\r\n\r\n--foo--\r\n',
            {"f": ["line1\r\nline2"], "e": [""]},
        ),
        (  # "--foobar" inside a part is data, not a boundary
            '--foo\r\nContent-Disposition: form-data; name="d"\r\n\r\nx\r\n--foobar\r\n--foo--\r\n',
            {"d": ["x\r\n--foobar"]},
        ),
        (  # quoted-printable is decoded, as Go's reader does
            DISPOSITION + '"q"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
            "caf=C3=A9 =3D=\r\nend\r\n--foo--\r\n",
            {"q": ["café =end"]},
        ),
    ],
)
def test_multipart_body_is_read_as_go_reads_it(text: str, expected: Any) -> None:
    assert body(MULTIPART, text) == (expected, False)


def test_multipart_without_boundary_is_null() -> None:
    assert body("multipart/form-data", "--foo\r\n") == (None, False)


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        (MULTIPART, '--foo\r\nContent-Disposition: form-data; name="a"\r\n\r\nno closing boundary'),
        (MULTIPART, "--foo\r\nnot a header line\r\n\r\nx\r\n--foo--\r\n"),
        (MULTIPART, '--foo\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--foo\n--foo--\r\n'),
        (MULTIPART, "x" * 5000 + "\r\n--foo--\r\n"),  # a preamble line longer than Go's buffer
        (MULTIPART, DISPOSITION + '"j"\r\nContent-Type: application/json\r\n\r\n{\r\n--foo--'),
        ("multipart/form-data; boundary=foo; boundary=bar", "--foo--"),
        ("multipart/form-data; boundary", "--foo--"),
    ],
)
def test_multipart_that_go_refuses_is_an_error(content_type: str, text: str) -> None:
    with pytest.raises(ChaperoneError) as error:
        body(content_type, text)
    assert error.value.http_status == 400
