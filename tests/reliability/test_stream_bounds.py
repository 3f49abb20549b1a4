"""What one stream can make the service hold, with the default configuration, through real Envoy.

A hostile upstream streams an event that never ends; a client sends a body above
``inspection.max_body_bytes``. Each is refused at its bound (the stream ends with the provider's
error event; 413), the service's memory grows by about that bound and no more, and nothing stays
open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import orjson
import psutil
import pytest

from ext_proc.config import DEFAULT_MAX_BODY_BYTES
from ext_proc.protocols.sse import DEFAULT_MAX_EVENT_BYTES
from tests.harness import Stack, copy_policies, start_stack
from tests.reliability.conftest import eventually, metric
from tests.security.hostile import Answer, HostileUpstream, fixed

pytestmark = pytest.mark.envoy

CHAT = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
PIECE = 64 * 1024


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, hostile: HostileUpstream) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stream-bounds")
    yield from start_stack(workdir, copy_policies("default", workdir / "policies"), hostile)  # type: ignore[arg-type]


def rss(stack: Stack) -> int:
    assert stack.service.process is not None
    return int(psutil.Process(stack.service.process.pid).memory_info().rss)


@contextlib.contextmanager
def peak_rss(stack: Stack) -> Iterator[list[int]]:
    """The service's largest resident size while the block runs (sampled every 10 ms)."""
    peak = [rss(stack)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], rss(stack))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def test_an_event_that_never_ends_is_cut_at_the_event_bound(stack: Stack, hostile: HostileUpstream) -> None:
    first = b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[]}\n\n'
    endless = b'data: {"pad":"' + b"a" * (PIECE - 15)
    pieces = (first, endless, *(b"a" * PIECE for _ in range(DEFAULT_MAX_EVENT_BYTES // PIECE + 16)))
    headers = hostile.script(
        "endless-event", fixed(Answer(200, (("content-type", "text/event-stream"),), pieces, pause=0.001))
    )
    before = rss(stack)
    with (
        peak_rss(stack) as peak,
        stack.client(timeout=60) as client,
        client.stream("POST", "/v1/chat/completions", json=CHAT, headers=headers) as response,
    ):
        received = response.read()
    grown = peak[0] - before
    assert response.status_code == 200 and len(received) < PIECE, "the unfinished event was held back"
    last = orjson.loads(received.rstrip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "body_too_large"
    assert grown < 4 * DEFAULT_MAX_EVENT_BYTES, f"{grown / 1e6:.1f} MB held for one stream"
    eventually(lambda: metric(stack.service.admin_url, "chaperone_ext_proc_streams_open") == 0)


def test_a_request_body_above_the_body_bound_is_413(stack: Stack) -> None:
    padding = "x" * (DEFAULT_MAX_BODY_BYTES + 1024)
    body = {**CHAT, "stream": False, "messages": [{"role": "user", "content": padding}]}
    with stack.client(timeout=30) as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "body_too_large"
