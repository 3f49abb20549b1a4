"""Approvals and sessions are built from the configuration: memory by default, Redis when set."""

from __future__ import annotations

import pytest

from ext_proc.approvals import build_approvals
from ext_proc.approvals.memory_store import MemoryApprovalStore
from ext_proc.approvals.redis_store import RedisApprovalStore
from ext_proc.approvals.webhook import NullNotifier, WebhookNotifier
from ext_proc.config import ConfigError, load_config
from ext_proc.sessions import MemorySessionTracker, RedisSessionTracker, build_session_tracker
from ext_proc.state.redis_client import connect
from tests.redis_server import RedisServer


async def test_defaults_keep_state_in_memory() -> None:
    config = load_config(None, {})
    approvals = build_approvals(config)
    assert isinstance(approvals.store, MemoryApprovalStore) and isinstance(approvals.notifier, NullNotifier)
    assert approvals.gate.mode.value == "hold" and approvals.gate.hold_seconds == 120
    assert isinstance(build_session_tracker(config), MemorySessionTracker)
    await approvals.close()


async def test_a_redis_url_shares_the_state(redis_server: RedisServer) -> None:
    environ = {
        "CHAPERONE_STATE__REDIS_URL": redis_server.url,
        "CHAPERONE_APPROVALS__MODE": "retry",
        "CHAPERONE_APPROVALS__WEBHOOK_URL": "https://hooks.example/approvals",
        "CHAPERONE_SESSIONS__HISTORY": "50",
    }
    config = load_config(None, environ)
    client = connect(config.state)
    try:
        approvals = build_approvals(config, client)
        assert isinstance(approvals.store, RedisApprovalStore)
        assert isinstance(approvals.notifier, WebhookNotifier) and approvals.gate.mode.value == "retry"
        tracker = build_session_tracker(config, client)
        assert isinstance(tracker, RedisSessionTracker) and tracker.settings.history == 50
        with pytest.raises(ValueError, match="Redis client"):
            build_approvals(config)
        with pytest.raises(ValueError, match="Redis client"):
            build_session_tracker(config)
        await approvals.close()
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CHAPERONE_APPROVALS__MODE", "ask", "approvals.mode"),
        ("CHAPERONE_APPROVALS__HOLD_SECONDS", "0", "approvals.hold_seconds"),
        ("CHAPERONE_APPROVALS__WEBHOOK_URL", "ftp://x", "approvals.webhook_url"),
        ("CHAPERONE_SESSIONS__HISTORY", "0", "sessions.history"),
        ("CHAPERONE_SESSIONS__IDLE", "5", "sessions.idle"),
    ],
)
def test_bad_settings_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(None, {key: value})
