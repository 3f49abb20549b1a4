from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.security.hostile import HostileUpstream


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies and Envoy config, as `make run` starts them."""
    workdir = tmp_path_factory.mktemp("security-default")
    policies = copy_policies("default", workdir / "policies")
    yield from start_stack(workdir, policies, upstream)


@pytest.fixture(scope="session")
def hostile() -> Iterator[HostileUpstream]:
    """A scripted hostile upstream (tests.security.hostile)."""
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory, hostile: HostileUpstream) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies, in front of the hostile upstream."""
    workdir = tmp_path_factory.mktemp("guarded")
    yield from start_stack(workdir, copy_policies("default", workdir / "policies"), hostile)  # type: ignore[arg-type]
