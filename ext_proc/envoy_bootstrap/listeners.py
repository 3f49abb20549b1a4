"""Envoy listeners: one per upstream (the address the agent calls), and an optional readiness one."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpConnectionManagerCodecType,
    HttpConnectionManagerPathWithEscapedSlashesAction,
    HttpFilter,
)
from envoy_data_plane.google.protobuf import Any as PackedMessage

from ext_proc.config import CheckBodyConfig, UpstreamConfig, is_ip_address, upstream_origin
from ext_proc.envoy_bootstrap import filters
from ext_proc.envoy_bootstrap.addresses import address
from ext_proc.envoy_bootstrap.clusters import ADMIN_CLUSTER

HCM = "envoy.filters.network.http_connection_manager"
READY_LISTENER = "readiness"
READY_PATH = "/ready"
# Nothing moves on the stream of a call held for a person's approval: Envoy's stream idle timeout
# (5 minutes unless set) would end it with 504 before the hold does. It outlasts the longest
# ext_proc message deadline, so a held call ends by Chaperone's answer or that deadline.
STREAM_IDLE_TIMEOUT = filters.MAX_HOLD + timedelta(seconds=30)
# Headers through which proxies tell a server about the client's certificate: Envoy's own
# (x-forwarded-client-cert, which the connection manager also sanitizes), RFC 9440's, and the
# common load balancers' and web servers'. A server behind Chaperone may trust one of them, and
# the client can write any of them: none reaches the upstream.
CLIENT_CERTIFICATE_HEADERS = [
    "x-forwarded-client-cert",
    "client-cert",
    "client-cert-chain",
    "ssl-client-cert",
    "x-ssl-client-cert",
    "x-client-cert",
    "x-client-certificate",
    "x-ssl-client-verify",
    "x-ssl-client-s-dn",
    "x-ssl-client-i-dn",
    "x-client-verify",
    "x-client-dn",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-amzn-mtls-clientcert",
    "x-amzn-mtls-clientcert-leaf",
    "x-client-cert-present",
    "x-client-cert-chain-verified",
    "x-client-cert-spiffe",
    "x-client-cert-uri-san",
    "x-client-cert-dnsname-san",
    "x-client-cert-hash",
    "cf-client-cert-der-base64",
    "cf-client-cert-sha256",
]


def upstream_listener(
    upstream: UpstreamConfig, buffer_limit_bytes: int, check_body: CheckBodyConfig | None = None
) -> Listener:
    """The agent's side of one upstream: every request is decided by Chaperone, then forwarded."""
    chain = [filters.ext_authz(check_body), filters.ext_proc()]
    if upstream.credential is not None:
        chain.append(filters.credential_injector(upstream.name, upstream.credential))
    chain.append(filters.router())
    hcm = _hcm(upstream.name, _upstream_routes(upstream, check_body is not None), chain)
    # Normalize paths before the policy sees them, and refuse encoded slashes, so that
    # "/v1/..%2F..%2Fadmin" cannot pass for a path under "/v1/".
    hcm.normalize_path = True
    hcm.merge_slashes = True
    hcm.path_with_escaped_slashes_action = HttpConnectionManagerPathWithEscapedSlashesAction.REJECT_REQUEST
    hcm.stream_idle_timeout = STREAM_IDLE_TIMEOUT
    return Listener(
        name=upstream.name,
        address=address(upstream.listen),
        # Also the limit of bodies that ext_proc buffers: a larger one is refused with 413.
        per_connection_buffer_limit_bytes=buffer_limit_bytes,
        filter_chains=[FilterChain(filters=[Filter(name=HCM, typed_config=PackedMessage.pack(hcm))])],
    )


def readiness_listener(listen: str) -> Listener:
    """Only ``GET /ready`` of the admin interface, for the kubelet; the admin itself stays on loopback."""
    routes = RouteConfiguration(
        name=READY_LISTENER,
        virtual_hosts=[
            VirtualHost(
                name=READY_LISTENER,
                domains=["*"],
                routes=[
                    Route(match=RouteMatch(path=READY_PATH), route=RouteAction(cluster=ADMIN_CLUSTER)),
                    Route(match=RouteMatch(prefix="/"), direct_response=DirectResponseAction(status=404)),
                ],
            )
        ],
    )
    hcm = _hcm(READY_LISTENER, routes, [filters.router()])
    return Listener(
        name=READY_LISTENER,
        address=address(listen),
        filter_chains=[FilterChain(filters=[Filter(name=HCM, typed_config=PackedMessage.pack(hcm))])],
    )


def _upstream_routes(upstream: UpstreamConfig, check_reads_body: bool) -> RouteConfiguration:
    """One route per declared path prefix (longest first, each at a segment boundary), then the
    rest of the upstream; each tells the policy the upstream and the protocol it declares."""
    _, host, _ = upstream_origin(upstream)
    action = RouteAction(cluster=upstream.name, timeout=timedelta(seconds=upstream.timeout_seconds))
    if not is_ip_address(host):
        action.host_rewrite_literal = host  # the agent wrote Host: 127.0.0.1:<port>
    routes = [
        Route(
            match=RouteMatch(path_separated_prefix=route.prefix),
            route=action,
            typed_per_filter_config=filters.upstream_context(
                upstream.name, route.protocol, route.filters, check_reads_body
            ),
        )
        for route in sorted(upstream.routes, key=lambda route: len(route.prefix), reverse=True)
    ]
    routes.append(
        Route(
            match=RouteMatch(prefix="/"),
            route=action,
            typed_per_filter_config=filters.upstream_context(
                upstream.name, upstream.protocol, upstream.filters, check_reads_body
            ),
        )
    )
    return RouteConfiguration(
        name=upstream.name,
        virtual_hosts=[VirtualHost(name=upstream.name, domains=["*"], routes=routes)],
        request_headers_to_remove=CLIENT_CERTIFICATE_HEADERS,
    )


def _hcm(stat_prefix: str, routes: RouteConfiguration, chain: list[HttpFilter]) -> HttpConnectionManager:
    return HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=HttpConnectionManagerCodecType.AUTO,
        route_config=routes,
        http_filters=chain,
    )
