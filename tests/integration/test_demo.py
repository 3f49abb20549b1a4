"""`make run`'s orchestrator: the README's requests answer as the README says, and Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest

from tests.harness import ROOT, free_port

A2A_SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "message/send",
    "params": {
        "message": {"role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "order 7"}]}
    },
}


@pytest.fixture
def demo() -> Iterator[tuple[subprocess.Popen[bytes], str, str, str]]:
    ports = {name: free_port() for name in ("listener", "service", "upstream", "admin", "chaperone-admin")}
    args = [f"--{name}-port={port}" for name, port in ports.items()]
    process = subprocess.Popen(
        [sys.executable, "-m", "ext_proc.demo.run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("CHAPERONE_")},
        start_new_session=True,
    )
    assert process.stdout is not None
    output = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        output.append(line)
        if "Ctrl-C stops everything" in line or not line:
            break
    text = "".join(output)
    assert "Chaperone is running." in text, text
    token = re.search(r"\(token: (\S+)\)", text)
    assert token is not None, text
    token_file = re.search(r"Operator token +(\S+)", text)
    assert token_file is not None and token[1] in Path(token_file[1]).read_text(), text
    yield (
        process,
        f"http://127.0.0.1:{ports['listener']}",
        f"http://127.0.0.1:{ports['chaperone-admin']}",
        token[1],
    )
    if process.poll() is None:
        process.kill()
    process.stdout.close()


def test_make_run_answers_the_readme_examples_and_stops_on_ctrl_c(
    demo: tuple[subprocess.Popen[bytes], str, str, str],
) -> None:
    process, url, admin, token = demo
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 3
    with httpx.Client(base_url=url, timeout=10) as client:
        allowed = client.get("/echo/hello")
        denied = client.delete("/echo/hello")
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        model = client.post("/v1/chat/completions", json={"model": "gpt-5-ultra", "messages": []})
        a2a = client.post("/a2a", json=A2A_SEND)
        with client.stream(
            "POST", "/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True, "messages": []}
        ) as stream:
            events = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert allowed.status_code == 200
    assert allowed.json()["headers"]["x-chaperone-policy"] == "default"
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "denied"
    assert denied.json()["error"]["reasons"] == _readme_denial()["error"]["reasons"]
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"].endswith(
        "You said: hi"
    )
    assert model.status_code == 403 and model.json()["error"]["message"] == _readme_model_refusal()
    assert events[-1] == "data: [DONE]" and len(events) > 5
    assert a2a.status_code == 200, a2a.text
    answer = a2a.json()["result"]["artifacts"][0]["parts"][0]["text"]
    assert answer.startswith("Done.") and "grace.hopper@example.com" not in answer
    _a_large_refund_waits_for_the_console(url, admin, token)

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
    assert process.wait(timeout=30) == 0
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def _readme_denial() -> Any:
    """The README's answer to `curl -X DELETE .../echo/hello`, as it shows it."""
    readme = (ROOT / "README.md").read_text()
    return orjson.loads(
        next(line for line in readme.splitlines() if line.startswith('{"error":{"code":"denied"'))
    )


def _readme_model_refusal() -> str:
    """The message of the README's refusal of a model outside the allow-list."""
    found = re.search(
        r'\{"error":\{"message":"((?:[^"\\]|\\.)*)","type":"chaperone_policy"',
        (ROOT / "README.md").read_text(),
    )
    assert found is not None, "the README shows the refusal of gpt-5-ultra"
    return str(orjson.loads(f'"{found[1]}"'))


def _a_large_refund_waits_for_the_console(url: str, admin: str, token: str) -> None:
    """The README's tool call: held until an operator approves it with the printed token."""
    arguments = {"order_id": "o-1", "amount": 900}
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "refund_payment", "arguments": arguments},
    }
    headers = {"accept": "application/json, text/event-stream"}
    answer: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: answer.setdefault(
            "r", httpx.post(f"{url}/mcp", json=call, headers=headers, timeout=30)
        )
    )
    thread.start()
    auth = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 10
    while not (
        pending := httpx.get(f"{admin}/api/approvals?status=pending", headers=auth).json()["approvals"]
    ):
        assert time.monotonic() < deadline, "the refund was not held for approval"
        time.sleep(0.05)
    assert pending[0]["reason"] == "refund_payment of 900 is above 500" and pending[0]["group"] == "finance"
    assert (
        httpx.post(f"{admin}/api/approvals/{pending[0]['id']}/approve", headers=auth, json={}).status_code
        == 200
    )
    thread.join(15)
    result = answer["r"].json()["result"]
    assert result["content"][0]["text"].startswith("demo: refund_payment done")


def test_a_kill_of_make_run_alone_stops_what_it_started(
    demo: tuple[subprocess.Popen[bytes], str, str, str],
) -> None:
    """A process manager or `timeout` signals the orchestrator only, not its process group."""
    process = demo[0]
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
