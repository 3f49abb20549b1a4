"""Session facts a policy sees: history, new tools and upstreams, marked facts, bounds and expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ext_proc.sessions import Fact, Kind, SessionTracker, record_of
from tests.clock import FakeClock
from tests.unit.sessions.conftest import TrackerFactory

AGENT = "spiffe://example.org/agent/support-bot"


def tool_call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {
        "protocol": "mcp", "kind": "request", "method": "tools/call", "id": 1, "session_id": "m-1",
        "batch": False, "params": {"name": tool, "arguments": arguments}, "tool": tool,
        "arguments": arguments, "listing": False,
    }  # fmt: skip


LLM = {"protocol": "llm", "provider": "openai.chat", "model": "gpt-4o-mini", "messages": [{"text": "hi"}]}


async def test_the_first_action_of_a_session(tracker: SessionTracker, clock: FakeClock) -> None:
    facts = await tracker.observe(AGENT, "m-1", tool_call("lookup_customer", id=42), "crm")
    assert facts.as_input() == {
        "id": "m-1",
        "count": 0,
        "actions": [],
        "new_tool": True,
        "new_upstream": True,
        "tools_seen": [],
        "upstreams_seen": [],
        "read_sensitive_data": False,
        "received_injection": False,
    }


async def test_earlier_actions_names_only(tracker: SessionTracker, clock: FakeClock) -> None:
    await tracker.observe(AGENT, "m-1", tool_call("lookup_customer", email="ada@example.com"), "crm")
    clock.advance(2)
    await tracker.observe(AGENT, "m-1", LLM, "openai")
    clock.advance(2)
    facts = await tracker.observe(AGENT, "m-1", tool_call("send_email"), "mail")
    session = facts.as_input()
    assert session["count"] == 2
    assert session["actions"] == [
        {"kind": "tool_call", "protocol": "mcp", "method": "tools/call", "tool": "lookup_customer",
         "model": None, "upstream": "crm", "at": clock.now - 4},
        {"kind": "llm_call", "protocol": "llm", "method": None, "tool": None, "model": "gpt-4o-mini",
         "upstream": "openai", "at": clock.now - 2},
    ]  # fmt: skip
    assert session["tools_seen"] == ["lookup_customer"] and session["upstreams_seen"] == ["crm", "openai"]
    assert session["new_tool"] and session["new_upstream"]
    assert "ada@example.com" not in str(session)


async def test_a_tool_used_before_is_not_new(tracker: SessionTracker) -> None:
    await tracker.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    facts = await tracker.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    assert not facts.new_tool and not facts.new_upstream
    assert facts.tools_seen == ("lookup_customer",)


async def test_tools_seen_belong_to_the_agent_across_sessions(tracker: SessionTracker) -> None:
    await tracker.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    other_session = await tracker.observe(AGENT, "m-2", tool_call("lookup_customer"), "crm")
    assert other_session.count == 0 and other_session.actions == ()
    assert not other_session.new_tool and not other_session.new_upstream
    other_agent = await tracker.observe("agent-2", "m-1", tool_call("lookup_customer"), "crm")
    assert other_agent.new_tool and other_agent.count == 0  # another agent's "m-1" is not this one's


async def test_history_is_bounded(make_tracker: TrackerFactory, clock: FakeClock) -> None:
    tracker = make_tracker(history=3)
    for index in range(6):
        facts = await tracker.observe(AGENT, "m-1", tool_call(f"tool_{index}"), "crm")
        clock.advance(1)
    assert facts.count == 5
    assert [action.tool for action in facts.actions] == ["tool_2", "tool_3", "tool_4"]


async def test_remembered_tools_are_bounded_least_recently_used_first(
    make_tracker: TrackerFactory, clock: FakeClock
) -> None:
    tracker = make_tracker(max_remembered=2)
    for tool in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" comes
        await tracker.observe(AGENT, "m-1", tool_call(tool), None)
        clock.advance(1)
    facts = await tracker.observe(AGENT, "m-1", tool_call("b"), None)
    assert facts.tools_seen == ("a", "c") and facts.new_tool


async def test_an_idle_session_ends_and_the_next_action_starts_a_new_one(
    tracker: SessionTracker, clock: FakeClock
) -> None:
    first = await tracker.observe(AGENT, None, tool_call("lookup_customer"), "crm")
    clock.advance(1000)
    same = await tracker.observe(AGENT, None, LLM, "openai")
    assert same.id == first.id and same.id.startswith("ses_") and same.count == 1
    await tracker.mark(same.key, Fact.READ_SENSITIVE_DATA)
    clock.advance(1801)  # longer than idle_seconds without an action
    fresh = await tracker.observe(AGENT, None, LLM, "openai")
    assert fresh.id != first.id and fresh.count == 0 and fresh.actions == ()
    assert fresh.facts == frozenset()
    assert not fresh.new_tool and not fresh.new_upstream  # the agent's memory outlives its sessions


async def test_the_agents_memory_forgets_after_its_period(
    make_tracker: TrackerFactory, clock: FakeClock
) -> None:
    tracker = make_tracker(agent_memory_seconds=3600)
    await tracker.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    clock.advance(1800)
    assert not (await tracker.observe(AGENT, "m-1", tool_call("x"), "crm")).new_upstream
    clock.advance(3601)  # lookup_customer last used 5401 s ago, crm 3601 s ago
    facts = await tracker.observe(AGENT, "m-2", tool_call("lookup_customer"), "crm")
    assert facts.new_tool and facts.new_upstream and facts.tools_seen == ()


async def test_a_read_of_sensitive_data_is_remembered_for_the_session(tracker: SessionTracker) -> None:
    read = await tracker.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    assert not read.as_input()["read_sensitive_data"]
    await tracker.mark(read.key, Fact.READ_SENSITIVE_DATA)  # its answer carried findings
    outbound = await tracker.observe(AGENT, "m-1", {"protocol": "http", "method": "POST"}, "pastebin")
    session = outbound.as_input()
    # The case a policy refuses: a new outbound host after a read of customer data.
    assert session["read_sensitive_data"] and session["new_upstream"] and not session["received_injection"]
    elsewhere = await tracker.observe(AGENT, "m-2", LLM, "openai")
    assert not elsewhere.as_input()["read_sensitive_data"]


async def test_marking_an_ended_session_is_ignored(tracker: SessionTracker, clock: FakeClock) -> None:
    facts = await tracker.observe(AGENT, None, LLM, "openai")
    clock.advance(1801)
    await tracker.mark(facts.key, Fact.RECEIVED_INJECTION)
    assert not (await tracker.observe(AGENT, None, LLM, "openai")).facts


@pytest.mark.parametrize("make_tracker", ["redis"], indirect=True)
async def test_replicas_share_a_session(make_tracker: TrackerFactory) -> None:
    replica_a, replica_b = make_tracker(), make_tracker()
    first = await replica_a.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    await replica_a.mark(first.key, Fact.READ_SENSITIVE_DATA)
    second = await replica_b.observe(AGENT, "m-1", tool_call("lookup_customer"), "crm")
    assert second.count == 1 and not second.new_tool and Fact.READ_SENSITIVE_DATA in second.facts


async def test_concurrent_actions_are_all_recorded(tracker: SessionTracker) -> None:
    results = await asyncio.gather(*(tracker.observe(AGENT, "m-1", tool_call("t"), "crm") for _ in range(5)))
    assert sorted(facts.count for facts in results) == [0, 1, 2, 3, 4]
    assert sum(facts.new_tool for facts in results) == 1


def test_records_hold_names_only() -> None:
    record = record_of(tool_call("refund", amount=900, card="4111 1111 1111 1111"), "payments", 5.0)
    assert record.as_json() == {
        "kind": "tool_call", "protocol": "mcp", "method": "tools/call", "tool": "refund", "model": None,
        "upstream": "payments", "at": 5.0,
    }  # fmt: skip
    assert record_of(None, None, 1.0).kind is Kind.HTTP
    assert record_of({"protocol": "mcp", "method": "tools/list"}, None, 1.0).kind is Kind.MCP
    listing = {**tool_call("refund"), "listing": True}
    assert record_of(listing, None, 1.0).kind is Kind.MCP and record_of(listing, None, 1.0).tool is None
    assert record_of({"protocol": "a2a", "method": "message/send"}, "peer", 1.0).kind is Kind.A2A
    assert (
        record_of({"protocol": "mcp", "method": "tools/call", "tool": "x" * 1000}, None, 1).tool == "x" * 128
    )


@pytest.mark.parametrize("make_tracker", ["memory"], indirect=True)
async def test_memory_holds_at_most_max_sessions(make_tracker: TrackerFactory, clock: FakeClock) -> None:
    tracker = make_tracker(max_sessions=2)
    for session in ("m-1", "m-2", "m-3"):  # m-1, the least recently used, is dropped
        await tracker.observe(AGENT, session, LLM, "openai")
    assert (await tracker.observe(AGENT, "m-3", LLM, "openai")).count == 1
    assert (await tracker.observe(AGENT, "m-1", LLM, "openai")).count == 0
