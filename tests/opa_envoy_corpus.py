"""The real-policy corpus: OPA-Envoy policies of the kinds found in public sources, and the
requests each one is tried with (tests/fixtures/opa_envoy_corpus/<entry>/).

Each entry has ``policy/`` (the Rego and data, loaded as a policy directory), ``case.yaml``
(the public source it is modeled on, its license, what it exercises, the decision path, the
Rego version, the requests) and ``captured/`` (the CheckRequest Envoy sent for each request,
written by ``python -m tests.capture_check_requests``).

Also here: the opa-envoy-plugin response mapping (envoyauth/response.go and the Check of
internal/internal.go, v1.19) as an independent reference, and the Rego v0 -> v1 rewriting that
lets the test-only OPA bindings (v1 only) evaluate a v0 entry.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from envoy.service.auth.v3 import external_auth_pb2
from envoy.type.v3 import http_status_pb2
from google.protobuf import json_format

from ext_proc import strict_json

CORPUS = Path(__file__).parent / "fixtures" / "opa_envoy_corpus"
# The check body Envoy buffers for the policy (ext_authz with_request_body), as in the plugin's docs.
WITH_REQUEST_BODY = {"max_request_bytes": 8192, "allow_partial_message": True}


@dataclass(frozen=True)
class CorpusRequest:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def send(self, host: str, port: int, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """Send it as written (http.client keeps the path byte for byte); status, headers, body."""
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            headers = dict(self.headers)
            if self.body:
                headers["content-length"] = str(len(self.body))
            connection.request(self.method, self.path, body=self.body or None, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()


@dataclass(frozen=True)
class Entry:
    name: str
    directory: Path
    decision: str
    rego_version: str
    requires: tuple[str, ...]
    source: dict[str, str]
    requests: tuple[CorpusRequest, ...]

    @property
    def policy_dir(self) -> Path:
        return self.directory / "policy"

    def captured_path(self, request: CorpusRequest) -> Path:
        return self.directory / "captured" / f"{request.name}.json"

    def captured(self, request: CorpusRequest) -> Any:
        return json_format.Parse(self.captured_path(request).read_text(), external_auth_pb2.CheckRequest())


def _request(spec: dict[str, Any]) -> CorpusRequest:
    headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
    body = spec.get("body", "")
    if "json" in spec:
        body = strict_json.dumps(spec["json"]).decode()  # big integers as their digits
        headers.setdefault("content-type", "application/json")
    return CorpusRequest(spec["name"], spec["method"], spec["path"], headers, str(body).encode())


def load_entry(directory: Path) -> Entry:
    case = yaml.safe_load((directory / "case.yaml").read_text())
    return Entry(
        name=directory.name,
        directory=directory,
        decision=case["decision"],
        rego_version=case.get("rego_version", "v1"),
        requires=tuple(case.get("requires", ())),
        source=case["source"],
        requests=tuple(_request(spec) for spec in case["requests"]),
    )


def entries() -> list[Entry]:
    return [load_entry(d) for d in sorted(CORPUS.iterdir()) if (d / "case.yaml").exists()]


# -- Rego v0 for the oracle ----------------------------------------------------------------------

_V0_HEAD = re.compile(r"^(?P<head>[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*(?::?=)\s*.+?)?)\s*\{\s*$")
_V0_ELSE = re.compile(r"^(?P<head>\}\s*else\s*(?::?=)\s*.+?)\s*\{\s*$")
_PARTIAL_SET = re.compile(r"^(?P<name>[A-Za-z_]\w*)\[(?P<key>[^\]]+)\]$")


def v0_to_v1(source: str) -> str:
    """The v1 spelling of a v0 module written in the corpus's plain style: ``if`` before each
    rule body, ``contains`` for partial sets (``deny[msg] {``). The test-only OPA bindings parse
    v1 only; opa-envoy-plugin's ``--v0-compatible`` reads the v0 text the same way."""
    lines = []
    for line in source.splitlines():
        stripped = line.rstrip()
        if stripped.startswith(("package ", "import ", "default ", "#")) or not stripped:
            lines.append(line)
            continue
        match = _V0_ELSE.match(stripped) or (_V0_HEAD.match(stripped) if not line[:1].isspace() else None)
        if match is None or " if " in f" {match['head']} ":
            lines.append(line)
            continue
        head = match["head"]
        partial = _PARTIAL_SET.match(head)
        if partial is not None:
            head = f"{partial['name']} contains {partial['key']}"
        lines.append(f"{head} if {{")
    return "\n".join(lines) + "\n"


# -- opa-envoy-plugin's response mapping ----------------------------------------------------------


_ENVOY_STATUSES = frozenset(v.number for v in http_status_pb2.StatusCode.DESCRIPTOR.values)


class PluginError(Exception):
    """The plugin fails the check (a gRPC error): Envoy answers with its status_on_error."""


@dataclass(frozen=True)
class PluginResponse:
    allowed: bool
    status: int | None = None  # denied: the HTTP status
    body: str = ""  # denied: the body
    headers: tuple[tuple[str, str], ...] = ()  # allowed: to the upstream; denied: to the client
    headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[tuple[str, str], ...] = ()
    query_parameters_to_set: tuple[tuple[str, str], ...] = ()
    query_parameters_to_remove: tuple[str, ...] = ()
    dynamic_metadata: dict[str, Any] | None = None


def plugin_response(decision: Any) -> PluginResponse:
    """What opa-envoy-plugin answers for an evaluated decision, or PluginError."""
    if isinstance(decision, bool):
        return PluginResponse(allowed=decision, status=None if decision else 403)
    if not isinstance(decision, dict):
        raise PluginError(f"illegal value for policy evaluation result: {type(decision).__name__}")
    if "allowed" not in decision or not isinstance(decision["allowed"], bool):
        raise PluginError("allowed missing or not a boolean")
    headers = _plugin_headers(decision.get("headers"))
    metadata = decision.get("dynamic_metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise PluginError("dynamic_metadata is not an object")
    if decision["allowed"]:
        return PluginResponse(
            allowed=True,
            headers=headers,
            headers_to_remove=_plugin_strings(decision.get("request_headers_to_remove")),
            response_headers_to_add=_plugin_headers(decision.get("response_headers_to_add")),
            query_parameters_to_set=_plugin_query(decision.get("query_parameters_to_set")),
            query_parameters_to_remove=_plugin_strings(decision.get("query_parameters_to_remove")),
            dynamic_metadata=metadata,
        )
    body = decision.get("body", "")
    if not isinstance(body, str):
        raise PluginError("body is not a string")
    status = decision.get("http_status", 403)
    if isinstance(status, bool) or not isinstance(status, int) or not _envoy_status(status):
        raise PluginError(f"invalid HTTP status code {status!r}")
    return PluginResponse(False, status, body, headers, dynamic_metadata=metadata)


def _envoy_status(status: int) -> bool:
    # Go names it (http.StatusText) and Envoy's StatusCode enum has it: the enum is the narrower.
    return status in _ENVOY_STATUSES and status != 0


def _plugin_headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    groups = value if isinstance(value, list) else [value]
    pairs = []
    for group in groups:
        if not isinstance(group, dict):
            raise PluginError("headers is not an object")
        for key, item in group.items():
            for one in item if isinstance(item, list) else [item]:
                if not isinstance(one, str):
                    raise PluginError(f"invalid value type for header {key!r}")
                pairs.append((key, one))
    return tuple(pairs)


def _plugin_strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PluginError("expected an array of strings")
    return tuple(value)


def _plugin_query(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise PluginError("query_parameters_to_set is not an object")
    pairs = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            if not isinstance(one, str):
                raise PluginError("query parameter value is not a string")
            pairs.append((key, one))
    return tuple(pairs)
