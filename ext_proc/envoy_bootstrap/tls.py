"""TLS on an upstream's listener (``listen_tls``): the certificate, client certificates, SPIFFE.

Certificates always reach Envoy through SDS, so that they rotate without a restart:
- ``files``: file-based SDS. Each secret is a small resource file (written beside the Envoy
  config by `chaperone envoy-config`) naming the PEM files; Envoy watches the directory that
  holds the PEM files and reads them again when it changes, as the kubelet's atomic ``..data``
  swap of a Secret or CSI volume changes it. (Secrets in the bootstrap's static_resources are
  read once: Envoy 1.40 does not watch them.)
- ``spire``: SDS over gRPC to the SPIRE agent's socket, SPIRE's own integration with Envoy: the
  certificate is the workload's X509-SVID (SPIRE's ``default_svid_name``, or its SPIFFE ID),
  the validation context is the trust domain's bundle (``spiffe://<domain>``), or every bundle
  the agent has, federated ones included (``ALL``), each with Envoy's SPIFFE validator.

Client certificates of named trust domains are checked by Envoy's SPIFFE validator
(envoy.tls.cert_validator.spiffe: the chain leads to the domain's own bundle, one URI SAN, a
leaf that is not a CA), and the accepted domains are also pinned with URI SAN matchers, so
that a bundle that holds more domains (``ALL``) admits only the named ones. Envoy reports the
SPIFFE ID to Chaperone as the peer principal (``attributes.source.principal``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

import betterproto2
from envoy_data_plane.envoy.config.cluster.v3 import Cluster, ClusterDiscoveryType
from envoy_data_plane.envoy.config.core.v3 import (
    ApiConfigSource,
    ApiConfigSourceApiType,
    ApiVersion,
    ConfigSource,
    DataSource,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    Http2ProtocolOptions,
    PathConfigSource,
    TransportSocket,
    TypedExtensionConfig,
    WatchedDirectory,
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
    CommonTlsContextCombinedCertificateValidationContext,
    DownstreamTlsContext,
    SdsSecretConfig,
    Secret,
    SpiffeCertValidatorConfig,
    SpiffeCertValidatorConfigTrustDomain,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    TlsCertificate,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any as PackedMessage

from ext_proc.config import UpstreamConfig
from ext_proc.envoy_bootstrap.addresses import address
from ext_proc.listen_tls import ListenTlsConfig

TLS_TRANSPORT = "envoy.transport_sockets.tls"
SPIFFE_VALIDATOR = "envoy.tls.cert_validator.spiffe"
SPIRE_CLUSTER = "spire_agent"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# SPIRE's default_all_bundles_name: the agent's own bundle and every federated one.
SPIRE_ALL_BUNDLES = "ALL"
SPIRE_CONNECT_TIMEOUT = timedelta(seconds=1)
SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def certificate_secret_name(upstream_name: str) -> str:
    return f"{upstream_name}_listen_certificate"


def validation_secret_name(upstream_name: str) -> str:
    return f"{upstream_name}_client_validation"


def downstream_tls(upstream: UpstreamConfig, sds_directory: str) -> TransportSocket:
    """The listener's TLS transport socket: its certificate and the check of clients' ones."""
    tls = upstream.listen_tls
    assert tls is not None
    common = CommonTlsContext(
        tls_certificate_sds_secret_configs=[_certificate_sds(upstream.name, tls, sds_directory)]
    )
    if tls.verifies_clients:
        common.combined_validation_context = CommonTlsContextCombinedCertificateValidationContext(
            default_validation_context=CertificateValidationContext(
                match_typed_subject_alt_names=_trust_domain_matchers(tls.trust_domains)
            ),
            validation_context_sds_secret_config=_validation_sds(upstream.name, tls, sds_directory),
        )
    context = DownstreamTlsContext(
        common_tls_context=common, require_client_certificate=tls.require_client_certificate
    )
    return TransportSocket(name=TLS_TRANSPORT, typed_config=PackedMessage.pack(context))


def sds_files(upstreams: tuple[UpstreamConfig, ...]) -> dict[str, dict[str, Any]]:
    """The file-based SDS resources of the ``files`` listeners: file name -> document."""
    files: dict[str, dict[str, Any]] = {}
    for upstream in upstreams:
        tls = upstream.listen_tls
        if tls is None or tls.source != "files":
            continue
        assert tls.certificate_file is not None and tls.private_key_file is not None
        certificate = Secret(
            name=certificate_secret_name(upstream.name),
            tls_certificate=TlsCertificate(
                certificate_chain=DataSource(filename=tls.certificate_file),
                private_key=DataSource(filename=tls.private_key_file),
                watched_directory=_watched(tls.certificate_file),
            ),
        )
        files[_sds_file_name(certificate.name)] = _discovery_document(certificate)
        if tls.client_ca_file is not None:
            validation = Secret(
                name=validation_secret_name(upstream.name),
                validation_context=_file_validation(tls.client_ca_file, tls.trust_domains),
            )
            files[_sds_file_name(validation.name)] = _discovery_document(validation)
    return files


def spire_cluster(upstreams: tuple[UpstreamConfig, ...]) -> Cluster | None:
    """The SPIRE agent's socket, an HTTP/2 cluster for SDS; None when no listener uses SPIRE."""
    sockets = {
        u.listen_tls.spire.socket for u in upstreams if u.listen_tls and u.listen_tls.source == "spire"
    }
    if not sockets:
        return None
    (socket,) = sockets  # one per pod (checked when the config loads)
    options = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions()
        )
    )
    return Cluster(
        name=SPIRE_CLUSTER,
        type=ClusterDiscoveryType.STATIC,
        connect_timeout=SPIRE_CONNECT_TIMEOUT,
        typed_extension_protocol_options={HTTP_PROTOCOL_OPTIONS: PackedMessage.pack(options)},
        load_assignment=ClusterLoadAssignment(
            cluster_name=SPIRE_CLUSTER,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[LbEndpoint(endpoint=Endpoint(address=address(f"unix:{socket}")))]
                )
            ],
        ),
    )


def _certificate_sds(name: str, tls: ListenTlsConfig, sds_directory: str) -> SdsSecretConfig:
    if tls.source == "spire":
        return SdsSecretConfig(name=tls.spire.svid_name, sds_config=_spire_source())
    secret = certificate_secret_name(name)
    return SdsSecretConfig(name=secret, sds_config=_file_source(sds_directory, secret))


def _validation_sds(name: str, tls: ListenTlsConfig, sds_directory: str) -> SdsSecretConfig:
    if tls.source == "spire":
        # One domain: its bundle by its SPIFFE ID; several: every bundle, pinned by the matchers.
        domains = tls.trust_domains
        resource = f"spiffe://{domains[0]}" if len(domains) == 1 else SPIRE_ALL_BUNDLES
        return SdsSecretConfig(name=resource, sds_config=_spire_source())
    secret = validation_secret_name(name)
    return SdsSecretConfig(name=secret, sds_config=_file_source(sds_directory, secret))


def _file_validation(ca_file: str, trust_domains: tuple[str, ...]) -> CertificateValidationContext:
    """Named trust domains: the SPIFFE validator with the CA file as each domain's bundle; none:
    any certificate that chains to the CA file."""
    watched = _watched(ca_file)
    if not trust_domains:
        return CertificateValidationContext(
            trusted_ca=DataSource(filename=ca_file), watched_directory=watched
        )
    validator = SpiffeCertValidatorConfig(
        trust_domains=[
            SpiffeCertValidatorConfigTrustDomain(name=domain, trust_bundle=DataSource(filename=ca_file))
            for domain in trust_domains
        ]
    )
    return CertificateValidationContext(
        custom_validator_config=TypedExtensionConfig(
            name=SPIFFE_VALIDATOR, typed_config=PackedMessage.pack(validator)
        ),
        watched_directory=watched,
    )


def _trust_domain_matchers(trust_domains: tuple[str, ...]) -> list[SubjectAltNameMatcher]:
    # A SPIFFE ID is spiffe://<trust domain>/<path>: the prefix names the domain exactly.
    return [
        SubjectAltNameMatcher(
            san_type=SubjectAltNameMatcherSanType.URI, matcher=StringMatcher(prefix=f"spiffe://{d}/")
        )
        for d in trust_domains
    ]


def _watched(path: str) -> WatchedDirectory:
    # The directory the file is in: the kubelet swaps its ..data link there on each update.
    return WatchedDirectory(path=str(PurePosixPath(path).parent))


def _spire_source() -> ConfigSource:
    return ConfigSource(
        resource_api_version=ApiVersion.V3,
        api_config_source=ApiConfigSource(
            api_type=ApiConfigSourceApiType.GRPC,
            transport_api_version=ApiVersion.V3,
            grpc_services=[GrpcService(envoy_grpc=GrpcServiceEnvoyGrpc(cluster_name=SPIRE_CLUSTER))],
        ),
    )


def _file_source(sds_directory: str, secret: str) -> ConfigSource:
    path = PurePosixPath(sds_directory) / _sds_file_name(secret)
    # The resource file itself is watched too: a ConfigMap update of it takes effect.
    return ConfigSource(
        resource_api_version=ApiVersion.V3,
        path_config_source=PathConfigSource(
            path=str(path), watched_directory=WatchedDirectory(path=sds_directory)
        ),
    )


def _sds_file_name(secret: str) -> str:
    return f"{secret}.sds.yaml"


def _discovery_document(secret: Secret) -> dict[str, Any]:
    resource = {"@type": SECRET_TYPE_URL, **secret.to_dict(casing=betterproto2.Casing.SNAKE)}
    return {"resources": [resource]}
