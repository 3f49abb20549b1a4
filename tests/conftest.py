from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from ext_proc.logs import configure_logging
from tests.harness import EnvoyProcess, ServiceProcess, Stack, UpstreamServer, tail
from tests.redis_server import RedisServer
from tests.upstream_app import Gates, test_upstream_app

# regorus renders a Rust backtrace into error messages when this is set (the service unsets it too).
os.environ.pop("RUST_BACKTRACE", None)
configure_logging("debug")

# Speed is measured in benchmarks, never asserted in tests: hypothesis' per-example deadline is a
# timer, and on a loaded machine it failed examples that were only slow.
settings.register_profile("chaperone", deadline=None)
settings.load_profile("chaperone")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, attach the logs of the processes the test used (and only then)."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            processes: list[Any] = []
            if isinstance(value, Stack):
                processes = [value.service, value.envoy]
            elif isinstance(value, ServiceProcess | EnvoyProcess):
                processes = [value]
            for process in processes:
                report.sections.append((f"log {process.log_path.name}", tail(process.log_path)))
    return report


@pytest.fixture(scope="session")
def gates() -> Gates:
    return Gates()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session; tests that share it use their own key prefixes or flush."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def upstream(gates: Gates) -> Iterator[UpstreamServer]:
    server = UpstreamServer(test_upstream_app(gates)).start()
    yield server
    server.stop()
