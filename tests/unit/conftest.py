from __future__ import annotations

import pytest

from tests.harness import free_port


@pytest.fixture(scope="module")
def grpc_addr() -> str:
    # pytest-grpc's own fixture leaves its probe socket open (a ResourceWarning); this closes it.
    return f"127.0.0.1:{free_port()}"
