"""CheckRequest -> policy input, shaped exactly like opa-envoy-plugin's.

opa-envoy-plugin renders the whole CheckRequest with protojson, so keys are lowerCamelCase,
empty fields are absent and int64 values are strings. We read the fields directly from the
protobuf (a tenth of the cost of MessageToDict) and reproduce that rendering.
"""

from __future__ import annotations

import base64
from typing import Any

from ext_proc.policy_input.http import PROTOJSON_VERSION, parse_body, parse_path_and_query
from ext_proc.protoconv import struct_to_dict, timestamp_to_rfc3339

PHASE_CHECK = "check"
# What ext_proc reads again from the request headers it is sent; the rest of the check's
# attributes travel to the later phases (``carried_attributes``).
_REBUILT_HTTP = frozenset(
    {"headers", "method", "path", "host", "scheme", "id", "protocol", "body", "rawBody"}
)
_REBUILT = frozenset({"request", "contextExtensions"})


def check_input(request: Any) -> dict[str, Any]:
    attrs = request.attributes
    http = attrs.request.http
    http_doc = _http_request(http)
    attributes: dict[str, Any] = {"request": {"http": http_doc}}
    if attrs.request.HasField("time"):
        attributes["request"]["time"] = timestamp_to_rfc3339(attrs.request.time)
    for name in ("source", "destination"):
        if attrs.HasField(name):
            peer = _peer(getattr(attrs, name))
            if peer:
                attributes[name] = peer
    if attrs.context_extensions:
        attributes["contextExtensions"] = dict(attrs.context_extensions)
    for field, key in (
        ("metadata_context", "metadataContext"),
        ("route_metadata_context", "routeMetadataContext"),
    ):
        if attrs.HasField(field):
            metadata = _metadata(getattr(attrs, field))
            if metadata:
                attributes[key] = metadata
    if attrs.HasField("tls_session") and attrs.tls_session.sni:
        attributes["tlsSession"] = {"sni": attrs.tls_session.sni}

    parsed_path, parsed_query = parse_path_and_query(http.path)
    parsed_body, truncated = _parsed_body(http)
    return {
        "attributes": attributes,
        "parsed_path": parsed_path,
        "parsed_query": parsed_query,
        "parsed_body": parsed_body,
        "truncated_body": truncated,
        "version": PROTOJSON_VERSION,
        "phase": PHASE_CHECK,
    }


def _http_request(http: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in ("id", "method", "path", "host", "scheme", "query", "fragment", "protocol", "body"):
        value = getattr(http, name)
        if value:
            doc[name] = value
    if http.headers:
        doc["headers"] = dict(http.headers)
    if http.size:
        doc["size"] = str(http.size)  # protojson renders int64 as a string
    if http.raw_body:
        doc["rawBody"] = base64.b64encode(http.raw_body).decode("ascii")
    return doc


def _peer(peer: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if peer.HasField("address"):
        address = peer.address
        if address.HasField("socket_address"):
            socket: dict[str, Any] = {}
            if address.socket_address.address:
                socket["address"] = address.socket_address.address
            if address.socket_address.port_value:
                socket["portValue"] = address.socket_address.port_value
            doc["address"] = {"socketAddress": socket}
        elif address.HasField("pipe"):
            doc["address"] = {"pipe": {"path": address.pipe.path}}
    for name in ("service", "principal", "certificate"):
        value = getattr(peer, name)
        if value:
            doc[name] = value
    if peer.labels:
        doc["labels"] = dict(peer.labels)
    return doc


def _metadata(metadata: Any) -> dict[str, Any]:
    if not metadata.filter_metadata:
        return {}
    return {"filterMetadata": {ns: struct_to_dict(s) for ns, s in metadata.filter_metadata.items()}}


def _parsed_body(http: Any) -> tuple[Any, bool]:
    """(parsed_body, truncated_body) as opa-envoy-plugin computes them, plus form bodies."""
    body = http.body.encode("utf-8") if http.body else http.raw_body
    if not body:
        return None, False
    if http.headers.get("x-envoy-auth-partial-body") == "true":
        return None, True
    content_length = http.headers.get("content-length")
    if content_length and content_length.isdigit() and int(content_length) > len(body):
        # Envoy sent a prefix (allow_partial_message): do not parse half a document.
        return None, True
    return parse_body(http.headers.get("content-type"), body), False


def carried_attributes(document: dict[str, Any]) -> dict[str, Any]:
    """The check's attributes that ext_proc cannot read again (the request's time and size, the
    metadata contexts, the peers' principals and certificates, TLS): handed to the later phases
    so that their input is a superset of the check's, and a rule that allowed at the check
    answers the same there (policy_input/extproc.py ``with_check_attributes``)."""
    attributes = document["attributes"]
    carried = {key: value for key, value in attributes.items() if key not in _REBUILT}
    request = {key: value for key, value in attributes["request"].items() if key != "http"}
    http = {key: value for key, value in attributes["request"]["http"].items() if key not in _REBUILT_HTTP}
    if http:
        request["http"] = http
    if request:
        carried["request"] = request
    return carried
