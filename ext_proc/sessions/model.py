"""What came before in an agent's session: the records and the facts the policy sees.

``input.session`` (policies/README.md, "Sessions")::

    {"id": "<Mcp-Session-Id>" or "ses_...", "count": 7,
     "actions": [{"kind": "tool_call", "protocol": "mcp", "method": "tools/call",
                  "tool": "lookup_customer", "model": null, "upstream": "crm", "at": 1780000000.5}, ...],
     "new_tool": true, "new_upstream": false,
     "tools_seen": ["lookup_customer"], "upstreams_seen": ["crm", "openai"],
     "read_sensitive_data": true, "received_injection": false}

``actions`` are the earlier actions of the session (oldest first, the last ``sessions.history``),
``count`` how many came before this one; ``new_tool`` and ``new_upstream`` say whether this
action's tool or upstream is one the agent has not used before (in ``sessions.agent_memory_seconds``),
and ``tools_seen`` / ``upstreams_seen`` list those it has. The facts are false until the gateway
marks them on the session (an earlier response carried sensitive data, or injection signals).
A record holds names only: never arguments, messages or results.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Names from the traffic are bounded: a long one is cut, so an agent cannot bloat the state.
MAX_NAME_LENGTH = 128


class Fact(enum.StrEnum):
    READ_SENSITIVE_DATA = "read_sensitive_data"  # an earlier answer carried sensitive-data findings
    RECEIVED_INJECTION = "received_injection"  # an earlier answer carried prompt-injection signals


class Kind(enum.StrEnum):
    LLM_CALL = "llm_call"
    TOOL_CALL = "tool_call"  # MCP tools/call
    MCP = "mcp"  # any other MCP message (tools/list, resources/read, initialize...)
    A2A = "a2a"
    HTTP = "http"  # a request that is no recognized protocol


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Whose session: the agent, and the transport's session id when there is one."""

    agent: str | None
    session: str | None


@dataclass(frozen=True, slots=True)
class ActionRecord:
    kind: Kind
    protocol: str | None
    method: str | None
    tool: str | None
    model: str | None
    upstream: str | None
    at: float  # seconds since the epoch

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "protocol": self.protocol,
            "method": self.method,
            "tool": self.tool,
            "model": self.model,
            "upstream": self.upstream,
            "at": self.at,
        }

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> ActionRecord:
        return ActionRecord(
            kind=Kind(value["kind"]),
            protocol=value["protocol"],
            method=value["method"],
            tool=value["tool"],
            model=value["model"],
            upstream=value["upstream"],
            at=value["at"],
        )


@dataclass(frozen=True, slots=True)
class SessionFacts:
    key: SessionKey  # for ``SessionTracker.mark``
    id: str
    count: int
    actions: tuple[ActionRecord, ...]
    new_tool: bool
    new_upstream: bool
    tools_seen: tuple[str, ...]
    upstreams_seen: tuple[str, ...]
    facts: frozenset[Fact]

    def as_input(self) -> dict[str, Any]:
        """The ``input.session`` document."""
        document: dict[str, Any] = {
            "id": self.id,
            "count": self.count,
            "actions": [action.as_json() for action in self.actions],
            "new_tool": self.new_tool,
            "new_upstream": self.new_upstream,
            "tools_seen": list(self.tools_seen),
            "upstreams_seen": list(self.upstreams_seen),
        }
        # Every fact is present, true or false: a policy needs no guard for a missing key.
        document.update({fact.value: fact in self.facts for fact in Fact})
        return document


def record_of(action: Mapping[str, Any] | None, upstream: str | None, now: float) -> ActionRecord:
    """The names of an ``input.action`` document (LLM, MCP or A2A), as a session record."""
    action = action or {}
    protocol = _name(action.get("protocol"))
    method = _name(action.get("method"))
    tool = model = None
    if protocol == "llm":
        kind, model = Kind.LLM_CALL, _name(action.get("model"))
    elif protocol == "mcp" and method == "tools/call" and not action.get("listing"):
        kind, tool = Kind.TOOL_CALL, _name(action.get("tool"))
    elif protocol == "mcp":
        kind = Kind.MCP
    elif protocol == "a2a":
        kind = Kind.A2A
    else:
        kind = Kind.HTTP
    return ActionRecord(kind, protocol, method, tool, model, _name(upstream), now)


def _name(value: Any) -> str | None:
    return value[:MAX_NAME_LENGTH] if isinstance(value, str) and value else None
