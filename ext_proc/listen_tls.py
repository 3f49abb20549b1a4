"""``upstreams[].listen_tls``: TLS, and client certificates, on the listener in front of an upstream.

Read by `chaperone envoy-config`, not by `serve`: Envoy terminates TLS and reports the peer
certificate's SPIFFE ID to Chaperone (``identity.spiffe`` maps it to an agent).

Two sources of certificates, both rotated without a restart:
- ``files``: PEM files (a Secret, cert-manager's CSI driver, any volume). Envoy reads them
  through file-based SDS and reads them again when their directory changes, as the kubelet's
  atomic ``..data`` swap changes it.
- ``spire``: the SPIRE agent's SDS API on its Workload API socket; the agent pushes the
  workload's X509-SVID and the trust bundles, and their renewals.

Client certificates are checked by Envoy's SPIFFE validator when trust domains are named: the
chain must lead to that domain's bundle and the certificate carry exactly one SPIFFE ID of an
accepted domain. Checks that span keys run in ``__post_init__``, so msgspec reports them at
the block's path (``config error at upstreams[0].listen_tls: ...``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ext_proc.identity.spiffe import valid_trust_domain

# Where SPIRE's documentation mounts the Workload API in a pod (the SPIFFE CSI driver's volume).
DEFAULT_SPIRE_SOCKET = "/spiffe-workload-api/spire-agent.sock"
# The SDS name of the workload's first X509-SVID in SPIRE's agent (its default_svid_name).
DEFAULT_SPIRE_SVID_NAME = "default"


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class SpireSdsConfig(_Section, frozen=True):
    # The SPIRE agent's socket as the Envoy container sees it.
    socket: str = DEFAULT_SPIRE_SOCKET
    # The SDS resource name of the listener's certificate: SPIRE's default_svid_name, or the
    # workload's SPIFFE ID when it has several.
    svid_name: str = DEFAULT_SPIRE_SVID_NAME

    def __post_init__(self) -> None:
        if not self.socket.startswith("/"):
            raise ValueError(f"spire.socket: expected an absolute path, got {self.socket!r}")
        if not self.svid_name:
            raise ValueError("spire.svid_name: the name is empty")


class ListenTlsConfig(_Section, frozen=True):
    source: Literal["files", "spire"] = "files"
    # files: the listener's certificate chain and key (PEM).
    certificate_file: str | None = None
    private_key_file: str | None = None
    # files: the CA certificates (PEM) that client certificates must chain to.
    client_ca_file: str | None = None
    # Refuse a TLS handshake without a valid client certificate. With false, a client may come
    # without one (and prove who it is otherwise, an API key), but a certificate it presents
    # is checked all the same.
    require_client_certificate: bool = True
    # The SPIFFE trust domains whose workload certificates the listener accepts; empty (files
    # only): any certificate that chains to client_ca_file.
    trust_domains: tuple[str, ...] = ()
    spire: SpireSdsConfig = msgspec.field(default_factory=SpireSdsConfig)

    @property
    def verifies_clients(self) -> bool:
        return self.source == "spire" or self.client_ca_file is not None

    def __post_init__(self) -> None:
        for domain in self.trust_domains:
            if not valid_trust_domain(domain):
                raise ValueError(
                    f"trust_domains: expected lower-case letters, digits, '.', '-', '_', got {domain!r}"
                )
        if len(set(self.trust_domains)) != len(self.trust_domains):
            raise ValueError("trust_domains: a trust domain is listed twice")
        if self.source == "files":
            self._check_files()
        else:
            self._check_spire()

    def _check_files(self) -> None:
        if not self.certificate_file or not self.private_key_file:
            raise ValueError("certificate_file and private_key_file are required with source: files")
        if self.client_ca_file is None and (self.require_client_certificate or self.trust_domains):
            raise ValueError(
                "client_ca_file is required to check client certificates (or set "
                "require_client_certificate: false and no trust_domains for server-only TLS)"
            )

    def _check_spire(self) -> None:
        named = [k for k in ("certificate_file", "private_key_file", "client_ca_file") if getattr(self, k)]
        if named:
            raise ValueError(f"{', '.join(named)}: with source: spire, the SPIRE agent provides them")
        if not self.trust_domains:
            raise ValueError("trust_domains: name at least one trust domain with source: spire")
