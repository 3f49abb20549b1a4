"""Chaperone's address strings (``host:port``, ``unix:/path``) as Envoy addresses."""

from __future__ import annotations

from envoy_data_plane.envoy.config.core.v3 import Address, Pipe, SocketAddress

from ext_proc.config import split_host_port

# A service listening on every interface is reached by Envoy, in the same pod, over loopback.
WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def address(text: str) -> Address:
    if text.startswith("unix:"):
        return Address(pipe=Pipe(path="/" + text.removeprefix("unix:").lstrip("/")))
    host, port = split_host_port(text)
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def service_address(text: str) -> Address:
    """Where Envoy reaches Chaperone's ``server.address``."""
    target = address(text)
    if target.socket_address is not None:
        host = target.socket_address.address
        target.socket_address.address = WILDCARD_TO_LOOPBACK.get(host, host)
    return target
