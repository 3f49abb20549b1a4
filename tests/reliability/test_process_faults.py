"""The service's process under faults, through real Envoy: killed under load, stopped with streams
open, its policy directory removed, and flooded with idle streams."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import psutil
import pytest

from ext_proc.cli import main
from ext_proc.config import DEFAULT_MAX_CONCURRENT_RPCS
from tests.harness import Stack, UpstreamServer, copy_policies, start_stack
from tests.reliability.conftest import eventually, metric, ready

pytestmark = pytest.mark.envoy

# Short, so that idle streams are ended within the test (the default is 600 s).
IDLE_SECONDS = 10
# What an idle ext_proc stream may hold in the service, its HTTP/2 connection from Envoy included
# (the cluster allows one stream per connection): twice what was measured.
STREAM_BYTES = 128 * 1024
TOKEN = "tok-reliability-7Qx2"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, upstream: UpstreamServer) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("process-faults")
    policies = copy_policies("default", workdir / "policies")
    (workdir / "tokens").write_text(f"olga {TOKEN}\n")
    sections = {
        "admin": {"token_file": str(workdir / "tokens")},
        "audit": {"file": {"path": str(workdir / "audit.log")}},
        # server.max_concurrent_rpcs is left at its default: that default is what bounds idle streams.
        "server": {"stream_idle_seconds": IDLE_SECONDS, "grace_period_seconds": 4},
    }
    yield from start_stack(workdir, policies, upstream, service_sections=sections)


def settled(read: Callable[[], float], timeout: float = 30) -> float:
    """The value once it stopped growing for a second (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        value = read()
        if value == last and value > 0:
            break
        last = value
    return last


def get(stack: Stack, path: str = "/echo/x", timeout: float = 5) -> int:
    try:
        with stack.client(timeout=timeout) as client:
            return client.get(path).status_code
    except httpx.HTTPError:
        return 0  # no answer at all


def restart(stack: Stack) -> None:
    stack.service.start()
    eventually(lambda: get(stack) == 200, timeout=20)


def test_killed_under_load_it_fails_closed_and_its_audit_chain_survives(stack: Stack) -> None:
    process = stack.service.process
    assert process is not None
    killed_at: list[float] = []
    after_kill: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status = get(stack, timeout=2)
            if killed_at and started > killed_at[0]:
                after_kill.append(status)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    killed_at.append(time.monotonic())
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    assert after_kill and 200 not in after_kill, "nothing passes while the service is down"
    restart(stack)
    report = verify(stack.service.workdir / "audit.log")
    assert "follows the segment before it" in report, "the new process continues the chain"


def verify(path: Path) -> str:
    output: list[str] = []
    with contextlib.redirect_stdout(_Lines(output)):
        status = main(["audit", "verify", str(path)])
    assert status == 0, "".join(output)
    return "".join(output)


class _Lines:
    def __init__(self, into: list[str]) -> None:
        self._into = into

    def write(self, text: str) -> int:
        self._into.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_sigterm_ends_an_open_stream_with_the_providers_error_event(stack: Stack, provider: str) -> None:
    """A long answer still streaming when the grace period nears its end gets the provider's error
    event, which its SDK raises as an API error (not a broken connection), before the process exits."""
    process = stack.service.process
    assert process is not None
    reply = " ".join(f"word{index}" for index in range(400))
    headers = {"x-demo-reply": reply, "x-demo-delay-ms": "40"}  # ~16 s of answer
    received: list[str] = []

    def stop_after_five_pieces(piece: str) -> None:
        received.append(piece)
        if len(received) == 5:
            process.send_signal(signal.SIGTERM)

    error: type[Exception] = openai.APIError if provider == "openai" else anthropic.APIError
    with pytest.raises(error) as raised:
        stream_answer(stack, provider, headers, stop_after_five_pieces)
    assert not isinstance(raised.value, openai.APIConnectionError | anthropic.APIConnectionError)
    assert "shutting down" in str(raised.value)
    assert "".join(received).startswith("word0")
    assert process.wait(timeout=10) == 0
    summary = stack.service.wait_for_event(lambda e: e.get("event") == "stream_summary")
    assert summary["stopped"]["reason"] == "shutting_down"
    restart(stack)


def stream_answer(stack: Stack, provider: str, headers: dict[str, str], each: Callable[[str], None]) -> None:
    """A streamed answer read with the provider's SDK, each piece of text handed to ``each``."""
    messages = [{"role": "user", "content": "hi"}]
    if provider == "openai":
        with openai.OpenAI(
            base_url=f"{stack.url}/v1", api_key="sk-none", default_headers=headers, max_retries=0, timeout=30
        ) as client:
            chunks = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)  # type: ignore[arg-type]
            for chunk in chunks:
                for choice in chunk.choices:
                    each(choice.delta.content or "")
        return
    with anthropic.Anthropic(
        base_url=stack.url, api_key="sk-none", default_headers=headers, max_retries=0, timeout=30
    ) as claude:
        events = claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=2000,
            messages=messages,
            stream=True,  # type: ignore[arg-type]
        )
        for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                each(event.delta.text)


@pytest.mark.parametrize("fault", ["directory removed", "policy does not compile"])
def test_a_policy_fault_keeps_the_last_policy_but_is_not_ready_and_says_why(stack: Stack, fault: str) -> None:
    admin = stack.service.admin_url
    backup = stack.policy_dir.with_name("policies.saved")
    shutil.copytree(stack.policy_dir, backup)
    if fault == "directory removed":
        shutil.rmtree(stack.policy_dir)
    else:
        (stack.policy_dir / "authz.rego").write_text("package envoy.authz\n\nallow if {\n")
    try:
        eventually(lambda: ready(admin) == 503, timeout=5)
        status = httpx.get(f"{admin}/api/policy", headers=AUTH, timeout=5).json()
        assert status["last_error"] and status["loaded"] and status["reload_errors"] >= 1
        if fault != "directory removed":
            assert "authz.rego" in status["last_error"]
        assert metric(admin, "chaperone_policy_reload_errors_total") >= 1
        assert get(stack) == 200 and get(stack, "/nowhere") == 403, "the last good policy answers"
    finally:
        shutil.rmtree(stack.policy_dir, ignore_errors=True)
        shutil.copytree(backup, stack.policy_dir)
        shutil.rmtree(backup)
    eventually(lambda: ready(admin) == 200, timeout=5)
    assert httpx.get(f"{admin}/api/policy", headers=AUTH, timeout=5).json()["last_error"] is None


def test_thousands_of_idle_streams_are_bounded_timed_out_and_let_go(stack: Stack) -> None:
    """Requests that send their headers and never their body each hold an ext_proc stream: at most
    the default server.max_concurrent_rpcs of them are held (the others are refused at once, and
    Envoy fails them closed), memory stays bounded, and the service ends the held ones after
    server.stream_idle_seconds although their clients never go away."""
    assert stack.service.process is not None
    service = psutil.Process(stack.service.process.pid)
    admin = stack.service.admin_url
    rss_before = service.memory_info().rss
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n"
    )
    sockets: list[socket.socket] = []
    try:
        for _ in range(2000):
            sock = socket.create_connection(("127.0.0.1", stack.envoy.listener_port))
            sock.sendall(head)
            sockets.append(sock)
        held = settled(lambda: metric(admin, "chaperone_ext_proc_streams_open"))
        assert 0 < held <= DEFAULT_MAX_CONCURRENT_RPCS
        grown = service.memory_info().rss - rss_before  # measured: ~66 KB per held stream
        assert grown < held * STREAM_BYTES, f"{grown / 1e6:.1f} MB for {held:.0f} idle streams"
        eventually(lambda: metric(admin, "chaperone_ext_proc_streams_open") == 0, timeout=IDLE_SECONDS + 30)
        answers = [_answer(sock) for sock in sockets]
        assert all(answer.startswith(b"HTTP/1.1 5") for answer in answers), {a[:12] for a in answers}
    finally:
        for sock in sockets:
            sock.close()
    assert get(stack) == 200
    timed_out = [e for e in stack.service.log_events() if e.get("event") == "stream_idle_timeout"]
    assert len(timed_out) >= held


def _answer(sock: socket.socket) -> bytes:
    """What the client got on this connection so far (Envoy's fail-closed answer)."""
    sock.settimeout(5)
    try:
        return sock.recv(200)
    except TimeoutError:
        return b""
