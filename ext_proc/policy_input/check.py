"""CheckRequest -> policy input, exactly as opa-envoy-plugin builds it (envoyauth/request.go).

- ``attributes``: the CheckRequest's attributes as the plugin's reflection walk renders them
  (protomap.py): lowerCamelCase keys, populated fields only, set messages kept even when empty,
  64-bit integers as numbers, ``request.time`` as ``{"seconds", "nanos"}``.
- ``parsed_path`` / ``parsed_query``: Go's url.PathUnescape and url.ParseQuery (go_url.py); a
  path or query Go refuses is a 400 ``request_parse_error`` before any policy, as in the plugin.
- ``parsed_body`` / ``truncated_body``: the plugin's body rules (check_body.py); left out with
  ``policy.skip_request_body_parse``, as the plugin's ``skip-request-body-parse``.
- ``source_principal``: the source peer's principal (the mTLS peer's URI SAN), when set.
- ``version``: ``{"ext_authz": "v3", "encoding": "protojson"}``.

Chaperone's own keys (``phase``, ``agent``, ...) go beside these, never in their place.
"""

from __future__ import annotations

from typing import Any

from ext_proc.policy.input_projection import WHOLE_INPUT, InputProjection, NotRead
from ext_proc.policy_input.check_body import parsed_body
from ext_proc.policy_input.http import PROTOJSON_VERSION, parse_path_and_query
from ext_proc.policy_input.protomap import projected_proto_map, proto_map

PHASE_CHECK = "check"
# What ext_proc reads again from the request headers it is sent; the rest of the check's
# attributes travel to the later phases (``carried_attributes``).
_REBUILT_HTTP = frozenset(
    {"headers", "method", "path", "host", "scheme", "id", "protocol", "body", "rawBody"}
)
_REBUILT = frozenset({"request", "contextExtensions"})


def check_input(
    request: Any, *, parse_body: bool = True, projection: InputProjection = WHOLE_INPUT
) -> dict[str, Any]:
    """``projection``: what the policy can read of the input (policy/input_projection.py); the
    attributes it cannot read are not rendered (the walk is most of this function's cost). The
    path and the body are parsed whatever is read: what opa-envoy-plugin refuses with a 400
    is refused before any policy."""
    attributes = request.attributes
    http = attributes.request.http
    parsed_path, parsed_query = parse_path_and_query(http.path)
    read = projection.subtree("attributes")
    document: dict[str, Any] = {
        "attributes": (
            proto_map(attributes)
            if read is None
            else {}
            if isinstance(read, NotRead)
            else projected_proto_map(attributes, read)
        ),
        "parsed_path": parsed_path,
        "parsed_query": parsed_query,
        "version": PROTOJSON_VERSION,
        "phase": PHASE_CHECK,
    }
    if parse_body:
        document["parsed_body"], document["truncated_body"] = parsed_body(
            http.headers, http.body, http.raw_body
        )
    principal = attributes.source.principal
    if principal:
        document["source_principal"] = principal
    return document


def carried_attributes(document: dict[str, Any]) -> dict[str, Any]:
    """The check's attributes that ext_proc cannot read again (the request's time and size, the
    metadata contexts, the peers' principals and certificates, TLS): handed to the later phases
    so that their input is a superset of the check's, and a rule that allowed at the check
    answers the same there (policy_input/extproc.py ``with_check_attributes``)."""
    attributes = document["attributes"]
    carried = {key: value for key, value in attributes.items() if key not in _REBUILT}
    request = attributes.get("request", {})
    kept = {key: value for key, value in request.items() if key != "http"}
    http = {key: value for key, value in request.get("http", {}).items() if key not in _REBUILT_HTTP}
    if http:
        kept["http"] = http
    if kept:
        carried["request"] = kept
    return carried
