from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

GrpcRegistrar = Callable[[Any, Any], None]


@pytest.fixture
async def grpc_channel_for() -> AsyncIterator[Callable[[GrpcRegistrar, Any], Any]]:
    """Serve a servicer on a real grpc.aio server (as the service does) and return a channel to it.

    pytest-grpc only drives the synchronous grpc.server, so these servicer tests start the same
    kind of server the service runs, on a free port of the test's own event loop.
    """
    servers: list[Any] = []
    channels: list[Any] = []

    async def start(add_to_server: GrpcRegistrar, servicer: Any) -> Any:
        server = grpc.aio.server()
        add_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        return channel

    yield start
    for channel in channels:
        await channel.close()
    for server in servers:
        await server.stop(None)
