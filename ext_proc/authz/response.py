"""Decision -> CheckResponse, as opa-envoy-plugin builds it, plus the hand-off to ext_proc.

Allowed: an OkHttpResponse with the headers to add or override upstream (``headers``), to remove
(``request_headers_to_remove``), to add to the client's response (``response_headers_to_add``)
and the query parameters to set or remove. Denied: a DeniedHttpResponse with the status, headers
and body. Either way the dynamic metadata is the decision's ``dynamic_metadata`` with
``decision_id`` beside it at the top level, as the plugin sets it (access logs read
``%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)%``), and Chaperone's hand-off to
the ext_proc filter that follows (inspection plan, agent...) under the ``chaperone`` key, which
is Chaperone's alone: a decision's own ``chaperone`` key is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2 as pb
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2
from google.rpc import code_pb2, status_pb2

from ext_proc.enforcement.credentials import NONE as NO_CREDENTIALS
from ext_proc.enforcement.credentials import UpstreamCredentials
from ext_proc.enforcement.handoff import AGENT, NO_HANDOFF, Handoff
from ext_proc.limits.answers import rate_limit_metadata
from ext_proc.policy.decision import Decision, Headers
from ext_proc.policy.evaluator import DenyResponse
from ext_proc.processing.protocol import (
    CHECK_METADATA_KEY,
    CONTEXT_EXTENSIONS_KEY,
    DECISION_ID_KEY,
    SENSITIVE_DATA_KEY,
)

_OK = status_pb2.Status(code=code_pb2.OK)
_PERMISSION_DENIED = status_pb2.Status(code=code_pb2.PERMISSION_DENIED)


def allowed_response(
    decision: Decision,
    decision_id: str,
    context: Mapping[str, str] | None = None,
    credentials: UpstreamCredentials = NO_CREDENTIALS,
    handoff: Handoff = NO_HANDOFF,
) -> Any:
    """``context``: the route's ext_authz context extensions, handed to ext_proc's later phases;
    ``credentials``: the agent's credential headers to remove and the brokered ones to set;
    ``handoff``: what the later phases need to know (enforcement/handoff.py)."""
    response = pb.CheckResponse()
    response.CopyFrom(_TEMPLATES.get(decision, context))
    if credentials.set or credentials.remove:
        ok = response.ok_response
        ok.headers.extend(_options(credentials.set))
        ok.headers_to_remove.extend(credentials.remove)
    response.dynamic_metadata.fields[DECISION_ID_KEY].string_value = decision_id
    if handoff is not NO_HANDOFF:
        _set_handoff(response.dynamic_metadata.fields[CHECK_METADATA_KEY].struct_value, handoff)
    return response


def _set_handoff(struct: Any, handoff: Handoff) -> None:
    fields = handoff.as_fields()
    agent = fields.pop(AGENT, None)
    if agent is not None:
        struct.fields[AGENT].CopyFrom(_AGENTS.value(agent))
    if fields:
        struct.update(fields)


class _AgentValues:
    """``input.agent`` documents as protobuf Values, by their JSON text: an agent's document is the
    same on each of its requests (its verified token is cached), and building the Value field by
    field costs several times more than copying a built one."""

    SIZE = 4096

    def __init__(self) -> None:
        self._values: dict[bytes, Any] = {}

    def value(self, agent: dict[str, Any]) -> Any:
        try:
            key = orjson.dumps(agent)
        except TypeError:
            return _value_of(agent)
        value = self._values.get(key)
        if value is None:
            if len(self._values) >= self.SIZE:
                del self._values[next(iter(self._values))]
            value = self._values[key] = _value_of(agent)
        return value


def _value_of(document: dict[str, Any]) -> Any:
    value = struct_pb2.Value()
    value.struct_value.update(document)
    return value


_AGENTS = _AgentValues()


def _allowed_template(decision: Decision, context: Mapping[str, str] | None) -> Any:
    """What an allow with this decision says whatever the request: all but the decision id, the
    agent's credentials and the hand-off."""
    ok = pb.OkHttpResponse(
        headers=_options(decision.headers),
        headers_to_remove=decision.request_headers_to_remove,
        response_headers_to_add=_options(decision.response_headers_to_add),
        query_parameters_to_set=[
            base_pb2.QueryParameter(key=k, value=v) for k, v in decision.query_parameters_to_set
        ],
        query_parameters_to_remove=decision.query_parameters_to_remove,
    )
    response = pb.CheckResponse(status=_OK, ok_response=ok)
    _set_metadata(response.dynamic_metadata, decision, "")
    if decision.limits:  # for Envoy's own rate-limit filter, when a deployment runs one
        response.dynamic_metadata.update(rate_limit_metadata(decision.limits))
    if context:
        extensions = response.dynamic_metadata.fields[CHECK_METADATA_KEY].struct_value.fields
        for key, value in context.items():
            extensions[CONTEXT_EXTENSIONS_KEY].struct_value.fields[key].string_value = value
    return response


class _Templates:
    """Prebuilt allow responses by decision and context extensions: copying one costs a fifth of
    building it. Decisions are immutable and the evaluator hands out the same object for the same
    answer (policy/evaluator.py, DecisionCache), so the object's identity is the key; the entry
    holds the decision, so the identity is not reused while the entry lives."""

    SIZE = 1024

    def __init__(self) -> None:
        self._responses: dict[tuple[int, tuple[tuple[str, str], ...]], tuple[Decision, Any]] = {}

    def get(self, decision: Decision, context: Mapping[str, str] | None) -> Any:
        key = (id(decision), tuple(context.items()) if context else ())
        entry = self._responses.get(key)
        if entry is None or entry[0] is not decision:
            entry = (decision, _allowed_template(decision, context))
            if len(self._responses) >= self.SIZE:
                del self._responses[next(iter(self._responses))]
            self._responses[key] = entry
        return entry[1]


_TEMPLATES = _Templates()


def denied_response(deny: DenyResponse, decision: Decision, decision_id: str) -> Any:
    denied = pb.DeniedHttpResponse(
        status=http_status_pb2.HttpStatus(code=deny.status),
        headers=_options(deny.headers),
        body=deny.body.decode("utf-8", "replace"),
    )
    response = pb.CheckResponse(status=_PERMISSION_DENIED, denied_response=denied)
    _set_metadata(response.dynamic_metadata, decision, decision_id)
    return response


def _options(headers: Headers) -> list[Any]:
    # In an OkHttpResponse an unset append means "overwrite", as in opa-envoy-plugin.
    return [base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v)) for k, v in headers]


def _set_metadata(struct: Any, decision: Decision, decision_id: str) -> None:
    if decision.dynamic_metadata:
        struct.update(decision.dynamic_metadata)
        struct.fields.pop(CHECK_METADATA_KEY, None)
    struct.fields[DECISION_ID_KEY].string_value = decision_id
    # Set field by field: Struct.update() on a fresh dict costs several times more on this path.
    hand_off = struct.fields[CHECK_METADATA_KEY].struct_value.fields
    inspect = hand_off["inspect"].struct_value.fields
    inspect["request_body"].string_value = decision.inspect.request_body.value
    inspect["response_headers"].bool_value = decision.inspect.response_headers
    inspect["response_body"].string_value = decision.inspect.response_body.value
    if decision.sensitive_data:
        table = hand_off[SENSITIVE_DATA_KEY].struct_value.fields
        for key, action in decision.sensitive_data.items():
            table[key].string_value = action
