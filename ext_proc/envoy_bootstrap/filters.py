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

from ext_proc.config import CheckBodyConfig, CredentialConfig

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
# The ext_proc request attributes the policy input reads (ext_proc/policy_input/extproc.py).
REQUEST_ATTRIBUTES = ["request.protocol", "source.address", "destination.address"]
# The context extensions that tell the policy which upstream a request goes to, and the
# protocol its route declares (ext_proc/protocols/declared.py reads it).
UPSTREAM_CONTEXT_KEY = "upstream"
PROTOCOL_CONTEXT_KEY = "protocol"


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


def upstream_context(upstream_name: str, protocol: str | None = None) -> dict[str, PackedMessage]:
    """Per-route ext_authz settings: ``input.attributes.contextExtensions.upstream`` names the
    upstream, and ``protocol`` what the route declares it speaks (absent: found by content)."""
    extensions = {UPSTREAM_CONTEXT_KEY: upstream_name}
    if protocol is not None:
        extensions[PROTOCOL_CONTEXT_KEY] = protocol
    per_route = ExtAuthzPerRoute(check_settings=CheckSettings(context_extensions=extensions))
    return {EXT_AUTHZ: PackedMessage.pack(per_route)}


def credential_secret_name(upstream_name: str) -> str:
    return f"{upstream_name}_credential"


def _service(timeout: timedelta | None = None) -> GrpcService:
    return GrpcService(envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=SERVICE_CLUSTER), timeout=timeout)
