"""Attack: a JSON-RPC batch that smuggles refused calls between allowed ones, through real Envoy.

Each call of a batch is decided on its own (tool allow-list, approval, pinned arguments, kill
switch); one refused call refuses the whole batch, and the upstream, which executes every call
of a batch it receives, receives nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.security.conftest import ADMIN_TOKEN, Declared

pytestmark = pytest.mark.envoy


def call(call_id: int, tool: str, **arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


def send(stack: Declared, body: Any, listener: str = "mcp", **headers: str) -> httpx.Response:
    return stack.post(
        listener, "/mcp", content=orjson.dumps(body), headers={"content-type": "application/json", **headers}
    )


@pytest.mark.parametrize("listener", ["mcp", "open"])
def test_a_batch_with_a_refused_call_is_refused_whole(declared: Declared, listener: str) -> None:
    batch = [
        call(1, "get_customer", id=1),
        call(2, "delete_user", user="u"),
        call(3, "run_query", sql="drop"),
    ]
    mark = declared.recorder.mark()
    response = send(declared, batch, listener)
    assert response.status_code == 200
    answers = {answer["id"]: answer for answer in response.json()}
    assert set(answers) == {1, 2, 3}, "every request of the batch is answered"
    assert all("error" in answer for answer in answers.values())
    assert "delete_user" in answers[2]["error"]["message"]
    assert answers[1]["error"]["message"].startswith("not executed")
    assert declared.recorder.since(mark) == [], "the upstream executes batches: it must get none"


def test_each_call_of_a_batch_gets_its_own_rewrite(declared: Declared) -> None:
    batch = [call(1, "get_customer", id=1), call(2, "run_query", sql="select 1")]
    mark = declared.recorder.mark()
    response = send(declared, batch)
    assert response.status_code == 200, response.text
    assert [answer["id"] for answer in response.json()] == [1, 2]
    (received,) = declared.recorder.since(mark)
    forwarded = received.json()
    assert forwarded[0]["params"]["arguments"] == {"id": 1}, "pinned only where its decision pins"
    assert forwarded[1]["params"]["arguments"] == {"sql": "select 1", "dry_run": True}


def test_a_call_that_needs_approval_is_held_inside_a_batch(declared: Declared) -> None:
    batch = [call(1, "get_customer", id=1), call(2, "refund_payment", amount=900)]
    mark = declared.recorder.mark()
    response = send(declared, batch)
    answers = response.json()
    assert isinstance(answers, list) and all(
        answer["error"]["data"]["code"] == "approval_required" for answer in answers
    )
    assert declared.recorder.since(mark) == []


def test_a_kill_switch_on_one_tool_refuses_a_batch_that_calls_it(declared: Declared) -> None:
    admin = declared.service.admin_url
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    engage = {"scope": "tool", "target": "get_customer", "reason": "test"}
    assert httpx.post(f"{admin}/api/kill-switch", headers=auth, json=engage, timeout=10).status_code in (
        200,
        201,
    )
    try:
        mark = declared.recorder.mark()
        response = send(declared, [call(1, "run_query", sql="x"), call(2, "get_customer", id=1)])
        assert all(answer["error"]["data"]["code"] == "kill_switch" for answer in response.json())
        assert declared.recorder.since(mark) == []
    finally:
        httpx.delete(f"{admin}/api/kill-switch?scope=tool&target=get_customer", headers=auth, timeout=10)


def test_a_batch_where_the_protocol_has_none_is_refused(declared: Declared) -> None:
    mark = declared.recorder.mark()
    mcp = send(declared, [call(1, "get_customer", id=1)], **{"mcp-protocol-version": "2025-06-18"})
    a2a = declared.post(
        "a2a",
        "/a2a",
        content=orjson.dumps([{"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "t"}}]),
    )
    assert mcp.status_code == 400 and mcp.json()["error"]["data"]["code"] == "jsonrpc_invalid"
    assert a2a.status_code == 400 and a2a.json()["error"]["data"]["code"] == "jsonrpc_invalid"
    assert declared.recorder.since(mark) == []
