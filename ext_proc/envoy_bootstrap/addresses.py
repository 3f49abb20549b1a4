"""Chaperone's address strings (``host:port``, ``unix:/path``) as Envoy addresses."""

from __future__ import annotations

from envoy_data_plane.envoy.config.core.v3 import Address, Pipe, SocketAddress

from ext_proc.config import split_host_port


def address(text: str) -> Address:
    if text.startswith("unix:"):
        return Address(pipe=Pipe(path="/" + text.removeprefix("unix:").lstrip("/")))
    host, port = split_host_port(text)
    return Address(socket_address=SocketAddress(address=host, port_value=port))
