"""The HTTP filter chain in front of every upstream: ext_authz -> ext_proc -> [credential] -> router.

Both Chaperone filters fail closed (DESIGN §4): when the service cannot answer, Envoy refuses the
request with 503 and nothing reaches the upstream. ext_proc only sends the request headers unless
the decision asks for more (``allow_mode_override``), and receives the ext_authz decision through
forwarded dynamic metadata so the request is not evaluated twice.
"""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    ApiVersion,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    HeaderValue,
    TypedExtensionConfig,
)
from envoy_data_plane.envoy.extensions.filters.http.credential_injector.v3 import CredentialInjector
from envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3 import (
    BufferSettings,
    CheckSettings,
    ExtAuthz,
    ExtAuthzPerRoute,
)
from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import (
    ExternalProcessor,
    ExtProcOverrides,
    ExtProcPerRoute,
    MetadataOptions,
    MetadataOptionsMetadataNamespaces,
    ProcessingMode,
    ProcessingModeBodySendMode,
    ProcessingModeHeaderSendMode,
)
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import HttpFilter
from envoy_data_plane.envoy.extensions.http.injected_credentials.generic.v3 import Generic
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import SdsSecretConfig
from envoy_data_plane.envoy.type.v3 import HttpStatus, StatusCode
from envoy_data_plane.google.protobuf import Any as PackedMessage

from ext_proc.config import CheckBodyConfig, CredentialConfig, RouteFilters, route_filters
from ext_proc.processing.protocol import ROUTE_CONTEXT_PREFIX

EXT_AUTHZ = "envoy.filters.http.ext_authz"
EXT_PROC = "envoy.filters.http.ext_proc"
CREDENTIAL_INJECTOR = "envoy.filters.http.credential_injector"
ROUTER = "envoy.filters.http.router"
SERVICE_CLUSTER = "chaperone"
# Chaperone answers a Check in about a millisecond; a second means it is stuck: fail closed.
SERVICE_TIMEOUT = timedelta(seconds=1)
# A call held for a person's approval: Chaperone extends one ext_proc message's deadline up to
# this (ProcessingResponse.override_message_timeout); beyond it the call fails closed.
MAX_HOLD = timedelta(minutes=10)
# The ext_proc request attributes the policy input reads (ext_proc/policy_input/extproc.py). The
# client certificate's URI SAN is for routes ext_proc decides alone (the SPIFFE identity); it is
# asked for on the filter because Envoy 1.40 ignores ``request_attributes`` in a route's
# ExtProcPerRoute overrides (measured: only the filter's list reached the service).
REQUEST_ATTRIBUTES = [
    "request.protocol",
    "source.address",
    "destination.address",
    "connection.uri_san_peer_certificate",
]
# The context extensions that tell the policy which upstream a request goes to, and the
# protocol its route declares (ext_proc/protocols/declared.py reads it).
UPSTREAM_CONTEXT_KEY = "upstream"
PROTOCOL_CONTEXT_KEY = "protocol"
# On a route ext_authz decides alone, ``filters: ext_authz`` says so to the check.
FILTERS_CONTEXT_KEY = "filters"
# On a route ext_proc decides alone (no ext_authz): the route's context extensions reach it as
# gRPC metadata (ROUTE_CONTEXT_PREFIX).


def ext_authz(with_request_body: CheckBodyConfig | None = None) -> HttpFilter:
    config = ExtAuthz(
        grpc_service=_service(timeout=SERVICE_TIMEOUT),
        transport_api_version=ApiVersion.V3,
        failure_mode_allow=False,
        status_on_error=HttpStatus(code=StatusCode.ServiceUnavailable),
    )
    if with_request_body is not None:  # policy.with_request_body: the check sees the body
        config.with_request_body = BufferSettings(
            max_request_bytes=with_request_body.max_request_bytes,
            allow_partial_message=with_request_body.allow_partial_message,
            pack_as_bytes=with_request_body.pack_as_bytes,
        )
    return HttpFilter(name=EXT_AUTHZ, typed_config=PackedMessage.pack(config))


def ext_proc() -> HttpFilter:
    config = ExternalProcessor(
        grpc_service=_service(),
        failure_mode_allow=False,
        status_on_error=HttpStatus(code=StatusCode.ServiceUnavailable),
        message_timeout=SERVICE_TIMEOUT,
        max_message_timeout=MAX_HOLD,
        allow_mode_override=True,
        processing_mode=ProcessingMode(
            request_header_mode=ProcessingModeHeaderSendMode.SEND,
            response_header_mode=ProcessingModeHeaderSendMode.SKIP,
            request_body_mode=ProcessingModeBodySendMode.NONE,
            response_body_mode=ProcessingModeBodySendMode.NONE,
            request_trailer_mode=ProcessingModeHeaderSendMode.SKIP,
            response_trailer_mode=ProcessingModeHeaderSendMode.SKIP,
        ),
        metadata_options=MetadataOptions(
            forwarding_namespaces=MetadataOptionsMetadataNamespaces(untyped=[EXT_AUTHZ])
        ),
        request_attributes=REQUEST_ATTRIBUTES,
    )
    return HttpFilter(name=EXT_PROC, typed_config=PackedMessage.pack(config))


def credential_injector(upstream_name: str, credential: CredentialConfig) -> HttpFilter:
    """Envoy adds the upstream's credential after the policy decided: Chaperone never sees it."""
    generic = Generic(
        credential=SdsSecretConfig(name=credential_secret_name(upstream_name)),
        header=credential.header,
        header_value_prefix=credential.prefix,
    )
    config = CredentialInjector(
        overwrite=True,  # whatever the agent sent in that header is replaced
        allow_request_without_credential=False,
        credential=TypedExtensionConfig(
            name="envoy.http.injected_credentials.generic", typed_config=PackedMessage.pack(generic)
        ),
    )
    return HttpFilter(name=CREDENTIAL_INJECTOR, typed_config=PackedMessage.pack(config))


def router() -> HttpFilter:
    return HttpFilter(name=ROUTER, typed_config=PackedMessage.pack(Router()))


def upstream_context(
    upstream_name: str,
    protocol: str | None = None,
    filters: RouteFilters = "auto",
    check_reads_body: bool = False,
) -> dict[str, PackedMessage]:
    """Per-route filter settings. ``input.attributes.contextExtensions``: ``upstream`` names the
    upstream, ``protocol`` what the route declares it speaks (absent: found by content), and
    ``filters`` is ``ext_authz`` on a route where ext_proc does not run.

    On a route that ext_proc decides alone, ext_authz is off and the context extensions reach
    ext_proc as gRPC metadata of its stream (``ROUTE_CONTEXT_PREFIX``); on a route ext_authz
    decides alone, ext_proc is off. ``check_reads_body`` (``policy.with_request_body``): the
    check sees the body, which ext_proc's request headers do not: ``auto`` keeps both."""
    extensions = {UPSTREAM_CONTEXT_KEY: upstream_name}
    if protocol is not None:
        extensions[PROTOCOL_CONTEXT_KEY] = protocol
    chosen = route_filters(protocol, filters)
    if chosen == "ext_proc" and filters == "auto" and check_reads_body:
        chosen = "both"
    if chosen == "ext_proc":
        metadata = [HeaderValue(key=f"{ROUTE_CONTEXT_PREFIX}{k}", value=v) for k, v in extensions.items()]
        overrides = ExtProcOverrides(grpc_initial_metadata=metadata)
        return {
            EXT_AUTHZ: PackedMessage.pack(ExtAuthzPerRoute(disabled=True)),
            EXT_PROC: PackedMessage.pack(ExtProcPerRoute(overrides=overrides)),
        }
    if chosen == "ext_authz":
        extensions[FILTERS_CONTEXT_KEY] = "ext_authz"
    per_route = ExtAuthzPerRoute(check_settings=CheckSettings(context_extensions=extensions))
    settings = {EXT_AUTHZ: PackedMessage.pack(per_route)}
    if chosen == "ext_authz":
        settings[EXT_PROC] = PackedMessage.pack(ExtProcPerRoute(disabled=True))
    return settings


def credential_secret_name(upstream_name: str) -> str:
    return f"{upstream_name}_credential"


def _service(timeout: timedelta | None = None) -> GrpcService:
    return GrpcService(envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=SERVICE_CLUSTER), timeout=timeout)
