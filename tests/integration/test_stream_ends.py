"""How Envoy ends the service's gRPC streams: never with a reset.

Envoy ends an ext_proc stream whose HTTP request is over with a reset unless its runtime asks for
a graceful close (``envoy_bootstrap/bootstrap.py``, RUNTIME); on each reset grpc.aio leaks the
native memory of the batches that fail (grpc/grpc#43360): ~14 MB per 100,000 requests of the
soak's mix, without end. Counted rather than measured: every stream the soak's requests open
(LLM calls JSON and streamed, MCP, A2A, refusals, malformed bodies) must end with the service's
status, which Envoy's ``upstream_rq_tx_reset`` counter of the service's cluster shows.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ext_proc.demo.upstream import create_app
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.soak.mix import mixed_requests

RESETS = "cluster.chaperone.upstream_rq_tx_reset"
STARTED = "http.upstream.ext_proc.streams_started"
ROUNDS = 3


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shipped policies in front of the demo upstream (LLM, MCP and A2A answers), as in make soak."""
    upstream = UpstreamServer(create_app()).start()
    workdir = tmp_path_factory.mktemp("stream-ends")
    try:
        yield from start_stack(workdir, copy_policies("default", workdir / "policies"), upstream)
    finally:
        upstream.stop()


def test_no_grpc_stream_of_the_soak_mix_is_reset(demo_stack: Stack) -> None:
    statuses = set()
    with demo_stack.client() as client:
        for number in range(ROUNDS):
            for method, path, headers, body in mixed_requests(number):
                statuses.add(client.request(method, path, headers=headers, content=body).status_code)
    assert {200, 400, 403} <= statuses  # the mix went through: allowed, malformed, refused
    started = demo_stack.envoy.stats("http.upstream.ext_proc").get(
        "http.upstream.ext_proc.streams_started", 0
    )
    assert started >= ROUNDS * 8  # ext_proc streams were opened (one per request it inspects)
    assert demo_stack.envoy.stats(RESETS).get(RESETS, 0) == 0


def test_the_soak_mix_is_read_from_its_wrk_script() -> None:
    requests = mixed_requests(7)
    assert len(requests) == 12
    assert ("POST", "/mcp") in {(method, path) for method, path, _, _ in requests}
    assert all(b"SEQ" not in (body or b"") for _, _, _, body in requests)
    assert any(b"7" in (body or b"") for _, path, _, body in requests if path == "/a2a")
    assert httpx.Headers(requests[7][2])["accept"] == "application/json, text/event-stream"
