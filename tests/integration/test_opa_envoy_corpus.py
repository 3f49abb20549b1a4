"""The real-policy corpus end to end: Envoy, Chaperone, an echoing upstream.

Each entry's requests go through Envoy twice: with the embedded engine, and with real OPA
(tests/opa_server.py, the same modules; a v0 entry in its v1 spelling) behind Chaperone's
remote-OPA engine. What the client receives (status, body, the headers a policy sets) and what
the upstream receives (headers added and removed, query parameters) must be the same in both
runs, and what opa-envoy-plugin's mapping of OPA's decision gives.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from ext_proc.demo.envoy_config import http_filters
from ext_proc.identity.model import ANONYMOUS
from ext_proc.policy_input.check import check_input
from tests.harness import Stack, UpstreamServer, start_stack
from tests.opa_envoy_corpus import (
    WITH_REQUEST_BODY,
    CorpusRequest,
    Entry,
    PluginResponse,
    entries,
    plugin_response,
    v0_to_v1,
)
from tests.opa_server import OpaDataApiServer

pytestmark = pytest.mark.envoy

# Each entry costs two stacks (~15 s each on a busy 2-core machine): `make test` runs a few
# that between them cover v0, a partial-object decision, JWT verification, a JSON body, query
# parameter and header changes and denies with headers; `make corpus` runs every entry.
SMOKE = {"plugin_result_v0", "primer_query_parameters", "tutorial_standalone"}
ENTRIES = [e for e in entries() if os.environ.get("CORPUS_E2E") == "all" or e.name in SMOKE]
# Set by Envoy or the network, different on every request: not part of what a policy decides.
VOLATILE = frozenset(
    {
        "date",
        "host",
        "x-request-id",
        "x-envoy-upstream-service-time",
        "x-forwarded-proto",
        "content-length",
        "server",
    }
)


def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in VOLATILE}
        body = {"method": request.method, "path": request.raw_path, "headers": headers}
        return web.json_response(body, headers={"x-upstream": "echo"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture(scope="module")
def echo_upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer(echo_app()).start()
    yield server
    server.stop()


def with_check_body(config: dict[str, Any]) -> None:
    http_filters(config)[0]["typed_config"]["with_request_body"] = dict(WITH_REQUEST_BODY)


def oracle_policies(entry: Entry, target: Path) -> Path:
    shutil.copytree(entry.policy_dir, target)
    if entry.rego_version == "v0":
        for module in target.rglob("*.rego"):
            module.write_text(v0_to_v1(module.read_text()))
    return target


Seen = tuple[int, dict[str, str], Any]


def run(stack: Stack, entry: Entry) -> dict[str, Seen]:
    seen: dict[str, Seen] = {}
    for request in entry.requests:
        status, headers, body = request.send("127.0.0.1", stack.envoy.listener_port)
        kept = {k: v for k, v in headers.items() if k not in VOLATILE}
        if kept.get("x-upstream") == "echo" and request.method != "HEAD":
            seen[request.name] = (status, kept, orjson.loads(body))
        elif kept.get("content-type") == "application/json" and b'"decision_id"' in body:
            error = orjson.loads(body)  # Chaperone's own refusal: the decision id differs
            error["error"].pop("decision_id")
            seen[request.name] = (status, kept, error)
        else:
            seen[request.name] = (status, kept, body)
    return seen


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_the_client_and_the_upstream_see_what_real_opa_and_the_plugin_give(
    entry: Entry, echo_upstream: UpstreamServer, tmp_path: Path
) -> None:
    policy = {"decision": entry.decision, "rego_version": entry.rego_version}
    runs = {}
    for stack in start_stack(
        tmp_path / "embedded",
        entry.policy_dir,
        echo_upstream,
        service_sections={"policy": policy},
        edit_envoy=with_check_body,
    ):
        runs["embedded"] = run(stack, entry)
    opa = OpaDataApiServer(oracle_policies(entry, tmp_path / "oracle")).start()
    try:
        remote = {**policy, "engine": "opa", "opa": {"url": opa.url, "timeout_ms": 2000}}
        for stack in start_stack(
            tmp_path / "remote",
            entry.policy_dir,
            echo_upstream,
            service_sections={"policy": remote},
            edit_envoy=with_check_body,
        ):
            runs["remote"] = run(stack, entry)
        for request in entry.requests:
            where = f"{entry.name}/{request.name}"
            assert runs["embedded"][request.name] == runs["remote"][request.name], where
            expected = expected_by_the_plugin(entry, request, opa)
            assert_seen_as_expected(runs["embedded"][request.name], expected, where)
    finally:
        opa.stop()


def expected_by_the_plugin(
    entry: Entry, request: CorpusRequest, opa: OpaDataApiServer
) -> PluginResponse | int:
    """opa-envoy-plugin's response for OPA's decision on the captured CheckRequest; an int is
    the status of a request refused before any policy (400)."""
    try:
        document = check_input(entry.captured(request))
    except Exception:  # refused before the policy (the plugin answers 400 too)
        return 400
    document["agent"] = ANONYMOUS.as_input()
    status, reply = opa.evaluate("/v1/data/" + entry.decision, document)
    assert status == 200 and "result" in reply, f"{entry.name}/{request.name}: OPA answered {reply}"
    return plugin_response(reply["result"])


def assert_seen_as_expected(seen: Seen, expected: PluginResponse | int, where: str) -> None:
    status, headers, body = seen
    if isinstance(expected, int):
        assert status == expected, where
        return
    if not expected.allowed:
        assert status == expected.status, where
        assert body == expected.body.encode(), where
        for name, value in last_values(expected.headers).items():
            assert headers.get(name) == value, f"{where}: header {name}"
        if not expected.body:
            assert "content-type" not in headers or any(
                k.lower() == "content-type" for k, _ in expected.headers
            ), where
        return
    assert status == 200 and headers.get("x-upstream") == "echo", where
    for name, value in last_values(expected.response_headers_to_add).items():
        assert headers.get(name) == value, f"{where}: response header {name}"
    if isinstance(body, bytes):  # a HEAD: the upstream's echo has no body
        return
    upstream_headers = body["headers"]
    for name, value in last_values(expected.headers).items():
        assert upstream_headers.get(name) == value, f"{where}: upstream header {name}"
    for name in expected.headers_to_remove:
        assert name.lower() not in upstream_headers, f"{where}: {name} removed"
    query = body["path"].partition("?")[2]
    pairs = [part.partition("=")[::2] for part in query.split("&") if part]
    for name in expected.query_parameters_to_remove:
        assert name not in {key for key, _ in pairs}, f"{where}: query {name} removed"
    for name, value in expected.query_parameters_to_set:
        assert (name, value) in pairs or any(key == name for key, _ in pairs), f"{where}: query {name} set"


def last_values(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Envoy sets each header of the list in turn (append is false): the last value stays."""
    return {name.lower(): value for name, value in pairs}
