"""The shared-state client: real Redis answers; an unreachable one is a stable error, not a hang."""

from __future__ import annotations

import pytest

from ext_proc.config import StateConfig
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.state.redis_client import call, connect
from tests.harness import free_port
from tests.redis_server import RedisServer


async def test_commands_reach_a_real_redis(redis_server: RedisServer) -> None:
    client = connect(StateConfig(redis_url=redis_server.url))
    try:
        assert await call(client.set("chaperone:test", b"1"), "set") is True
        assert await call(client.get("chaperone:test"), "get") == b"1"
    finally:
        await client.aclose()


async def test_an_unreachable_redis_is_state_unavailable() -> None:
    client = connect(StateConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_ms=50))
    try:
        with pytest.raises(ChaperoneError) as error:
            await call(client.get("k"), "get")
        assert error.value.code is ErrorCode.STATE_UNAVAILABLE
    finally:
        await client.aclose()
