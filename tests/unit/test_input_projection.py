"""The engine is handed only the parts of the input a bundle can read, with the same decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import regorus
from envoy.service.auth.v3 import external_auth_pb2
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.input_projection import WHOLE_INPUT, InputProjection
from ext_proc.policy.regorus_engine import RegorusEngine, build_engine
from ext_proc.policy_input.check import check_input
from tests.harness import POLICY_FIXTURES, ROOT

DECISION = "envoy/authz/allow"
BUNDLES = [
    ROOT / "policies",
    *sorted(p for p in POLICY_FIXTURES.iterdir() if p.is_dir() and p.name != "broken"),
    *sorted((ROOT / "tests" / "bench" / "policies").iterdir()),
    ROOT / "tests" / "bench" / "jwt_rbac",
]


def projection(source: str) -> InputProjection:
    engine = regorus.Engine()
    engine.add_policy("p.rego", "package p\nimport rego.v1\n" + source)
    return InputProjection.of_modules(orjson.loads(engine.get_ast_as_json()))


DOCUMENT = {
    "attributes": {"request": {"http": {"method": "GET", "path": "/x", "headers": {"a": "1", "b": "2"}}}},
    "parsed_path": ["x"],
    "agent": {"id": "bot", "authenticated": True},
    "phase": "check",
}


def test_static_references_keep_only_their_subtrees() -> None:
    p = projection('allow if { input.attributes.request.http.headers["a"] == "1"; input.agent.id }')
    assert p.apply(DOCUMENT) == {
        "attributes": {"request": {"http": {"headers": {"a": "1"}}}},
        "agent": {"id": "bot"},
    }
    assert p.reads("agent") and p.reads("agent", "id") and not p.reads("phase")


def test_a_variable_key_keeps_the_value_it_indexes() -> None:
    p = projection('allow if { some k; input.attributes.request.http.headers[k] == "1" }')
    assert p.apply(DOCUMENT) == {"attributes": {"request": {"http": {"headers": {"a": "1", "b": "2"}}}}}


def test_a_number_index_keeps_the_list() -> None:
    assert projection('allow if input.parsed_path[0] == "x"').apply(DOCUMENT) == {"parsed_path": ["x"]}


@pytest.mark.parametrize(
    "source",
    [
        "allow if { x := input; x.phase }",
        "allow if { some k; input[k] }",
        'allow if walk(input, [["phase"], "check"])',
        'allow if object.get(input, "phase", "") == "check"',
        "allow if count(input) > 0",
        "allow if { print(input) }",
        'f(x) := x.phase\nallow if f(input) == "check"',
    ],
)
def test_input_named_otherwise_keeps_everything(source: str) -> None:
    p = projection(source)
    assert p.whole and p.apply(DOCUMENT) is DOCUMENT


def test_an_index_that_reads_the_input_counts() -> None:
    p = projection("allow if data.table[input.agent.id]")
    assert p.apply(DOCUMENT) == {"agent": {"id": "bot"}}


def test_an_import_of_part_of_the_input_keeps_that_part() -> None:
    p = projection('import input.agent as who\nallow if who.id == "bot"')
    assert p.apply(DOCUMENT) == {"agent": {"id": "bot", "authenticated": True}}


def test_a_with_target_is_not_a_read() -> None:
    p = projection('allow if input.phase == "check"\ntest_allow if allow with input as {"phase": "check"}')
    assert p.apply(DOCUMENT) == {"phase": "check"}
    p = projection("allow if input.phase\ntest_x if allow with input.agent as {}")
    assert p.apply(DOCUMENT) == {"phase": "check"}


def test_a_policy_that_reads_nothing_gets_an_empty_input() -> None:
    p = projection("default allow := true")
    assert p.apply(DOCUMENT) == {} and not p.reads("phase")


def test_a_scalar_where_an_object_is_read_is_kept_as_it_is() -> None:
    p = projection("allow if input.phase.name")
    assert p.apply(DOCUMENT) == {"phase": "check"}
    assert WHOLE_INPUT.apply(DOCUMENT) is DOCUMENT


# -- same decisions -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["attributes", "request", "http", "method", "path", "headers", "phase", "agent", "id", "authenticated",
     "error", "action", "protocol", "tool", "model", "parsed_path", "chunk", "text", "loop", "injection"]
)  # fmt: skip
# Inputs shaped like the policies' (their keys), with anything as values.
DOCUMENTS = st.recursive(JSON, lambda inner: st.dictionaries(KEYS, inner, max_size=5), max_leaves=25).filter(
    lambda d: isinstance(d, dict)
)


def fixture_inputs() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((ROOT / "tests" / "fixtures" / "differential").glob("*.json")):
        documents.extend(orjson.loads(path.read_bytes()))
    return documents


def whole_decision(engine: Any, document: dict[str, Any]) -> Any:
    engine.set_input(document)
    try:
        return engine.eval_rule("data.envoy.authz.allow")
    except RuntimeError as exc:
        return ("error", str(exc).split("Stack backtrace:")[0])


def projected_decision(engine: RegorusEngine, document: dict[str, Any]) -> Any:
    try:
        return engine.evaluate_now(document)
    except Exception as exc:  # the error codes differ in form, not in kind: an error either way
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("bundle_dir", BUNDLES, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_projected_inputs_decide_as_whole_ones(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    whole = build_engine(bundle)
    projected = RegorusEngine(bundle, DECISION)

    def same(document: dict[str, Any]) -> None:
        expected = whole_decision(whole, document)
        got = projected_decision(projected, document)
        if isinstance(expected, tuple):
            assert isinstance(got, tuple), (document, expected, got)
        else:
            assert got == expected, document

    for document in fixture_inputs():
        same(document)

    @settings(max_examples=60, deadline=None, database=None)
    @given(DOCUMENTS)
    def random_inputs(document: dict[str, Any]) -> None:
        same(document)

    random_inputs()


# -- the check input is built for what is read ------------------------------------------------------

CHECK_REQUESTS = ROOT / "tests" / "fixtures" / "check_requests"
POLICY_SOURCES = [
    "default allow := true",
    'allow if input.attributes.request.http.method == "GET"',
    "allow if input.attributes.source.address.socketAddress.address",
    "allow if input.attributes.request.time.seconds > 0\n"
    "allow if input.attributes.metadataContext.filterMetadata.x.y",
    "allow if input.attributes.contextExtensions[k]",
    "allow if count(input.attributes) > 0",
    "allow if walk(input, [_, _])",
]


@pytest.mark.parametrize("source", POLICY_SOURCES)
@pytest.mark.parametrize("fixture", sorted(p.name for p in CHECK_REQUESTS.glob("*.json")))
def test_a_check_input_built_for_a_projection_is_the_projection_of_the_whole(
    source: str, fixture: str
) -> None:
    request = json_format.Parse((CHECK_REQUESTS / fixture).read_text(), external_auth_pb2.CheckRequest())
    p = projection(source)
    assert p.apply(check_input(request, projection=p)) == p.apply(check_input(request))


def test_a_path_that_cannot_be_parsed_is_refused_whatever_the_policy_reads() -> None:
    request = external_auth_pb2.CheckRequest()
    request.attributes.request.http.path = "/a%zz"
    with pytest.raises(ChaperoneError) as refused:
        check_input(request, projection=projection("default allow := true"))
    assert refused.value.code is ErrorCode.REQUEST_PARSE_ERROR
