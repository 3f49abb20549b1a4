"""Envoy clusters: Chaperone's gRPC service, each upstream (TLS with SNI for https), Envoy's admin."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.cluster.v3 import Cluster, ClusterDiscoveryType, ClusterDnsLookupFamily
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    DataSource,
    Http2ProtocolOptions,
    SocketAddress,
    TransportSocket,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CertificateValidationContext,
    CommonTlsContext,
    GenericSecret,
    Secret,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    UpstreamTlsContext,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any as PackedMessage

from ext_proc.config import UpstreamConfig, is_ip_address, upstream_origin
from ext_proc.envoy_bootstrap.addresses import address, service_address
from ext_proc.envoy_bootstrap.filters import SERVICE_CLUSTER, credential_secret_name

ADMIN_CLUSTER = "envoy_admin"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TLS_TRANSPORT = "envoy.transport_sockets.tls"
# Loopback and in-cluster addresses answer at once; a public API over the internet may take longer.
LOCAL_CONNECT_TIMEOUT = timedelta(seconds=1)
REMOTE_CONNECT_TIMEOUT = timedelta(seconds=5)
SERVICE_CONNECT_TIMEOUT = timedelta(milliseconds=250)
# One call (a Check, or an ext_proc stream) at a time per connection to Chaperone: Envoy then opens
# a connection per concurrent call, and the kernel spreads connections across the service's
# worker processes (SO_REUSEPORT, ext_proc/workers.py). With many calls on one HTTP/2
# connection, that connection's process would serve them all (DESIGN §4). Envoy reuses idle
# connections, so this costs a connection per concurrent call, not one per call.
SERVICE_STREAMS_PER_CONNECTION = 1


def service_cluster(listen: str) -> Cluster:
    """Chaperone's gRPC service: HTTP/2, one static endpoint (loopback TCP or a unix socket)."""
    options = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions(max_concurrent_streams=SERVICE_STREAMS_PER_CONNECTION)
        )
    )
    return Cluster(
        name=SERVICE_CLUSTER,
        type=ClusterDiscoveryType.STATIC,
        connect_timeout=SERVICE_CONNECT_TIMEOUT,
        typed_extension_protocol_options={HTTP_PROTOCOL_OPTIONS: PackedMessage.pack(options)},
        load_assignment=_one_endpoint(SERVICE_CLUSTER, service_address(listen)),
    )


def upstream_cluster(upstream: UpstreamConfig) -> Cluster:
    """An IP address is a static endpoint; a host name is resolved (LOGICAL_DNS, as for a web API)."""
    scheme, host, port = upstream_origin(upstream)
    target = Address(socket_address=SocketAddress(address=host, port_value=port))
    if is_ip_address(host):
        cluster = Cluster(
            name=upstream.name,
            type=ClusterDiscoveryType.STATIC,
            connect_timeout=LOCAL_CONNECT_TIMEOUT,
            load_assignment=_one_endpoint(upstream.name, target),
        )
    else:
        cluster = Cluster(
            name=upstream.name,
            type=ClusterDiscoveryType.LOGICAL_DNS,
            # Pods often have no IPv6 route to the internet; Envoy's default would try IPv6 first.
            dns_lookup_family=ClusterDnsLookupFamily.V4_PREFERRED,
            connect_timeout=REMOTE_CONNECT_TIMEOUT,
            load_assignment=_one_endpoint(upstream.name, target),
        )
    if scheme == "https":
        cluster.transport_socket = _tls(host, upstream.ca_file)
    return cluster


def admin_cluster(admin_address: str) -> Cluster:
    return Cluster(
        name=ADMIN_CLUSTER,
        type=ClusterDiscoveryType.STATIC,
        connect_timeout=LOCAL_CONNECT_TIMEOUT,
        load_assignment=_one_endpoint(ADMIN_CLUSTER, address(admin_address)),
    )


def credential_secret(upstream: UpstreamConfig) -> Secret:
    """The upstream's credential, read from its file (a mounted Secret) when Envoy starts."""
    assert upstream.credential is not None
    return Secret(
        name=credential_secret_name(upstream.name),
        generic_secret=GenericSecret(secret=DataSource(filename=upstream.credential.file)),
    )


def _tls(host: str, ca_file: str) -> TransportSocket:
    # SNI and the certificate's name are both the upstream's host: without the name check, any
    # certificate from a trusted CA would be accepted.
    context = UpstreamTlsContext(
        sni="" if is_ip_address(host) else host,  # SNI names a host, never an address (RFC 6066 §3)
        common_tls_context=CommonTlsContext(
            validation_context=CertificateValidationContext(
                trusted_ca=DataSource(filename=ca_file),
                match_typed_subject_alt_names=[
                    SubjectAltNameMatcher(
                        san_type=SubjectAltNameMatcherSanType.DNS, matcher=StringMatcher(exact=host)
                    )
                ],
            )
        ),
    )
    return TransportSocket(name=TLS_TRANSPORT, typed_config=PackedMessage.pack(context))


def _one_endpoint(name: str, target: Address) -> ClusterLoadAssignment:
    return ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[LocalityLbEndpoints(lb_endpoints=[LbEndpoint(endpoint=Endpoint(address=target))])],
    )
