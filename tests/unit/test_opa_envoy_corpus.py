"""The real-policy corpus against real OPA: same decision, and the response opa-envoy-plugin gives.

For every request of every entry (tests/opa_envoy_corpus.py), the CheckRequest Envoy sent
(captured) becomes Chaperone's check input; the embedded engine and real OPA (the test-only
bindings, the same modules and data; a v0 entry in its v1 spelling) evaluate the entry's
decision on it and must agree, undefined and errors included. The ext_authz response Chaperone
builds from the decision must then be the one opa-envoy-plugin's mapping gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.service.auth.v3 import external_auth_pb2 as pb
from google.rpc import code_pb2
from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

from ext_proc.authz.response import allowed_response, denied_response
from ext_proc.errors import ChaperoneError
from ext_proc.identity.model import ANONYMOUS
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.decision import parse_decision
from ext_proc.policy.evaluator import Outcome, deny_response
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy_input.check import check_input
from ext_proc.protoconv import struct_to_dict
from tests.opa_envoy_corpus import (
    CorpusRequest,
    Entry,
    PluginError,
    PluginResponse,
    entries,
    plugin_response,
    v0_to_v1,
)

ENTRIES = entries()


def test_the_corpus_has_the_kinds_the_issue_names() -> None:
    assert len(ENTRIES) >= 14
    versions = {entry.rego_version for entry in ENTRIES}
    assert versions == {"v0", "v1"}
    decisions = {entry.decision for entry in ENTRIES}
    assert {"envoy/authz/allow", "envoy/authz/result", "istio/authz/allow"} <= decisions
    for entry in ENTRIES:
        assert {"url", "license", "exercises"} <= set(entry.source), entry.name
        for request in entry.requests:
            assert entry.captured_path(request).exists(), f"{entry.name}/{request.name}: run the capture"


def opa_for(entry: Entry) -> OpaEngine:
    bundle = load_bundle(entry.policy_dir)
    engine = OpaEngine()
    engine.add_data(bundle.data)
    for path, source in bundle.modules:
        engine.add_policy(path, v0_to_v1(source) if entry.rego_version == "v0" else source)
    return engine


def check_document(entry: Entry, request: CorpusRequest) -> dict[str, Any] | ChaperoneError:
    try:
        document = check_input(entry.captured(request))
    except ChaperoneError as exc:  # refused before any policy, as the plugin does (400)
        return exc
    document["agent"] = ANONYMOUS.as_input()
    return document


def opa_value(engine: OpaEngine, entry: Entry, document: dict[str, Any]) -> Any:
    try:
        return engine.eval_document(entry.decision.replace("/", "."), document)
    except OpaUndefinedError:
        return ("error", "undefined")
    except OpaError as exc:
        return ("error", exc.code)


def chaperone_value(engine: RegorusEngine, document: dict[str, Any]) -> Any:
    try:
        value = engine.evaluate_now(document)
    except ChaperoneError as exc:
        return ("error", exc.code.value)
    return ("error", "undefined") if value is None else value


@pytest.fixture(scope="module", params=ENTRIES, ids=lambda e: e.name)
def engines(request: pytest.FixtureRequest) -> Any:
    entry: Entry = request.param
    opa = opa_for(entry)
    chaperone = RegorusEngine(load_bundle(entry.policy_dir), entry.decision, rego_version=entry.rego_version)  # type: ignore[arg-type]
    yield entry, chaperone, opa
    opa.close()


def test_every_request_gets_opas_decision_and_the_plugins_response(engines: Any) -> None:
    entry, chaperone, opa = engines
    for request in entry.requests:
        where = f"{entry.name}/{request.name}"
        document = check_document(entry, request)
        if isinstance(document, ChaperoneError):
            assert document.http_status == 400, where
            continue
        expected = opa_value(opa, entry, document)
        assert chaperone_value(chaperone, document) == expected, where
        assert_response_like_the_plugin(expected, where)


def assert_response_like_the_plugin(value: Any, where: str) -> None:
    if isinstance(value, tuple):  # an error: the plugin fails the check, Chaperone denies
        return
    try:
        plugin = plugin_response(value)
    except PluginError:
        with pytest.raises(ChaperoneError):
            parse_decision(value)
        return
    response = chaperone_check_response(value)
    assert (response.status.code == code_pb2.OK) is plugin.allowed, where
    assert_same_fields(response, plugin, where)


def chaperone_check_response(value: Any) -> Any:
    decision = parse_decision(value)
    if decision.allowed:
        return allowed_response(decision, "decision-1")
    outcome = Outcome(decision, decision, None, "rev", 0.0)
    return denied_response(deny_response(outcome, "decision-1", 403), decision, "decision-1")


def pairs(options: Any) -> list[tuple[str, str]]:
    return sorted((o.header.key.lower(), o.header.value) for o in options)


def assert_same_fields(response: Any, plugin: PluginResponse, where: str) -> None:
    metadata = struct_to_dict(response.dynamic_metadata)
    assert metadata.pop("decision_id") == "decision-1", where
    metadata.pop("chaperone")
    assert metadata == (plugin.dynamic_metadata or {}), where
    plugin_headers = sorted((k.lower(), v) for k, v in plugin.headers)
    if plugin.allowed:
        ok: pb.OkHttpResponse = response.ok_response
        assert pairs(ok.headers) == plugin_headers, where
        assert list(ok.headers_to_remove) == [h.lower() for h in plugin.headers_to_remove], where
        assert pairs(ok.response_headers_to_add) == sorted(
            (k.lower(), v) for k, v in plugin.response_headers_to_add
        ), where
        assert sorted((q.key, q.value) for q in ok.query_parameters_to_set) == sorted(
            plugin.query_parameters_to_set
        ), where
        assert list(ok.query_parameters_to_remove) == list(plugin.query_parameters_to_remove), where
        return
    denied: pb.DeniedHttpResponse = response.denied_response
    assert denied.status.code == plugin.status, where
    assert denied.body == plugin.body, where
    assert pairs(denied.headers) == plugin_headers, where


def test_v0_entries_are_rewritten_only_by_keywords() -> None:
    for entry in ENTRIES:
        if entry.rego_version != "v0":
            continue
        for path in Path(entry.policy_dir).glob("*.rego"):
            source = path.read_text()
            rewritten = v0_to_v1(source)
            assert rewritten != source, path
            removed = rewritten.replace(" if {", " {").replace(" contains ", "[")
            assert len(removed.split()) <= len(source.split()) + source.count("["), path
