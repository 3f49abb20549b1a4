"""Attack: spending past a budget, and dropping the key to escape it, through real Envoy.

A budget reserves every text a call sends (not only the fields that are scanned) and its output
once per answer it asks for (``n``); with identity configured, a call without a key is refused,
and where the policy lets such calls through they share one agent's limits: dropping the key
never escapes a limit the key would meet.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from ext_proc.identity.api_keys import new_key
from tests.harness import UpstreamServer
from tests.security.conftest import Declared, start_declared
from tests.security.lenient_upstream import Recorder

pytestmark = pytest.mark.envoy

KEY = new_key()
BUDGET = 10_000


@pytest.fixture(scope="module")
def keyed(
    tmp_path_factory: pytest.TempPathFactory, lenient: UpstreamServer, recorder: Recorder
) -> Iterator[Declared]:
    workdir = tmp_path_factory.mktemp("security-keyed")
    keys = workdir / "keys.yaml"
    keys.write_text(f"bot: [sha256:{hashlib.sha256(KEY.encode()).hexdigest()}]\n")
    yield from start_declared(
        workdir,
        lenient,
        recorder,
        data={"agent_daily_tokens": BUDGET},
        sections={"identity": {"api_keys": {"file": str(keys)}}},
    )


def create(stack: Declared, key: str, **extra: Any) -> Any:
    client = openai.OpenAI(base_url=stack.url("openai") + "/v1", api_key=key, max_retries=0)
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], **extra
    )


def keyless(stack: Declared, **extra: Any) -> httpx.Response:
    """The same call with no credential at all (an SDK always sends one)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}
    return stack.post("openai", "/v1/chat/completions", json=body)


def allow_anonymous(stack: Declared, allowed: bool) -> None:
    """Change the policy data on disk; the service reloads it."""
    path = stack.service.config["policy"]["directory"] + "/data.yaml"
    with open(path) as file:
        document = yaml.safe_load(file)
    document["chaperone"]["allow_anonymous"] = allowed
    with open(path, "w") as file:
        yaml.safe_dump(document, file)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = httpx.get(stack.url("open") + "/health", timeout=5)
        if (probe.status_code == 200) == allowed:
            return
        time.sleep(0.2)
    raise AssertionError("the policy data was not reloaded")


def test_the_output_estimate_counts_every_answer_asked_for(keyed: Declared) -> None:
    mark = keyed.recorder.mark()
    with pytest.raises(openai.RateLimitError) as error:
        create(keyed, KEY, n=128, max_tokens=4096)
    assert isinstance(error.value.body, dict) and error.value.body.get("code") == "budget_exceeded"
    assert keyed.recorder.since(mark) == [], "refused at admission, before the upstream"


def test_text_outside_the_scanned_fields_is_counted(keyed: Declared) -> None:
    description = " ".join(["token"] * 12_000)  # ~12k tokens in a tool parameter's description
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {"type": "object", "properties": {"a": {"description": description}}},
            },
        }
    ]
    mark = keyed.recorder.mark()
    with pytest.raises(openai.RateLimitError):
        create(keyed, KEY, max_tokens=10, tools=tools)
    assert keyed.recorder.since(mark) == []


def test_a_small_call_with_the_key_is_admitted(keyed: Declared) -> None:
    mark = keyed.recorder.mark()
    try:
        create(keyed, KEY, max_tokens=10)
    except openai.APIStatusError as error:  # what comes back is the response side's
        assert error.status_code != 429
    assert len(keyed.recorder.since(mark)) == 1


def test_without_a_key_the_call_is_refused_where_identity_is_configured(keyed: Declared) -> None:
    mark = keyed.recorder.mark()
    assert keyless(keyed, max_tokens=10).status_code == 401
    assert keyed.recorder.since(mark) == []


def test_dropping_the_key_never_escapes_the_budget(keyed: Declared) -> None:
    allow_anonymous(keyed, True)
    try:
        mark = keyed.recorder.mark()
        refused = keyless(keyed, n=128, max_tokens=4096)
        assert refused.status_code == 429
        assert refused.json()["error"]["limit"] == "agent-daily-tokens"
        assert keyed.recorder.since(mark) == []
        assert len(keyed.recorder.since(mark)) == 0
        admitted = keyless(keyed, max_tokens=10)
        assert admitted.status_code != 401 and len(keyed.recorder.since(mark)) == 1
    finally:
        allow_anonymous(keyed, False)
