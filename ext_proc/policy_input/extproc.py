"""Policy input for the ext_proc phases.

The request part (``attributes.request.http``, ``parsed_path``, ``parsed_query``) has the same
shape as in the ext_authz check, so one rule can read it in every phase. Chaperone adds
``phase``, and in response phases ``response`` (status, headers and, when buffered, body), and
in streamed body phases ``chunk`` (index, text, end_of_stream).
"""

from __future__ import annotations

import time
from typing import Any

from ext_proc.policy_input.http import parse_path_and_query

EXTPROC_VERSION = {"ext_proc": "v3", "encoding": "protojson"}

# ext_proc request attributes (Envoy's CEL names) that map onto opa-envoy-plugin's input.
ATTR_PROTOCOL = "request.protocol"
ATTR_SOURCE_ADDRESS = "source.address"
ATTR_SOURCE_PORT = "source.port"
ATTR_DESTINATION_ADDRESS = "destination.address"
ATTR_DESTINATION_PORT = "destination.port"
ATTR_PEER_URI_SAN = "connection.uri_san_peer_certificate"


def request_document(headers: dict[str, str], attributes: dict[str, Any]) -> dict[str, Any]:
    """The phase-independent part of the input, built once per stream from the request headers."""
    path = headers.get(":path", "")
    http: dict[str, Any] = {"headers": headers}
    for key, header in (
        ("method", ":method"),
        ("path", ":path"),
        ("host", ":authority"),
        ("scheme", ":scheme"),
    ):
        value = headers.get(header)
        if value:
            http[key] = value
    if "x-request-id" in headers:
        http["id"] = headers["x-request-id"]
    if attributes.get(ATTR_PROTOCOL):
        http["protocol"] = attributes[ATTR_PROTOCOL]
    document_attributes: dict[str, Any] = {"request": {"http": http}}
    for name, address_key, port_key in (
        ("source", ATTR_SOURCE_ADDRESS, ATTR_SOURCE_PORT),
        ("destination", ATTR_DESTINATION_ADDRESS, ATTR_DESTINATION_PORT),
    ):
        peer = _peer(attributes.get(address_key), attributes.get(port_key))
        if peer:
            document_attributes[name] = peer
    parsed_path, parsed_query = parse_path_and_query(path)
    return {
        "attributes": document_attributes,
        "parsed_path": parsed_path,
        "parsed_query": parsed_query,
        "parsed_body": None,
        "truncated_body": False,
        "version": EXTPROC_VERSION,
    }


def _peer(address: Any, port: Any) -> dict[str, Any]:
    if not address:
        return {}
    host = str(address)
    # Envoy's source.address attribute is "ip:port"; opa-envoy-plugin splits the two.
    if port is None and host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = int(port_text) if port_text.isdigit() else None
    elif host.startswith("[") and "]:" in host:
        host, _, port_text = host[1:].partition("]:")
        port = int(port_text) if port is None and port_text.isdigit() else port
    socket: dict[str, Any] = {"address": host}
    if port:
        socket["portValue"] = int(port)
    return {"address": {"socketAddress": socket}}


CHECK_VERSION = {"ext_authz": "v3"}


def with_check_attributes(document: dict[str, Any], carried: dict[str, Any]) -> None:
    """Add what the check saw and ext_proc cannot (policy_input/check.py ``carried_attributes``)
    to the phase-independent input, in place: every later phase's input is then a superset of
    the check's. What ext_proc reads itself (the headers, without a removed credential) wins."""
    attributes = document["attributes"]
    for key, value in carried.items():
        if key != "request":
            attributes[key] = value  # the check's peers carry principals besides the addresses
            continue
        request = attributes["request"]
        for name, part in value.items():
            request[name] = {**part, **request[name]} if name == "http" else part
    document["version"] = {**CHECK_VERSION, **document["version"]}
    principal = (
        carried.get("source", {}).get("principal") if isinstance(carried.get("source"), dict) else None
    )
    if principal:
        document["source_principal"] = principal


def as_route_check(
    document: dict[str, Any], context: dict[str, str], attributes: dict[str, Any]
) -> str | None:
    """On a route without ext_authz, the request headers are decided as the check: the input gets,
    in place, what the check's would have: the route's context extensions, the request time
    (Envoy does not hand ext_proc its own: the time the headers reached Chaperone), the client
    certificate's URI SAN as the source principal, the empty metadata contexts, the check's
    ``version``. Returns the principal, for the agent's identity."""
    fields = document["attributes"]
    fields["contextExtensions"] = dict(context)
    fields["metadataContext"] = {}
    fields["routeMetadataContext"] = {}
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    fields["request"]["time"] = {"seconds": seconds, "nanos": nanos} if nanos else {"seconds": seconds}
    principal = attributes.get(ATTR_PEER_URI_SAN)
    principal = principal if isinstance(principal, str) and principal else None
    if principal is not None:
        fields.setdefault("source", {})["principal"] = principal
        document["source_principal"] = principal
    document["version"] = {**CHECK_VERSION, **document["version"]}
    return principal


def phase_document(base: dict[str, Any], phase: str, **extra: Any) -> dict[str, Any]:
    document = dict(base)
    document["phase"] = phase
    document.update(extra)
    return document


def with_request_body(base: dict[str, Any], text: str, parsed_body: Any) -> dict[str, Any]:
    """The request_body (buffered) input: the body where opa-envoy-plugin puts it."""
    attributes = dict(base["attributes"])
    request = dict(attributes["request"])
    request["http"] = {**request["http"], "body": text}
    attributes["request"] = request
    return phase_document(base, "request_body", attributes=attributes, parsed_body=parsed_body)
