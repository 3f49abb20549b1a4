from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies and Envoy config, as `make run` starts them."""
    workdir = tmp_path_factory.mktemp("security-default")
    policies = copy_policies("default", workdir / "policies")
    yield from start_stack(workdir, policies, upstream)
