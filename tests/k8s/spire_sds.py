"""A stand-in for the SPIRE agent's SDS API on its Workload API socket, for the pod tests.

SPIRE is a Go program that is not packaged where the tests run (no Debian package, and only
PyPI, Debian and npm are reachable), so this serves what its agent serves to Envoy (SPIRE's
pkg/agent/endpoints/sdsv3: Envoy's SecretDiscoveryService over gRPC on a unix socket): the
workload's X509-SVID as a TLS certificate named by its SPIFFE ID and by ``default`` (SPIRE's
default_svid_name), and the trust bundle as a validation context named by the trust domain's
SPIFFE ID (``spiffe://cluster.local``) or ``ALL``, holding Envoy's SPIFFE validator with the
bundle, as SPIRE sends to Envoy 1.18 and later. Names it cannot serve are an InvalidArgument
error, as SPIRE answers. The SVID and bundle are PEM files in a directory (svid.pem, svid.key,
bundle.pem); when they change, every open stream gets the new version, as SPIRE pushes a
renewed SVID.

    python -m tests.k8s.spire_sds --socket PATH --svid-dir DIR --trust-domain cluster.local
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from cryptography import x509
from envoy.config.core.v3 import base_pb2, extension_pb2
from envoy.extensions.transport_sockets.tls.v3 import (
    common_pb2,
    secret_pb2,
    tls_spiffe_validator_config_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc
from google.protobuf import any_pb2

DEFAULT_SVID_NAME = "default"
ALL_BUNDLES_NAME = "ALL"
SPIFFE_VALIDATOR = "envoy.tls.cert_validator.spiffe"
POLL_SECONDS = 0.2


class Identity:
    """The SVID and bundle files, read again when they change; ``version`` counts the changes."""

    def __init__(self, directory: Path, trust_domain: str) -> None:
        self.directory, self.trust_domain = directory, trust_domain
        self.version = 0
        self.changed = asyncio.Condition()
        self._stamp: tuple[float, ...] = ()
        self.load()

    def load(self) -> bool:
        files = [self.directory / name for name in ("svid.pem", "svid.key", "bundle.pem")]
        stamp = tuple(f.stat().st_mtime_ns for f in files)
        if stamp == self._stamp:
            return False
        self.chain, self.key, self.bundle = (f.read_bytes() for f in files)
        uris = x509.load_pem_x509_certificate(self.chain).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        (self.spiffe_id,) = uris.value.get_values_for_type(x509.UniformResourceIdentifier)
        self._stamp = stamp
        self.version += 1
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            with contextlib.suppress(OSError, ValueError):
                if self.load():
                    async with self.changed:
                        self.changed.notify_all()

    def resources(self, names: list[str]) -> list[any_pb2.Any]:
        """SPIRE's buildResponse: the named secrets (every one when none is named)."""
        domain_id = f"spiffe://{self.trust_domain}"
        wanted = set(names) or {domain_id, self.spiffe_id}
        secrets = []
        for name in sorted(wanted):
            if name in (domain_id, ALL_BUNDLES_NAME):
                secrets.append(self._validation(name))
            elif name in (self.spiffe_id, DEFAULT_SVID_NAME):
                secrets.append(self._certificate(name))
            else:
                raise LookupError(name)
        return [_pack(secret) for secret in secrets]

    def _certificate(self, name: str) -> secret_pb2.Secret:
        return secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=self.chain),
                private_key=base_pb2.DataSource(inline_bytes=self.key),
            ),
        )

    def _validation(self, name: str) -> secret_pb2.Secret:
        validator = tls_spiffe_validator_config_pb2.SPIFFECertValidatorConfig(
            trust_domains=[
                tls_spiffe_validator_config_pb2.SPIFFECertValidatorConfig.TrustDomain(
                    name=self.trust_domain, trust_bundle=base_pb2.DataSource(inline_bytes=self.bundle)
                )
            ]
        )
        return secret_pb2.Secret(
            name=name,
            validation_context=common_pb2.CertificateValidationContext(
                custom_validator_config=extension_pb2.TypedExtensionConfig(
                    name=SPIFFE_VALIDATOR, typed_config=_pack(validator)
                )
            ),
        )


class SecretDiscovery(sds_pb2_grpc.SecretDiscoveryServiceServicer):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.nonces = itertools.count(1)

    async def StreamSecrets(  # noqa: N802 (the gRPC method's name)
        self, requests: AsyncIterator[discovery_pb2.DiscoveryRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        queue: asyncio.Queue[discovery_pb2.DiscoveryRequest | None] = asyncio.Queue()
        reader = asyncio.create_task(_read_into(requests, queue))
        names: list[str] | None = None
        type_url, sent_version = "", -1
        try:
            while True:
                request_task = asyncio.create_task(queue.get())
                change_task = asyncio.create_task(self._next_change(sent_version))
                done, pending = await asyncio.wait(
                    {request_task, change_task}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                if request_task in done:
                    request = request_task.result()
                    if request is None:
                        return
                    if names is not None and sorted(request.resource_names) == sorted(names):
                        continue  # an ACK or NACK of what was sent: nothing new to send
                    names, type_url = list(request.resource_names), request.type_url
                if names is None:
                    continue
                sent_version = self.identity.version
                yield await self._response(names, type_url, context)
        finally:
            reader.cancel()

    async def FetchSecrets(  # noqa: N802 (the gRPC method's name)
        self, request: discovery_pb2.DiscoveryRequest, context: grpc.aio.ServicerContext
    ) -> discovery_pb2.DiscoveryResponse:
        return await self._response(list(request.resource_names), request.type_url, context)

    async def _next_change(self, seen: int) -> None:
        async with self.identity.changed:
            await self.identity.changed.wait_for(lambda: self.identity.version != seen)

    async def _response(
        self, names: list[str], type_url: str, context: grpc.aio.ServicerContext
    ) -> discovery_pb2.DiscoveryResponse:
        try:
            resources = self.identity.resources(names)
        except LookupError as missing:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"workload is not authorized for the requested identities [{missing.args[0]!r}]",
            )
        return discovery_pb2.DiscoveryResponse(
            version_info=str(self.identity.version),
            resources=resources,
            type_url=type_url,
            nonce=str(next(self.nonces)),
        )


async def _read_into(
    requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
    queue: asyncio.Queue[discovery_pb2.DiscoveryRequest | None],
) -> None:
    try:
        async for request in requests:
            await queue.put(request)
    finally:
        await queue.put(None)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


async def serve(socket: Path, identity: Identity) -> None:
    server = grpc.aio.server()
    sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(SecretDiscovery(identity), server)
    socket.unlink(missing_ok=True)
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    watcher = asyncio.create_task(identity.watch())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    watcher.cancel()
    await server.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--svid-dir", required=True, type=Path)
    parser.add_argument("--trust-domain", required=True)
    args = parser.parse_args()

    async def run() -> None:
        await serve(args.socket, Identity(args.svid_dir, args.trust_domain))

    asyncio.run(run())


if __name__ == "__main__":
    main()
