from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Stack, UpstreamServer, copy_policies, start_stack

pytestmark = pytest.mark.envoy


@pytest.fixture(scope="module")
def rewrite_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    """Envoy + Chaperone with the test policy that exercises every decision field and phase."""
    workdir = tmp_path_factory.mktemp("rewrite")
    policies = copy_policies("rewrite", workdir / "policies")
    yield from start_stack(workdir, policies, upstream)


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    """Envoy + Chaperone with the shipped default policies, as `make run` starts them."""
    workdir = tmp_path_factory.mktemp("default")
    policies = copy_policies("default", workdir / "policies")
    yield from start_stack(workdir, policies, upstream)


def policy_dir(stack: Stack) -> Path:
    return stack.policy_dir
