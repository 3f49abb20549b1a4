"""Hot reload under faults: a policy directory deleted, broken, then restored."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import orjson

from ext_proc.logs import configure_logging
from ext_proc.policy.bundle import load_bundle
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.policy.reloader import PolicyReloader

ROOT = Path(__file__).parents[2]


def test_a_deleted_directory_keeps_the_last_good_set_but_is_an_error_until_it_is_back(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", directory)
    engine = RegorusEngine(load_bundle(directory), "envoy/authz/allow")
    revision = engine.revision
    reloader = PolicyReloader(engine, directory, 1.0)
    stream = io.BytesIO()
    configure_logging("info", "json", stream=stream)
    try:
        shutil.rmtree(directory)
        for _ in range(3):
            assert reloader.poll_once() is False
        assert engine.revision == revision, "the last good set keeps answering"
        assert reloader.status.last_error is not None and "policies" in reloader.status.last_error
        assert reloader.status.failures == 1, "counted and logged once, not once per poll"
        shutil.copytree(ROOT / "policies", directory)
        assert reloader.poll_once() is False  # the same set again: nothing to swap
        assert reloader.status.last_error is None
        (directory / "authz.rego").write_text("package envoy.authz\n\nallow := {\n")
        reloader.poll_once()
        assert reloader.status.last_error is not None and reloader.status.failures == 2
    finally:
        configure_logging("debug")
    events = [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["policy_directory_unreadable", "policy_error_cleared", "policy_reload_failed"]
