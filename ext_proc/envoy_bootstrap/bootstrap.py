"""The whole Envoy bootstrap for a Chaperone configuration, and its YAML text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import betterproto2
import yaml
from envoy_data_plane.envoy.config.bootstrap.v3 import Admin, Bootstrap, BootstrapStaticResources
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.extensions.filters.http.ext_authz.v3 import ExtAuthz
from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import ExternalProcessor
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
)
from envoy_data_plane.message_pool import default_message_pool

from ext_proc.config import Config, UpstreamConfig, upstream_origin
from ext_proc.envoy_bootstrap import clusters, listeners, tls
from ext_proc.envoy_bootstrap.addresses import address

DEFAULT_ADMIN_ADDRESS = "127.0.0.1:9901"

# Fields written out even at their protobuf default, because whoever reads the file must see them:
# fail-closed is Envoy's default, but a security setting that is not written down gets "fixed".
EXPLICIT_DEFAULTS: dict[type[betterproto2.Message], tuple[str, ...]] = {
    ExtAuthz: ("failure_mode_allow",),
    ExternalProcessor: (
        "failure_mode_allow",
        "processing_mode.request_body_mode",
        "processing_mode.response_body_mode",
    ),
    HttpConnectionManager: ("codec_type", "forward_client_cert_details"),
}
# Envoy's node, which SDS subscriptions (listen_tls) require to be named.
NODE_NAME = "chaperone"
# Envoy's runtime: when an HTTP request is over, Envoy ends its ext_proc stream with a reset
# (RST_STREAM) unless told to half-close it and wait for the service's status (one second at most,
# then it resets). grpc.aio leaks the native memory of every batch that fails on a reset stream:
# the read the service is waiting in, the status it then sends (grpc/grpc#43360, unfixed in grpcio
# 1.85). Measured: ~14 MB more resident per 100,000 requests of the soak's mix, without end
# (README, "make soak"). With the graceful close the service's read ends cleanly and its status
# is the stream's last word.
RUNTIME = {
    "layers": [
        {
            "name": "chaperone",
            "static_layer": {"envoy.reloadable_features.ext_proc_graceful_grpc_close": True},
        }
    ]
}


class EnvoyConfigError(ValueError):
    """The configuration cannot be turned into an Envoy bootstrap; the message says why."""


@dataclass(frozen=True, slots=True)
class EnvoyOptions:
    admin_address: str = DEFAULT_ADMIN_ADDRESS
    # host:port of a listener that answers the kubelet's readiness probe with the admin's /ready.
    ready_address: str | None = None
    # Where Envoy reads the file-based SDS resources of listen_tls (source: files), which
    # `chaperone envoy-config` writes beside its output: their directory in Envoy's container.
    sds_directory: str = "/etc/envoy"


def build_bootstrap(config: Config, options: EnvoyOptions) -> Bootstrap:
    if not config.upstreams:
        raise EnvoyConfigError("the configuration lists no upstreams (the `upstreams` section)")
    if not options.sds_directory.startswith("/"):
        raise EnvoyConfigError(f"the SDS directory must be an absolute path, got {options.sds_directory!r}")
    upstream_listeners = [
        listeners.upstream_listener(
            upstream, config.inspection.max_body_bytes, check_body=config.policy.with_request_body
        )
        for upstream in config.upstreams
    ]
    for listener, upstream in zip(upstream_listeners, config.upstreams, strict=True):
        if upstream.listen_tls is not None:
            listener.filter_chains[0].transport_socket = tls.downstream_tls(upstream, options.sds_directory)
    all_clusters = [clusters.service_cluster(config.server.address)]
    all_clusters += [clusters.upstream_cluster(upstream) for upstream in config.upstreams]
    spire = tls.spire_cluster(config.upstreams)
    if spire is not None:
        all_clusters.append(spire)
    if options.ready_address is not None:
        upstream_listeners.append(listeners.readiness_listener(options.ready_address))
        all_clusters.append(clusters.admin_cluster(options.admin_address))
    secrets = [clusters.credential_secret(u) for u in config.upstreams if u.credential is not None]
    bootstrap = Bootstrap(
        admin=Admin(address=address(options.admin_address)),
        static_resources=BootstrapStaticResources(
            listeners=upstream_listeners, clusters=all_clusters, secrets=secrets
        ),
    )
    if any(u.listen_tls is not None for u in config.upstreams):
        bootstrap.node = Node(id=NODE_NAME, cluster=NODE_NAME)
    return bootstrap


def render_sds_files(config: Config) -> dict[str, str]:
    """The file-based SDS resources the bootstrap names (file name -> YAML), to write beside it."""
    return {
        name: yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
        for name, document in tls.sds_files(config.upstreams).items()
    }


def render_yaml(config: Config, options: EnvoyOptions, command: str) -> str:
    """The bootstrap as YAML, under a header that says how to write it again."""
    document = _with_explicit_defaults(
        build_bootstrap(config, options).to_dict(casing=betterproto2.Casing.SNAKE)
    )
    # Admin (and the node) first, as people read it; the rest in the protobuf's field order.
    first = {key: document.pop(key) for key in ("admin", "node") if key in document}
    ordered = {**first, **document, "layered_runtime": RUNTIME}
    return _header(config, command) + yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)


def _header(config: Config, command: str) -> str:
    lines = [
        "# Envoy in front of Chaperone's upstreams: one listener per upstream, each with the filter",
        "# chain ext_authz -> ext_proc -> router, both Chaperone filters fail-closed.",
        "#",
    ]
    for upstream in config.upstreams:
        scheme, host, port = upstream_origin(upstream)
        tls = ", TLS with SNI" if scheme == "https" else ""
        credential = ", credential injected" if upstream.credential is not None else ""
        listen = _listen_tls_summary(upstream)
        protocol = f", {upstream.protocol}" if upstream.protocol is not None else ""
        lines.append(
            f"#   {upstream.listen}{listen} -> {scheme}://{host}:{port} "
            f"({upstream.name}{protocol}{tls}{credential})"
        )
        lines += [f"#     {route.prefix}: {route.protocol}" for route in upstream.routes]
    lines += [
        f"#   Chaperone's gRPC service: {config.server.address}",
        "#",
        "# Do not edit: change the configuration and run again:",
        f"#   {command}",
    ]
    return "\n".join(lines) + "\n"


def _listen_tls_summary(upstream: UpstreamConfig) -> str:
    listen_tls = upstream.listen_tls
    if listen_tls is None:
        return ""
    if not listen_tls.verifies_clients:
        return f" (TLS from {listen_tls.source})"
    required = "required" if listen_tls.require_client_certificate else "optional"
    domains = ", ".join(listen_tls.trust_domains) or "any name"
    return f" (mTLS from {listen_tls.source}: client certificates {required}, {domains})"


def _with_explicit_defaults(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_explicit_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _with_explicit_defaults(value) for key, value in node.items()}
    message_type = default_message_pool.url_to_type.get(result.get("@type", ""))
    if message_type is not None:
        for dotted in EXPLICIT_DEFAULTS.get(message_type, ()):
            _set_default(result, message_type, dotted.split("."))
    return result


def _set_default(target: dict[str, Any], message_type: type[betterproto2.Message], path: list[str]) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
        message_type = _field_type(message_type, part)
    value = getattr(message_type(), path[-1])
    target.setdefault(path[-1], value.name if isinstance(value, betterproto2.Enum) else value)


def _field_type(message_type: type[betterproto2.Message], field: str) -> type[betterproto2.Message]:
    field_type: type[betterproto2.Message] = message_type._betterproto.cls_by_field[field]  # type: ignore[arg-type]
    return field_type
